"""Crafted weights files: shapes that declare a huge network must be refused with one
VsrError line before anything of that size is allocated.

The loads run in a child process whose address space is capped (RLIMIT_AS), so that a
loader that does allocate what a file declares fails this test instead of taking the
machine's memory."""

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vsr.models import create_model

resource = pytest.importorskip("resource")  # POSIX only

CHILD = """
import resource, sys
cap = 3 << 30
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from vsr.errors import VsrError
from vsr.models import load_weights
for path in sys.argv[1:]:
    try:
        load_weights(path)
        print("loaded")
    except VsrError as error:
        print("VsrError", str(error).replace(chr(10), " "))
    except BaseException as error:
        print("other", type(error).__name__)
"""


def _crafted(folder: Path) -> list[Path]:
    real = create_model("imdn_rtc").state_dict()
    paths = []
    # 20000 features declared by zero-size tensors (a file of a few KB)
    wide = {
        k: torch.empty(20000 if v.shape[0] == 12 else v.shape[0], 0, *v.shape[2:])
        if v.dim() == 4
        else torch.empty(0)
        for k, v in real.items()
    }
    wide["model.2.weight"] = torch.empty(12, 0, 3, 3)
    paths.append(folder / "wide.safetensors")
    save_file(wide, str(paths[-1]))
    # every tensor at a 20000-feature shape as a stride-0 view of one float
    views = {}
    for key, value in real.items():
        shape = [
            20000 if size == 12 and not (key == "model.2.weight" and i == 0) else size
            for i, size in enumerate(value.shape)
        ]
        views[key] = torch.zeros(1).expand(*shape)
    paths.append(folder / "views.pth")
    torch.save(views, paths[-1])
    # an upsampler for x10000, zero-size
    upsampler = dict(real)
    upsampler["model.2.weight"] = torch.empty(3 * 10000**2, 0, 3, 3)
    paths.append(folder / "x10000.safetensors")
    save_file({k: v.contiguous() for k, v in upsampler.items()}, str(paths[-1]))
    # a thousand blocks of zero-size tensors
    blocks = dict(real)
    for index in range(5, 1005):
        for key in real:
            if key.startswith("model.1.sub.0."):
                blocks[key.replace("sub.0.", f"sub.{index}.")] = torch.empty(0)
    paths.append(folder / "blocks.safetensors")
    save_file(blocks, str(paths[-1]))
    return paths


def test_weights_declaring_a_huge_network_are_refused_without_allocating(tmp_path):
    paths = _crafted(tmp_path)
    assert all(p.stat().st_size < 2_000_000 for p in paths)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    lines = child.stdout.splitlines()
    assert len(lines) == len(paths), child.stderr[-2000:]
    for path, line in zip(paths, lines, strict=True):
        assert line.startswith("VsrError"), f"{path.name}: {line}"
        assert "declares" in line, f"{path.name}: {line}"


def test_a_normal_checkpoint_still_loads(tmp_path):
    from vsr.models import load_weights, save_weights

    model = create_model("imdn", 3)
    save_weights(model, tmp_path / "x3.safetensors")
    loaded = load_weights(tmp_path / "x3.safetensors")
    assert (loaded.arch, loaded.scale) == ("imdn", 3)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


@pytest.mark.parametrize(
    ("arch", "change", "message"),
    [
        ("imdn", {"upsampler.0.weight": None}, "has no upsampler.0.weight"),
        ("imdn_rtc", {"model.2.weight": None}, "has no model.2.weight"),
        ("imdn", {"upsampler.0.weight": torch.tensor(1.0)}, r"shape \(\), not that of a conv"),
        ("imdn", {"IMDB1.c1.weight": torch.zeros(3)}, r"shape \(3,\), not that of a conv"),
        ("imdn_rte", {"block1.c1.weight": torch.tensor(2.0)}, "not that of a convolution"),
        # Were 0 features: torch's warning of zero-element tensors, then "91 shape
        # mismatches (first: fea_conv.weight (64, 3, 3, 3) != (0, 3, 3, 3))", intact.
        (
            "imdn",
            {"IMDB1.c1.weight": torch.zeros(0, 64, 3, 3)},
            r"odd\.safetensors: IMDB1\.c1\.weight has shape \(0, 64, 3, 3\), an empty tensor, no convolution$",
        ),
        ("imdn_rtc", {"model.2.weight": torch.zeros(0, 12, 3, 3)}, "model.2.weight .* empty"),
    ],
)
def test_a_recognised_checkpoint_missing_a_key_tensor_is_one_clear_error(
    tmp_path, arch, change, message
):
    # Was a KeyError or IndexError traceback from the architecture's detection.
    from vsr.errors import VsrError
    from vsr.models import load_weights

    state = create_model(arch, 2).state_dict()
    for key, value in change.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "odd.safetensors"))
    with warnings.catch_warnings(), pytest.raises(VsrError, match=message):
        warnings.simplefilter("error")  # the one line, nothing before it
        load_weights(tmp_path / "odd.safetensors")
