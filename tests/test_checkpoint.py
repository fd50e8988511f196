"""Loading weights: official checkpoints, our safetensors, and damaged or wrong files."""

import pytest
import torch
from conftest import shared_path

from vsr.errors import VsrError
from vsr.models import create_model, load_weights, save_weights
from vsr.models.checkpoint import detect_architecture, read_state_dict

OFFICIAL = {
    "IMDN_x2.pth": ("imdn", 2),
    "IMDN_x3.pth": ("imdn", 3),
    "IMDN_x4.pth": ("imdn", 4),
    "IMDN_AS.pth": ("imdn_as", 1),
    "model_RTC.pth": ("imdn_rtc", 2),
    "model_RTE.pth": ("imdn_rte", 2),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_checkpoints_load_and_are_detected(name):
    path = shared_path("imdn-official", "checkpoints", name)
    model = load_weights(path)
    assert (model.arch, model.scale) == OFFICIAL[name]
    official = torch.load(path, map_location="cpu", weights_only=True)
    ours = model.state_dict()
    for key, tensor in official.items():
        assert torch.equal(ours[key.removeprefix("module.")], tensor)


@pytest.mark.parametrize(("arch", "scale"), sorted(set(OFFICIAL.values())))
def test_safetensors_round_trip(tmp_path, arch, scale):
    model = create_model(arch, scale)
    path = tmp_path / "w.safetensors"
    save_weights(model, path, {"note": "test"})
    loaded = load_weights(path)
    assert (loaded.arch, loaded.scale) == (arch, scale)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor)
    assert not list(tmp_path.glob(".*tmp*"))


def test_module_prefix_is_stripped(tmp_path):
    model = create_model("imdn", 3)
    path = tmp_path / "dp.pth"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    assert load_weights(path).scale == 3


def test_weights_saved_from_a_compiled_network_load_back(tmp_path):
    # torch.compile's wrapper prefixes every key with "_orig_mod." (nothing is compiled
    # without a call, so this is quick).
    model = create_model("imdn_rtc", 3).eval()
    save_weights(torch.compile(model), tmp_path / "w.safetensors")
    loaded = load_weights(tmp_path / "w.safetensors")
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert loaded.scale == 3 and torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("key", ["params_ema", "params", "state_dict"])
def test_weights_inside_a_training_dict_load(tmp_path, key):
    # BasicSR keeps them under params_ema/params, Lightning and others under state_dict.
    model = create_model("imdn_rtc", 2)
    torch.save({key: model.state_dict(), "iter": 5}, tmp_path / "w.pth")
    loaded = load_weights(tmp_path / "w.pth")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def test_basicsr_s_averaged_weights_are_taken_before_its_raw_ones(tmp_path):
    # BasicSR saves both and evaluates params_ema; the raw params changed every score.
    averaged, raw = create_model("imdn_rtc", 2), create_model("imdn_rtc", 2)
    torch.save(
        {"params": raw.state_dict(), "params_ema": averaged.state_dict()}, tmp_path / "w.pth"
    )
    loaded = load_weights(tmp_path / "w.pth").state_dict()
    for name, tensor in averaged.state_dict().items():
        assert torch.equal(loaded[name], tensor)


@pytest.mark.parametrize("prefix", ["module._orig_mod.", "_orig_mod.module.", "module.module."])
def test_every_wrapper_prefix_is_stripped(tmp_path, prefix):
    # A compiled network inside DistributedDataParallel saves "module._orig_mod." keys; with
    # one prefix stripped they were refused as a foreign checkpoint.
    model = create_model("imdn_rtc", 2)
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, tmp_path / "w.pth")
    loaded = load_weights(tmp_path / "w.pth").state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded[name], tensor)


def test_an_entry_of_a_weights_name_that_holds_no_tensors_is_passed_over(tmp_path):
    model = create_model("imdn_rtc", 2)
    torch.save({"state_dict": {"note": "settings"}, "model": model.state_dict()}, tmp_path / "w.pt")
    loaded = load_weights(tmp_path / "w.pt")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def test_a_vsr_training_checkpoint_loads_its_network(tmp_path):
    # last.pt of `vsr train`: the network beside the optimizer, the scheduler and the RNG.
    # It was "not a state dict of tensors".
    from vsr.train.checkpoint import save_checkpoint, training_state

    model = create_model("imdn", 2, features=16, blocks=2)
    optimizer = torch.optim.Adam(model.parameters())
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 10)
    state = training_state(model, optimizer, scheduler, 7, 30.0, 1.0, {"scale": 2})
    save_checkpoint(tmp_path / "last.pt", state)
    loaded = load_weights(tmp_path / "last.pt")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def test_metadata_is_stored_as_text_and_a_missing_folder_is_one_error(tmp_path):
    save_weights(create_model("imdn_rtc", 2), tmp_path / "w.safetensors", {"steps": 100})
    assert read_state_dict(tmp_path / "w.safetensors")[1]["steps"] == "100"
    with pytest.raises(VsrError, match="no folder"):
        save_weights(create_model("imdn_rtc", 2), tmp_path / "nodir" / "w.safetensors")


