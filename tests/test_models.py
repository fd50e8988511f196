"""The IMDN family: parameter counts equal the official ones, shapes, and the fp32 CCA."""

import pytest
import torch
import torch.nn.functional as F
from conftest import shared_path

from vsr.errors import VsrError
from vsr.models import create_model
from vsr.models.blocks import (
    ContrastChannelAttention,
    fold_channel_attention,
    gated_pointwise_conv,
)

OFFICIAL_PARAMETERS = [
    ("imdn", 2, 694_404),
    ("imdn", 3, 703_059),
    ("imdn", 4, 715_176),
    ("imdn_as", 1, 752_104),
    ("imdn_rtc", 2, 20_190),
    ("imdn_rte", 2, 89_748),
]


@pytest.mark.parametrize(("arch", "scale", "count"), OFFICIAL_PARAMETERS)
def test_parameter_counts_equal_official(arch, scale, count):
    model = create_model(arch, scale)
    assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize(("arch", "scale", "count"), OFFICIAL_PARAMETERS)
def test_output_shape_and_attributes(arch, scale, count):
    model = create_model(arch, scale).eval()
    x = torch.rand(2, 3, 12, 16)
    with torch.no_grad():
        y = model(x)
    assert model.arch == arch and model.scale == scale
    assert 12 % model.input_multiple == 0 and 16 % model.input_multiple == 0
    assert y.shape == (2, 3, 12 * scale, 16 * scale)


def test_cca_matches_definition():
    """Gate = sigmoid(up(relu(down(std + mean)))) per channel, population std."""
    torch.manual_seed(0)
    cca = ContrastChannelAttention(32).eval()
    x = torch.randn(2, 32, 9, 7) * 3 + 1
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True).sqrt()
    expected = x * cca.conv_du(std + mean)
    torch.testing.assert_close(cca(x), expected, rtol=1e-5, atol=1e-6)


def test_cca_s_contrast_is_the_population_deviation_plus_the_mean():
    """IMDN's CCA divides by the pixel count, not one less: the gate's own layers, left out
    here, hid a sample deviation from the test above (its few hidden units all at 0). A
    1x1 input then has contrast 0 + its value, where the sample deviation is NaN."""
    cca = ContrastChannelAttention(32).eval()
    cca.conv_du = torch.nn.Identity()  # the gate is then the contrast itself
    torch.manual_seed(0)
    x = torch.randn(2, 32, 9, 7) * 3 + 1
    mean = x.mean(dim=(2, 3), keepdim=True)
    deviation = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True).sqrt()
    torch.testing.assert_close(cca.gate(x), deviation + mean, rtol=1e-5, atol=1e-6)
    one_pixel = torch.randn(1, 32, 1, 1)
    torch.testing.assert_close(cca.gate(one_pixel), one_pixel)


def test_cca_does_not_overflow_in_half_precision():
    """Squared deviations summed over a frame exceed float16's range; the gate must not."""
    cca = ContrastChannelAttention(16).eval()
    x = torch.full((1, 16, 256, 256), 40.0)
    x[..., ::2, :] = -40.0  # std 40: the sum of squares is 1600 * 65536, far beyond 65504
    with torch.no_grad():
        reference = cca(x)
        half = cca.to(torch.float16)(x.to(torch.float16))  # bf16 cannot overflow here
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), reference, rtol=0.02, atol=0.5)


def test_cca_s_deviation_beyond_256_does_not_overflow_in_half_precision():
    """A variance beyond 65504 is no float16 number even where its sum was reduced in
    float32: var_mean's inf made the gate and the frame NaN (a 1-pixel checkerboard through
    the official IMDN_x4 weights: channels deviating by thousands)."""
    cca = ContrastChannelAttention(16).eval()
    x = torch.full((1, 16, 8, 8), 3000.0)
    x[..., ::2] = -1000.0  # deviation 2000: a variance of 4,000,000
    with torch.no_grad():
        reference = cca.gate(x)
        half = cca.to(torch.float16).gate(x.to(torch.float16))
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), reference, rtol=0.01, atol=0.002)


def test_unknown_architecture_is_a_user_error():
    with pytest.raises(VsrError, match="unknown model"):
        create_model("edsr")


@pytest.mark.parametrize("scale", [2.0, "2", True, 0])
def test_a_scale_that_is_not_a_whole_number_is_a_user_error(scale):
    with pytest.raises(VsrError, match="scale must be a positive integer"):
        create_model("imdn", scale)


def test_imdn_rte_refuses_odd_sides_instead_of_a_wrong_output_size():
    model = create_model("imdn_rte", 2).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 22, 24)).shape[-2:] == (44, 48)
        with pytest.raises(ValueError, match=r"even input sides, got \(21, 23\)"):
            model(torch.rand(1, 3, 21, 23))


