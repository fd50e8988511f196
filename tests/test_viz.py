"""`vsr viz feature-maps`: the captured maps are the block's real output, and the grid holds
every channel where the layout says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.cli import main
from vsr.errors import VsrError
from vsr.featuremaps import BAR, GAP, FeatureMaps, capture, image_to_tensor, tile_grid
from vsr.imageio import read_image, write_image
from vsr.models import create_model, save_weights


@pytest.fixture
def small_imdn():
    torch.manual_seed(0)
    return create_model("imdn", 2, features=16, blocks=3).eval()


def test_block_output_is_what_the_block_returns(small_imdn):
    image = torch.rand(1, 3, 12, 10)
    features = capture(small_imdn, image, block=2)
    with torch.no_grad():
        expected = small_imdn.IMDB2(small_imdn.IMDB1(small_imdn.fea_conv(image)))
    assert features.gates is None
    torch.testing.assert_close(features.maps, expected[0])


def test_cca_view_holds_the_gates_and_the_gated_features(small_imdn):
    image = torch.rand(1, 3, 12, 10)
    inputs = []
    # A hook that returns something replaces the output, so this one returns None.
    small_imdn.IMDB3.cca.register_forward_hook(lambda _m, i, _o: inputs.extend(i) and None)
    features = capture(small_imdn, image, block=3, cca=True)
    assert features.gates.shape == (16,)
    assert bool(((features.gates > 0) & (features.gates < 1)).all())  # sigmoid outputs
    gated = inputs[0][0] * features.gates[:, None, None]
    torch.testing.assert_close(features.maps, gated)


def test_grid_places_every_stretched_channel_and_a_gate_bar():
    maps = torch.stack([torch.arange(12.0).reshape(3, 4) * (c + 1) for c in range(5)])
    gates = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    grid = tile_grid(FeatureMaps(1, maps, gates), columns=3)
    cell_h, cell_w = 3 + BAR + 1 + GAP, 4 + GAP
    assert grid.shape == (2 * cell_h + GAP, 3 * cell_w + GAP)
    stretched = np.round(np.arange(12.0).reshape(3, 4) / 11.0 * 255).astype(np.uint8)
    for index in range(5):
        top, left = GAP + (index // 3) * cell_h, GAP + (index % 3) * cell_w
        np.testing.assert_array_equal(grid[top : top + 3, left : left + 4], stretched)
        bar = grid[top + 4, left : left + 4]
        assert int((bar == 0).sum()) == round(float(gates[index]) * 4)
    assert (grid[GAP + cell_h :, GAP + 2 * cell_w :] == 255).all()  # the empty sixth cell


def test_large_maps_are_shrunk_to_the_tile_size():
    grid = tile_grid(FeatureMaps(1, torch.rand(4, 300, 200)), max_tile=100)
    assert grid.shape == (2 * (100 + GAP) + GAP, 2 * (67 + GAP) + GAP)


def test_input_is_cropped_to_the_networks_multiple():
    pixels = np.full((10, 7, 1), 255, dtype=np.uint8)
    tensor = image_to_tensor(pixels, multiple=4)
    assert tensor.shape == (1, 3, 8, 4)
    assert float(tensor.min()) == 1.0


def test_blocks_out_of_range_and_missing_attention_are_user_errors(small_imdn):
    with pytest.raises(VsrError, match="between 1 and 3"):
        capture(small_imdn, torch.rand(1, 3, 8, 8), block=4)
    rtc = create_model("imdn_rtc", 2)
    with pytest.raises(VsrError, match="no channel attention"):
        capture(rtc, torch.rand(1, 3, 8, 8), block=1, cca=True)


def _feature_maps_command(tmp_path, network, block: int) -> tuple[list[str], Path]:
    """`vsr viz feature-maps` of a 9x11 noise picture with `network`'s weights, and the
    output path the tests name."""
    weights = tmp_path / "small_x2.safetensors"
    save_weights(network, weights)
    image = tmp_path / "in.png"
    write_image(image, np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8))
    argv = ["viz", "feature-maps", str(image), "--block", str(block), "--weights", str(weights)]
    return argv, tmp_path / "maps.png"


def test_command_writes_the_grid_png(tmp_path, small_imdn, capsys):
    argv, out = _feature_maps_command(tmp_path, small_imdn, block=3)
    assert main([*argv, "--cca", "-o", str(out)]) == 0
    grid = read_image(out)
    # 16 channels of 9x11 in a 4x4 grid, each tile with its gate bar underneath.
    assert grid.shape == (4 * (9 + BAR + 1 + GAP) + GAP, 4 * (11 + GAP) + GAP, 1)
    assert "CCA gates" in capsys.readouterr().out
    assert main([*argv[:3], "--block", "9", *argv[-2:], "-o", str(out)]) == 2
    assert "between 1 and 3" in capsys.readouterr().err


def test_a_tile_side_under_8_pixels_is_refused_and_8_is_taken(tmp_path, small_imdn, capsys):
    argv, out = _feature_maps_command(tmp_path, small_imdn, block=1)
    assert main([*argv, "--tile", "7", "-o", str(out)]) == 2
    assert capsys.readouterr().err == "vsr: error: --tile must be at least 8 pixels\n"
    assert not out.exists()
    assert main([*argv, "--tile", "8", "-o", str(out)]) == 0


def test_the_grid_never_replaces_the_input_or_a_file_that_is_no_image(tmp_path, small_imdn, capsys):
    weights = tmp_path / "small.safetensors"
    save_weights(small_imdn, weights)
    image = tmp_path / "in.png"
    write_image(image, np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8))
    before = image.read_bytes()
    argv = ["viz", "feature-maps", str(image), "--block", "1", "--weights", str(weights), "-o"]
    assert main([*argv, str(image)]) == 2  # was written over
    assert "is the input image" in capsys.readouterr().err
    assert image.read_bytes() == before
    (tmp_path / "notes.png").write_text("my notes, misnamed")
    assert main([*argv, str(tmp_path / "notes.png")]) == 2
    assert "is not an image" in capsys.readouterr().err
    assert (tmp_path / "notes.png").read_text() == "my notes, misnamed"
    # A name ending in a slash names a folder: Path dropped it, and grid.png/ became grid.png.
    assert main([*argv, f"{tmp_path}/grid.png/"]) == 2
    assert "ends in a slash, naming a folder" in capsys.readouterr().err
    assert not (tmp_path / "grid.png").exists()


def test_a_weights_file_of_another_scale_than_asked_is_refused(tmp_path, small_imdn, capsys):
    argv, out = _feature_maps_command(tmp_path, small_imdn, block=1)
    weights = argv[-1]
    assert main([*argv, "--scale", "3", "-o", str(out)]) == 2
    assert "upscales by 2, not by 3" in capsys.readouterr().err
    assert not out.exists()
    assert main([*argv, "--scale", "2", "-o", str(out)]) == 0
    same_size = tmp_path / "as.safetensors"
    save_weights(create_model("imdn_as", features=16, blocks=1), same_size)
    argv[argv.index(weights)] = str(same_size)
    assert main([*argv, "--scale", "2", "-o", str(out)]) == 2
    assert "--scale does not apply" in capsys.readouterr().err