def test_missing_file(tmp_path):
    with pytest.raises(VsrError, match="not found"):
        load_weights(tmp_path / "nope.pth")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pth"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(VsrError, match="not a readable checkpoint"):
        load_weights(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "full.pth"
    torch.save(create_model("imdn_rtc").state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VsrError, match="not a readable checkpoint"):
        load_weights(path)


def test_truncated_safetensors(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(create_model("imdn_rtc"), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(VsrError, match="not a readable checkpoint"):
        load_weights(path)


def test_wrong_architecture_names_the_mismatch(tmp_path):
    state = create_model("imdn", 2).state_dict()
    state["IMDB1.c2.weight"] = torch.zeros(64, 40, 3, 3)  # a different distillation split
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(VsrError, match=r"IMDB1\.c2\.weight"):
        load_weights(path)


def test_missing_tensor_is_named(tmp_path):
    state = create_model("imdn", 4).state_dict()
    del state["LR_conv.bias"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(VsrError, match="missing 1 tensors.*LR_conv.bias"):
        load_weights(path)


def test_foreign_checkpoint(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(VsrError, match="not an IMDN-family checkpoint"):
        load_weights(path)


def test_pickled_object_is_refused(tmp_path):
    """weights_only loading refuses arbitrary pickles instead of executing them."""
    path = tmp_path / "evil.pth"
    torch.save({"model": create_model("imdn_rtc")}, path)
    with pytest.raises(VsrError):
        load_weights(path)


def test_detects_non_standard_width_and_depth():
    state = create_model("imdn", 2, features=32, blocks=3).state_dict()
    assert detect_architecture(state) == ("imdn", 2, {"features": 32, "blocks": 3})


def _set5_baby_x2_psnr(checkpoint: str) -> float:
    """Y PSNR (dB, 2 pixels shaved) of an official x2 checkpoint on Set5 baby, from
    MATLAB's LR image, through our [0, 1] interface and 8-bit output."""
    from vsr.imageio import read_image
    from vsr.metrics import psnr, rgb_to_y

    model = load_weights(shared_path("imdn-official", "checkpoints", checkpoint))
    hr = read_image(shared_path("datasets", "benchmark", "Set5", "HR", "baby.bmp"))
    lr = read_image(shared_path("datasets", "benchmark", "Set5", "LR_bicubic", "X2", "babyx2.bmp"))
    with torch.no_grad():
        out = model(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255)[0]
    sr = (out.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return psnr(rgb_to_y(sr), rgb_to_y(hr[: sr.shape[0], : sr.shape[1]]), shave=2)


def test_rte_takes_pixel_values_in_0_255():
    """The official IMDN_RTE was trained on 0..255 pixels; through our [0, 1] interface it must
    still restore Set5 baby x2 well (37.25 dB measured; 19.6 dB if the range were wrong)."""
    assert _set5_baby_x2_psnr("model_RTE.pth") > 37.0


def test_rtc_restores_set5_baby_with_its_official_weights():
    """The official IMDN_RTC on Set5 baby x2, pinned to the 38.71 dB measured: 6.77 dB where its
    residual blocks drop their input (sub(x) for x + sub(x)), which the loading checks of key
    names and shapes cannot see."""
    assert _set5_baby_x2_psnr("model_RTC.pth") == pytest.approx(38.71, abs=0.01)


def test_a_text_file_is_named_as_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello world\nsecond line\n")
    with pytest.raises(VsrError) as caught:
        load_weights(path)
    # Was "not a readable checkpoint (101)": torch's KeyError carried only a byte value.
    assert str(caught.value) == (
        f"{path}: not a readable checkpoint (neither a PyTorch nor a safetensors file)"
    )


def test_a_pickled_module_is_refused_in_one_plain_line(tmp_path):
    path = tmp_path / "module.pth"
    torch.save(torch.nn.Conv2d(3, 3, 1), path)
    with pytest.raises(VsrError, match="holds pickled Python objects, not only tensors") as caught:
        load_weights(path)
    message = str(caught.value)
    assert "\x1b" not in message and "\n" not in message  # torch's has ANSI bold and paragraphs


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_holding_nan_or_inf_are_refused_on_loading(tmp_path, bad):
    # A diverged training run's weights loaded, and every frame came out NaN: in the
    # default bf16 (fp16 on CUDA) the run then failed after its first batch with "the
    # network produced NaN or Inf values in bf16; run it in fp32", which cannot help.
    import vsr

    model = create_model("imdn", 2)
    with torch.no_grad():
        model.upsampler[0].weight[0, 0, 0, 0] = bad
    path = tmp_path / "diverged.safetensors"
    save_weights(model, path, {})
    message = (
        f"{path}: its weights hold NaN or Inf values (1 of {len(model.state_dict())} tensors, "
        "first: upsampler.0.weight), as a training run that diverged leaves them"
    )
    with pytest.raises(VsrError) as refused:
        vsr.load_model(path, device="cpu")
    assert str(refused.value) == message
    torch.save(model.state_dict(), tmp_path / "diverged.pth")
    with pytest.raises(VsrError, match="hold NaN or Inf values"):
        load_weights(tmp_path / "diverged.pth")