@pytest.mark.parametrize("channels_last", [False, True])
def test_gated_pointwise_conv_is_the_conv_of_the_gated_maps(channels_last):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 12, 1)
    x = torch.randn(3, 16, 5, 7)
    gate = torch.rand(3, 16, 1, 1)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = conv(x * gate)
    folded = gated_pointwise_conv(x, gate, conv)
    assert folded.shape == expected.shape
    assert folded.is_contiguous(memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(folded, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("arch", "blocks"), [("imdn", 6), ("imdn_as", 6), ("imdn_rtc", 0)])
def test_folding_the_attention_keeps_the_network_output(arch, blocks):
    torch.manual_seed(0)
    model = create_model(arch).eval()
    x = torch.rand(2, 3, 16, 20)
    with torch.no_grad():
        reference = model(x)
        assert fold_channel_attention(model) == blocks  # RTC's blocks have no attention
        torch.testing.assert_close(model(x), reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("file", "arch", "scale"),
    [("IMDN_x2.pth", "imdn", 2), ("IMDN_x3.pth", "imdn", 3), ("IMDN_x4.pth", "imdn", 4),
     ("IMDN_AS.pth", "imdn_as", 1), ("model_RTC.pth", "imdn_rtc", 2),
     ("model_RTE.pth", "imdn_rte", 2)],
)  # fmt: skip
def test_parameter_counts_equal_those_of_the_official_files(file, arch, scale):
    from vsr.models import create_model

    state = torch.load(
        shared_path("imdn-official", "checkpoints", file), map_location="cpu", weights_only=True
    )
    official = sum(t.numel() for k, t in state.items() if "running_" not in k)
    assert sum(p.numel() for p in create_model(arch, scale).parameters()) == official


# The networks written out again from the paper (Hui et al. 2019, Figs. 2-3) and the official
# code, in plain functional calls on the module's own weights: without ../shared nothing
# else pins what the modules compute (a dropped residual or a wrong slope kept every shape).


def _conv(x, p, name, stride=1):
    weight = p[f"{name}.weight"]
    return F.conv2d(x, weight, p.get(f"{name}.bias"), stride, weight.shape[-1] // 2)


def _imdb(x, p, name, attention=True):
    """Three distillation steps (LeakyReLU 0.05, a quarter kept), a fourth conv without
    activation, contrast-aware channel attention, a 1x1 fusion and the block's residual."""
    d = x.shape[1] // 4
    kept = []
    rest = x
    for i in (1, 2, 3):
        out = F.leaky_relu(_conv(rest, p, f"{name}.c{i}"), 0.05)
        kept.append(out[:, :d])
        rest = out[:, d:]
    fused = torch.cat([*kept, _conv(rest, p, f"{name}.c4")], dim=1)
    if attention:
        mean = fused.mean(dim=(2, 3), keepdim=True)
        contrast = ((fused - mean) ** 2).mean(dim=(2, 3), keepdim=True).sqrt() + mean
        hidden = F.relu(_conv(contrast, p, f"{name}.cca.conv_du.0"))
        fused = fused * torch.sigmoid(_conv(hidden, p, f"{name}.cca.conv_du.2"))
    return _conv(fused, p, f"{name}.c5") + x


def _large_imdb(x, p, name):
    """IMDN_RTE's block: five ReLU steps each keeping a quarter, a sixth conv on the last
    quarter, a 1x1 fusion of the six, the block's residual."""
    d = x.shape[1] // 4
    kept = []
    rest = x
    for i in (1, 2, 3, 4, 5):
        out = F.relu(_conv(rest, p, f"{name}.c{i}"))
        kept.append(out[:, :d])
        rest = out[:, d:]
    kept.append(F.relu(_conv(rest, p, f"{name}.c6")))
    return _conv(torch.cat(kept, dim=1), p, f"{name}.c7") + x


def _imdn_reference(x, p, scale, blocks):
    shallow = _conv(x, p, "fea_conv")
    outputs = [shallow]
    for i in range(1, blocks + 1):
        outputs.append(_imdb(outputs[-1], p, f"IMDB{i}"))
    fused = F.leaky_relu(_conv(torch.cat(outputs[1:], dim=1), p, "c.0"), 0.05)
    body = _conv(fused, p, "LR_conv") + shallow  # the global residual
    return F.pixel_shuffle(_conv(body, p, "upsampler.0"), scale)


def _imdn_rte_reference(x, p, scale, blocks):
    stem = F.relu(_conv(x * 255, p, "fea_conv.0"))
    shallow = _conv(stem, p, "fea_conv.2", stride=2)
    y = shallow
    for i in range(1, blocks + 1):
        y = _large_imdb(y, p, f"block{i}")
    body = _conv(y, p, "LR_conv") + shallow  # the global residual
    return F.pixel_shuffle(_conv(body, p, "upsampler.0"), 2 * scale) / 255


def _imdn_rtc_reference(x, p, scale, blocks):
    shallow = _conv(x, p, "model.0")
    y = shallow
    for i in range(blocks):
        y = _imdb(y, p, f"model.1.sub.{i}", attention=False)
    body = _conv(y, p, f"model.1.sub.{blocks}") + shallow
    return F.pixel_shuffle(_conv(body, p, "model.2"), scale)


@pytest.mark.parametrize(
    ("arch", "scale", "reference"),
    [("imdn", 2, _imdn_reference), ("imdn", 3, _imdn_reference),
     ("imdn_rte", 2, _imdn_rte_reference), ("imdn_rtc", 2, _imdn_rtc_reference)],
)  # fmt: skip
def test_the_network_computes_the_papers_definition(arch, scale, reference):
    torch.manual_seed(0)
    model = create_model(arch, scale).eval()
    weights = {name: t.detach() for name, t in model.named_parameters()}
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        expected = reference(x, weights, scale, model.blocks)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)
