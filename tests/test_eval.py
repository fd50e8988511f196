"""`vsr eval` and vsr.evaluate: dataset discovery, the metric pipeline, the paper's numbers."""

from __future__ import annotations

import copy
import hashlib
import json
import os

import numpy as np
import pytest
import torch
from conftest import shared_path
from PIL import Image

from vsr.cli import main
from vsr.errors import VsrError
from vsr.evaluate import check_dataset, check_every_pair, evaluate_dataset
from vsr.imageio import read_image, write_image
from vsr.metrics import psnr, rgb_to_y, ssim
from vsr.models import create_model, save_weights
from vsr.ops.imresize import imresize
from vsr.train.validate import Validator
from vsr.upscale import Upscaler, memory_needed


class BicubicUpscaler:
    """A stand-in network: MATLAB bicubic enlargement, so expected scores are computable."""

    arch = "bicubic"

    def __init__(self, scale: int) -> None:
        self.scale = self.output_scale = scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x.double(), scale=self.scale).clamp(0, 1).float()


def _make_dataset(root, sizes=((26, 34), (30, 22)), seed=0):
    """HR/ with smooth random colour images (odd sizes, so modcrop matters at x4)."""
    rng = np.random.default_rng(seed)
    (root / "HR").mkdir(parents=True)
    for index, (h, w) in enumerate(sizes):
        small = rng.integers(0, 256, size=(h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
        image = imresize(small, output_size=(h, w))
        write_image(root / "HR" / f"im{index}.png", image)
    return root


def _expected_scores(hr_dir, scale):
    """Bicubic scores written out step by step: modcrop, shrink, enlarge, Y, shave."""
    psnrs, ssims = [], []
    for path in sorted(hr_dir.iterdir()):
        hr = read_image(path)
        hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
        lr = imresize(hr, scale=1 / scale).astype(np.float64) / 255
        sr = np.clip(imresize(lr, scale=scale), 0, 1)
        sr = np.round(sr.astype(np.float32) * 255).astype(np.uint8)
        psnrs.append(psnr(rgb_to_y(sr), rgb_to_y(hr), shave=scale))
        ssims.append(ssim(rgb_to_y(sr), rgb_to_y(hr), shave=scale))
    return float(np.mean(psnrs)), float(np.mean(ssims))


@pytest.mark.parametrize("scale", [2, 4])
def test_generated_inputs_give_the_step_by_step_scores(tmp_path, scale):
    dataset = _make_dataset(tmp_path / "Tiny")
    result = evaluate_dataset(BicubicUpscaler(scale), dataset, progress=False)
    expected_psnr, expected_ssim = _expected_scores(dataset / "HR", scale)
    assert (result.dataset, result.scale, result.model, result.images) == (
        "Tiny",
        scale,
        "bicubic",
        2,
    )
    assert result.psnr == pytest.approx(expected_psnr, abs=1e-6)
    assert result.ssim == pytest.approx(expected_ssim, abs=1e-9)
    assert result.psnr_rgb is None
    assert [score.name for score in result.per_image] == ["im0", "im1"]


@pytest.mark.parametrize("scale", [3, 4])
def test_each_side_is_cropped_to_the_scale_by_its_own_remainder(tmp_path, scale):
    # Heights and widths with different remainders (27 and 34: 0 and 1 at x3, 3 and 2 at
    # x4): the sizes above leave equal ones, and a width cropped by the height's
    # remainder scored Set14 x3 bicubic 27.6281 dB, not 27.6324.
    dataset = _make_dataset(tmp_path / "Uneven", sizes=((27, 34), (29, 24)))
    result = evaluate_dataset(BicubicUpscaler(scale), dataset, progress=False)
    expected_psnr, expected_ssim = _expected_scores(dataset / "HR", scale)
    assert result.psnr == pytest.approx(expected_psnr, abs=1e-6)
    assert result.ssim == pytest.approx(expected_ssim, abs=1e-9)


class SameSizeUpscaler:
    """A stand-in same-size network (as IMDN_AS): it returns its input, the MATLAB bicubic
    enlargement vsr makes for it."""

    arch = "same-size"
    scale = output_scale = 1
    device = "cpu"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_a_same_size_network_is_shaved_by_the_scale_it_is_scored_at(tmp_path):
    # IMDN_AS scored at x2 is shaved 2 pixels as any x2 result, not by its own scale (1,
    # nothing shaved): its x2 scores were not comparable with IMDN's.
    dataset = _make_dataset(tmp_path / "Tiny")
    result = evaluate_dataset(SameSizeUpscaler(), dataset, scale=2, progress=False)
    expected_psnr, expected_ssim = _expected_scores(dataset / "HR", 2)  # bicubic, shave 2
    assert result.scale == 2
    assert result.psnr == pytest.approx(expected_psnr, abs=1e-6)
    assert result.ssim == pytest.approx(expected_ssim, abs=1e-9)


def test_an_image_that_comes_back_exact_is_valid_json_and_named(tmp_path):
    # Its PSNR is infinite, and so the mean: json.dump wrote bare Infinity, which jq,
    # JavaScript and most JSON libraries refuse, the whole file with it.
    from vsr.htmlreport import ReportInputs, eval_table

    dataset = _make_dataset(tmp_path / "Tiny")
    write_image(dataset / "HR" / "flat.png", np.full((16, 16, 3), 128, np.uint8))
    result = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    record = json.loads(json.dumps(result.to_dict(per_image=True), allow_nan=False))
    assert record["psnr"] is None and record["identical_images"] == ["flat"]
    flat, *others = record["per_image"]
    assert (flat["name"], flat["psnr"], flat["identical"], flat["ssim"]) == ("flat", None, True, 1)
    assert [o["name"] for o in others] == ["im0", "im1"]
    assert all(o["psnr"] > 20 and "identical" not in o for o in others)
    assert "<td>inf</td>" in eval_table(ReportInputs(evals=[record]))


def test_shipped_lr_bicubic_inputs_are_used(tmp_path):
    dataset = _make_dataset(tmp_path / "Tiny")
    generated = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    # Inputs in LR_bicubic/X2 take precedence: flat grey ones give different scores.
    (dataset / "LR_bicubic" / "X2").mkdir(parents=True)
    for path in (dataset / "HR").iterdir():
        hr = read_image(path)
        flat = np.full((hr.shape[0] // 2, hr.shape[1] // 2, 3), 128, dtype=np.uint8)
        write_image(dataset / "LR_bicubic" / "X2" / f"{path.stem}x2.bmp", flat)
    shipped = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    assert shipped.psnr < generated.psnr - 1
    assert (generated.inputs, shipped.inputs) == ("made from HR (MATLAB bicubic)", "LR_bicubic/X2")


def test_an_hr_folder_in_another_case_is_the_hr_folder(tmp_path):
    # hr/ was "has no HR/ folder: put its high-resolution images in .../HR", where they were,
    # while lr_bicubic/x2 was found in any case.
    dataset = _make_dataset(tmp_path / "Tiny")
    expected = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    (dataset / "HR").rename(dataset / "hr")
    found = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    assert (found.images, found.psnr, found.ssim) == (2, expected.psnr, expected.ssim)
    check_dataset(dataset)  # vsr eval's check before the weights are loaded


# lr_bicubic/x2 was not LR_bicubic/X2: inputs were made from HR instead, without a word.
@pytest.mark.parametrize("folder", ["LR_bicubic/X2", "lr_bicubic/x2"])
def test_an_lr_image_of_the_wrong_size_is_refused_not_scored(tmp_path, folder):
    dataset = _make_dataset(tmp_path / "Tiny", sizes=((26, 34),))
    (dataset / folder).mkdir(parents=True)
    write_image(dataset / folder / "im0x2.png", np.zeros((12, 17, 3), np.uint8))
    with pytest.raises(VsrError, match="im0x2.png is 17x12, but im0.png at x2 needs 17x13"):
        evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)


def test_two_spellings_of_the_inputs_folder_are_not_guessed_between(tmp_path):
    dataset = _make_dataset(tmp_path / "Tiny", sizes=((26, 34),))
    (dataset / "lr_bicubic" / "x2").mkdir(parents=True)
    (dataset / "Lr_Bicubic" / "X2").mkdir(parents=True)
    with pytest.raises(VsrError, match="both Lr_Bicubic and lr_bicubic; name the inputs'"):
        evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)


def test_an_hr_image_too_small_to_score_is_one_clear_error(tmp_path):
    # 16 - 2 * 4 shaved leaves 8 pixels, less than SSIM's 11-pixel window.
    _make_dataset(tmp_path / "set", sizes=((16, 16),))
    upscaler = Upscaler(create_model("imdn_rtc", 4).eval())
    with pytest.raises(VsrError, match=r"im0\.png is 16x16: too small to score at x4"):
        evaluate_dataset(upscaler, tmp_path / "set", progress=False)
    # Training finds out before its first step, not in its final validation.
    with pytest.raises(VsrError, match="im0.png"):
        Validator(tmp_path / "set", 4)


def test_training_refuses_a_validation_input_of_the_wrong_size_before_its_first_step(tmp_path):
    # Only the HR images were checked up front: the first validation, after --val-every
    # steps, ended the run at the input.
    dataset = _make_dataset(tmp_path / "set", sizes=((26, 34),))
    (dataset / "LR_bicubic" / "X2").mkdir(parents=True)
    write_image(dataset / "LR_bicubic" / "X2" / "im0x2.png", np.zeros((12, 17, 3), np.uint8))
    with pytest.raises(VsrError, match="im0x2.png is 17x12, but im0.png at x2 needs 17x13"):
        Validator(dataset, 2)


def test_validation_scores_in_fp32_whatever_the_device_s_default(tmp_path, monkeypatch):
    # The best weights are chosen by these numbers, and they must be vsr eval's: at the
    # default precision validation scored bf16's here (Set5 x2 official 37.9949, not
    # 37.9960), and fp16's on a GPU.
    import vsr.upscale

    monkeypatch.setattr(vsr.upscale, "default_precision", lambda device: "bf16")
    dataset = _make_dataset(tmp_path / "Val")
    torch.manual_seed(0)
    model = create_model("imdn", 2)
    at_default = evaluate_dataset(Upscaler(copy.deepcopy(model), "cpu"), dataset, 2, False)
    fp32 = evaluate_dataset(Upscaler(copy.deepcopy(model), "cpu", "fp32"), dataset, 2, False)
    assert at_default.psnr != fp32.psnr  # bf16 is seen in the score
    assert Validator(dataset, 2)(model, torch.device("cpu")) == (fp32.psnr, fp32.ssim)


def test_paired_same_size_data_reports_rgb_psnr_without_shave(tmp_path):
    dataset = _make_dataset(tmp_path / "Pairs", sizes=((24, 28),))
    (dataset / "LR").mkdir()
    hr = read_image(dataset / "HR" / "im0.png")
    lr = hr.copy()
    lr[0, 0] = 255 - lr[0, 0]  # a border difference: no shave means it counts
    write_image(dataset / "LR" / "im0.png", lr)
    result = evaluate_dataset(BicubicUpscaler(1), dataset, progress=False)
    assert result.scale == 1
    assert result.psnr == pytest.approx(psnr(rgb_to_y(lr), rgb_to_y(hr)), abs=1e-9)
    assert result.psnr_rgb == pytest.approx(psnr(lr, hr), abs=1e-9)
    assert "psnr_rgb" in result.to_dict()
    (dataset / "LR").rename(dataset / "lr")  # in any case, as LR_bicubic
    again = evaluate_dataset(BicubicUpscaler(1), dataset, progress=False)
    assert (again.psnr, again.inputs) == (result.psnr, "lr")


def test_same_size_pairs_are_passed_over_by_a_network_that_enlarges(tmp_path):
    # A RealSR-style LR/ (HR's size) was taken as x2 inputs: "LR/im0.png is 28x24, but
    # im0.png at x2 needs 14x12". The inputs are made from HR, as without LR/.
    dataset = _make_dataset(tmp_path / "Pairs", sizes=((24, 28),))
    (dataset / "LR").mkdir()
    write_image(dataset / "LR" / "im0.png", read_image(dataset / "HR" / "im0.png"))
    result = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    assert result.inputs == "made from HR (MATLAB bicubic)"
    assert result.psnr == pytest.approx(_expected_scores(dataset / "HR", 2)[0], abs=1e-9)
    # LR/ of HR shrunk by the scale is used, as before.
    hr = read_image(dataset / "HR" / "im0.png")
    write_image(dataset / "LR" / "im0.png", imresize(hr, scale=0.5))
    assert evaluate_dataset(BicubicUpscaler(2), dataset, progress=False).inputs == "LR"


def test_cli_table_and_json_with_random_weights(tmp_path, capsys):
    dataset = _make_dataset(tmp_path / "Tiny", sizes=((16, 20),))
    weights = tmp_path / "random.safetensors"
    torch.manual_seed(0)
    save_weights(create_model("imdn", scale=2), weights)
    report = tmp_path / "report.json"
    args = [str(dataset), "--weights", str(weights), "--json", str(report), "--device", "cpu"]
    assert main(["eval", *args]) == 0
    printed = capsys.readouterr().out
    assert "Tiny" in printed and "random" in printed
    written = json.loads(report.read_text())
    (record,) = written["results"]
    assert set(record) == {
        *("dataset", "scale", "model", "images", "inputs", "psnr", "ssim", "per_image")
    }
    assert "inputs: Tiny made from HR (MATLAB bicubic)" in printed
    assert (record["dataset"], record["scale"], record["images"]) == ("Tiny", 2, 1)
    assert f"{record['psnr']:.4f}" in printed
    # Which weights exactly (a run's best/last files share their names), and every image.
    assert written["weights"] == str(weights.resolve())
    assert written["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    (image,) = record["per_image"]
    assert image["name"] == "im0" and image["psnr"] == pytest.approx(record["psnr"])
    assert "psnr_rgb" not in image  # same-size pairs only, as in the dataset's record


def test_the_printed_table_escapes_a_datasets_control_characters(tmp_path, capsys):
    # The dataset's name is its folder's: a newline in it split the table's row and forged
    # a line of its own below it.
    dataset = _make_dataset(tmp_path / "Tiny\nnetwork in fp64 on gpu", sizes=((16, 20),))
    weights = tmp_path / "random.safetensors"
    torch.manual_seed(0)
    save_weights(create_model("imdn_rtc", scale=2), weights)
    assert main(["eval", str(dataset), "--weights", str(weights), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert not [line for line in printed if line.startswith("network in fp64")]
    assert sum("Tiny\\nnetwork in fp64 on gpu" in line for line in printed) == 2  # row, inputs


def test_cli_errors_name_the_problem(tmp_path, capsys):
    weights = tmp_path / "random.safetensors"
    save_weights(create_model("imdn", scale=2), weights)
    (tmp_path / "Empty").mkdir()
    assert main(["eval", str(tmp_path / "Empty"), "--weights", str(weights)]) == 2
    assert "has no HR/ folder" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "Nowhere"), "--weights", str(weights)]) == 2
    assert f"vsr: error: dataset {tmp_path / 'Nowhere'} not found\n" in capsys.readouterr().err
    dataset = _make_dataset(tmp_path / "Tiny")
    (dataset / "LR_bicubic" / "X2").mkdir(parents=True)
    assert main(["eval", str(dataset), "--weights", str(weights)]) == 2
    assert "im0x2" in capsys.readouterr().err
    assert main(["eval", str(dataset), "--weights", str(weights), "--scale", "3"]) == 2
    assert "not by 3" in capsys.readouterr().err
    with pytest.raises(VsrError, match="LR/ folder"):
        evaluate_dataset(BicubicUpscaler(1), _make_dataset(tmp_path / "NoPairs"), progress=False)


def test_every_damaged_or_mismatched_image_is_named_before_any_scoring(
    tmp_path, capsys, monkeypatch
):
    # A damaged image ended the scoring where it came, the datasets before it scored for
    # nothing, and the next run stopped at the next such image.
    weights = tmp_path / "random.safetensors"
    save_weights(create_model("imdn_rtc", scale=2), weights)
    fine = _make_dataset(tmp_path / "Fine")
    faulty = _make_dataset(tmp_path / "Faulty", sizes=((26, 34), (30, 22), (24, 24)))
    whole = (faulty / "HR" / "im0.png").read_bytes()
    (faulty / "HR" / "im0.png").write_bytes(whole[: len(whole) // 2])  # a copy cut short
    (faulty / "LR_bicubic" / "X2").mkdir(parents=True)
    for index, (h, w) in enumerate(((13, 17), (15, 11), (11, 12))):  # im2's is a row short
        write_image(
            faulty / "LR_bicubic" / "X2" / f"im{index}x2.png", np.zeros((h, w, 3), np.uint8)
        )
    scored = []
    monkeypatch.setattr("vsr.evaluate.evaluate_dataset", lambda *args, **kw: scored.append(args))
    args = [str(fine), str(faulty), "--weights", str(weights), "--device", "cpu"]
    assert main(["eval", *args]) == 2
    said = capsys.readouterr().err
    assert said.startswith(
        f"vsr: error: 2 of the 3 images of dataset {faulty} cannot be scored: "
        f"cannot read image {faulty / 'HR' / 'im0.png'}: "
    )
    assert f", {faulty / 'LR_bicubic' / 'X2' / 'im2x2.png'} is 12x11, but im2.png" in said
    assert scored == []
    # One alone is named as it was.
    (faulty / "HR" / "im0.png").write_bytes(whole)
    assert main(["eval", *args]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: {faulty / 'LR_bicubic' / 'X2' / 'im2x2.png'} is 12x11, "
        "but im2.png at x2 needs 12x12\n"
    )
    assert scored == []


def test_missing_inputs_and_damaged_images_are_named_in_one_error(tmp_path, capsys):
    # Missing LR inputs were named alone, first: a damaged HR image and an input of the
    # wrong size were told only by the run after the inputs were added.
    weights = tmp_path / "random.safetensors"
    save_weights(create_model("imdn_rtc", scale=2), weights)
    dataset = _make_dataset(tmp_path / "D", sizes=((24, 32), (24, 24), (24, 24)))
    given = dataset / "LR_bicubic" / "X2"
    given.mkdir(parents=True)
    write_image(given / "im0x2.png", np.zeros((5, 5, 3), np.uint8))  # 16x12 is needed
    (dataset / "HR" / "im2.png").write_bytes(b"not a picture")
    args = ["eval", str(dataset), "--weights", str(weights), "--device", "cpu"]
    assert main(args) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"vsr: error: 3 of the 3 images of dataset {dataset} cannot be scored: ")
    assert f"{given / 'im0x2.png'} is 5x5, but im0.png at x2 needs 16x12, " in said
    assert f", no LR image im1x2.* in {given}, " in said
    assert f"cannot read image {dataset / 'HR' / 'im2.png'}" in said
    assert said.endswith(f", and no LR image im2x2.* in {given}; remove or replace them\n")


def test_every_missing_input_is_named_in_one_error(tmp_path):
    # The first missing LR image ended the check: a folder of published inputs that lacked
    # three took three runs to learn which.
    dataset = _make_dataset(tmp_path / "Tiny", sizes=((24, 24),) * 4)
    given = dataset / "LR_bicubic" / "X2"
    given.mkdir(parents=True)
    write_image(given / "im2x2.png", np.zeros((12, 12, 3), np.uint8))
    with pytest.raises(VsrError) as refused:
        evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    assert str(refused.value) == (
        f"dataset {dataset}: no LR image for 3 of the 4 HR images in {given}: "
        "im0x2.*, im1x2.*, im3x2.*"
    )
    for index in (0, 1):
        write_image(given / f"im{index}x2.png", np.zeros((12, 12, 3), np.uint8))
    with pytest.raises(VsrError, match=r"^dataset .*: no LR image im3x2\.\* in .*X2$"):
        evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)


def test_the_hr_folder_an_image_or_a_same_size_network_on_bicubic_inputs_get_a_hint(
    tmp_path, capsys, monkeypatch
):
    # Given the HR folder, eval said "has no HR/ folder: put its images in .../HR/HR"; given
    # one image, ".../bird.png/HR"; and IMDN_AS on a benchmark of bicubic inputs spoke of a
    # "scale 1" the user never gave.
    weights, same_size = tmp_path / "x2.safetensors", tmp_path / "as.safetensors"
    save_weights(create_model("imdn_rtc", scale=2), weights)
    save_weights(create_model("imdn_as"), same_size)
    dataset = _make_dataset(tmp_path / "Tiny")
    for given in (dataset / "HR", dataset / "HR" / "im0.png"):
        assert main(["eval", str(given), "--weights", str(weights), "--device", "cpu"]) == 2
    assert main(["eval", str(dataset), "--weights", str(same_size), "--device", "cpu"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"vsr: error: {dataset / 'HR'} is a dataset's HR folder; give the dataset's folder, "
        f"{dataset}",
        f"vsr: error: {dataset / 'HR' / 'im0.png'} is one of a dataset's HR images; give the "
        f"dataset's folder, {dataset}",
        f"vsr: error: dataset {dataset} has no same-size inputs (an LR/ folder) for a network "
        "that restores at its input's size; give --scale 2 (or 3, 4) to score it on inputs "
        "shrunk and enlarged again by that factor",
    ]
    # Given as "HR" from inside the dataset, its folder was named "." alone: a stray dot.
    monkeypatch.chdir(dataset)
    assert main(["eval", "HR", "--weights", str(weights), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == (
        "vsr: error: HR is a dataset's HR folder; give the dataset's folder, . (the working "
        "folder)\n"
    )


def _reference():
    return json.loads(shared_path("reference", "paper_table.json").read_text())


def _check_official(tmp_path, datasets, scale):
    checkpoint = shared_path("imdn-official", "checkpoints", f"IMDN_x{scale}.pth")
    folders = [shared_path("datasets", "benchmark", name) for name in datasets]
    report = tmp_path / "report.json"
    args = ["eval", *map(str, folders), "--weights", str(checkpoint), "--json", str(report)]
    assert main([*args, "--device", "cpu"]) == 0
    expected = _reference()["official_checkpoint_measured"][f"x{scale}"]
    for record in json.loads(report.read_text())["results"]:
        want_psnr, want_ssim = expected[record["dataset"]]
        assert record["scale"] == scale
        assert record["psnr"] == pytest.approx(want_psnr, abs=0.005), record
        assert record["ssim"] == pytest.approx(want_ssim, abs=0.0005), record


def test_official_x2_checkpoint_reproduces_set5(tmp_path):
    _check_official(tmp_path, ["Set5"], 2)


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_checkpoints_reproduce_set14_and_b100(tmp_path, scale):
    _check_official(tmp_path, ["Set5", "Set14", "B100"], scale)


@pytest.mark.slow
def test_official_imdn_as_reproduces_realsr_subset():
    from vsr.models import load_weights
    from vsr.upscale import Upscaler

    checkpoint = shared_path("imdn-official", "checkpoints", "IMDN_AS.pth")
    dataset = shared_path("datasets", "realsr-subset")
    upscaler = Upscaler(load_weights(checkpoint), device="cpu")
    result = evaluate_dataset(upscaler, dataset, progress=False)
    expected = _reference()["imdn_as_realsr_subset_measured"]
    assert result.images == 2
    for score in result.per_image:
        want = expected[f"{score.name}.png"]
        assert score.psnr_rgb == pytest.approx(want["rgb_psnr"], abs=0.01)
        assert score.psnr == pytest.approx(want["y_psnr"], abs=0.01)
        assert score.ssim == pytest.approx(want["y_ssim"], abs=0.0005)


def test_a_grey_image_scores_as_its_rgb_replica(tmp_path):
    from PIL import Image

    from vsr.evaluate import evaluate_dataset

    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    grey = np.asarray(Image.fromarray(small).resize((36, 28), Image.BILINEAR))
    for name, pixels in (("grey", grey), ("rgb", np.repeat(grey[:, :, None], 3, axis=2))):
        (tmp_path / name / "HR").mkdir(parents=True)
        Image.fromarray(pixels).save(tmp_path / name / "HR" / "im.png")
    a = evaluate_dataset(BicubicUpscaler(2), tmp_path / "grey", progress=False)
    b = evaluate_dataset(BicubicUpscaler(2), tmp_path / "rgb", progress=False)
    assert (a.psnr, a.ssim) == pytest.approx((b.psnr, b.ssim), abs=1e-9)


def test_the_result_says_the_precision_and_which_images_ran_in_patches(tmp_path, capsys):
    # Both move the score away from the paper's fp32 whole-image one without a word:
    # load_model's default on a bf16 CPU gave 37.9974 on Set5 x2, a memory budget that
    # splits the images 37.9969, against 37.9960.
    dataset = _make_dataset(tmp_path / "Tiny", sizes=((120, 120), (40, 40)))
    torch.manual_seed(0)
    network = create_model("imdn_rtc", 2).eval()
    whole = evaluate_dataset(Upscaler(network, precision="fp32"), dataset, progress=False)
    assert (whole.precision, whole.in_patches) == ("fp32", [])
    assert "in_patches" not in whole.to_dict()
    budget = memory_needed(network, torch.float32, torch.device("cpu"), 2500)  # 2500-pixel windows
    small = Upscaler(network, precision="fp32", max_memory=budget)
    assert small.plan_for(60, 60).mode != "whole" and small.plan_for(20, 20).mode == "whole"
    split = evaluate_dataset(small, dataset, progress=False)
    assert split.in_patches == ["im0"] and split.to_dict()["in_patches"] == ["im0"]
    weights = tmp_path / "rtc.safetensors"
    save_weights(network, weights)
    assert main(["eval", str(dataset), "--weights", str(weights)]) == 0
    assert "ran in patches" not in capsys.readouterr().out


def test_the_command_names_the_images_that_ran_in_patches(tmp_path, capsys, monkeypatch):
    # Where the device's memory splits an image (a large one on a GPU), the score is not the
    # paper's whole-image one: `vsr eval` says which, below its table.
    import vsr.evaluate

    dataset = _make_dataset(tmp_path / "Tiny", sizes=((120, 120), (40, 40)))
    torch.manual_seed(0)
    network = create_model("imdn_rtc", 2).eval()
    weights = tmp_path / "rtc.safetensors"
    save_weights(network, weights)
    budget = memory_needed(network, torch.float32, torch.device("cpu"), 2500)
    whole_images = vsr.evaluate.evaluate_dataset

    def on_a_small_device(upscaler, *args, **kwargs):
        small = Upscaler(upscaler.model, precision="fp32", max_memory=budget)
        return whole_images(small, *args, **kwargs)

    monkeypatch.setattr(vsr.evaluate, "evaluate_dataset", on_a_small_device)
    assert main(["eval", str(dataset), "--weights", str(weights), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "note: Tiny: 1 image(s) ran in patches, so channel attention saw each patch, not the "
        "image: im0"
    )


def test_an_image_that_ran_in_smaller_windows_after_running_out_of_memory_is_named(
    tmp_path, monkeypatch
):
    # Out of GPU memory, the upscaler halves its windows and retries: the plan asked before
    # the call was "whole", and the image was listed as whole though it ran in tiles.
    import vsr.upscale

    dataset = _make_dataset(tmp_path / "Tiny", sizes=((120, 120),))
    torch.manual_seed(0)
    upscaler = Upscaler(create_model("imdn_rtc", 2).eval(), precision="fp32")
    upscaler.max_pixels = 6000  # the 60x60 input runs whole; half of it does not
    assert upscaler.plan_for(60, 60).mode == "whole"
    run_plan = vsr.upscale.run_plan

    def out_of_memory_when_whole(network, x, plan, *args, **kwargs):
        if plan.mode == "whole":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return run_plan(network, x, plan, *args, **kwargs)

    monkeypatch.setattr(vsr.upscale, "run_plan", out_of_memory_when_whole)
    with pytest.warns(UserWarning, match="out of GPU memory"):
        result = evaluate_dataset(upscaler, dataset, progress=False)
    assert result.in_patches == ["im0"]


def test_imdn_as_adaptive_cropping_is_not_named_as_a_split(tmp_path):
    # A side that is no multiple of 4 runs in the paper's four patches on any machine when
    # evaluated: realsr-subset's cam1_07 (2001 wide) was noted on every run. A budget's
    # split still is. Upscaling edge-pads it (the patches' sampling grids disagree).
    dataset = _make_dataset(tmp_path / "Odd", sizes=((90, 90),))  # IMDN_AS runs 90x90 at x2
    torch.manual_seed(0)
    network = create_model("imdn_as", 1).eval()
    upscaler = Upscaler(network, precision="fp32")
    assert upscaler.plan_for(90, 90).mode == "whole"
    plan_for, ran = upscaler.plan_for, []
    upscaler.plan_for = lambda height, width: ran.append(plan_for(height, width)) or ran[-1]
    assert evaluate_dataset(upscaler, dataset, scale=2, progress=False).in_patches == []
    assert {plan.mode for plan in ran} == {"four-patch"}
    del upscaler.plan_for
    assert upscaler.plan_for(90, 90).mode == "whole"  # as it was before the evaluation
    upscaler.max_pixels = 2000  # no quarter of 90x90 fits: tiles
    assert upscaler.plan_for(90, 90).mode == "tiles"
    assert evaluate_dataset(upscaler, dataset, scale=2, progress=False).in_patches == ["im0"]


# What macOS writes beside every file copied to a disk not its own: metadata, no picture.
_APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)


def test_hidden_files_in_a_dataset_are_left_out(tmp_path, capsys):
    dataset = _make_dataset(tmp_path / "Tiny")
    (dataset / "HR" / "._im0.png").write_bytes(_APPLEDOUBLE)
    (dataset / "HR" / ".DS_Store").write_bytes(bytes(16))
    result = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    assert [score.name for score in result.per_image] == ["im0", "im1"]
    assert (result.psnr, result.ssim) == pytest.approx(_expected_scores_of_visible(dataset, 2))
    weights = tmp_path / "random.safetensors"
    save_weights(create_model("imdn", scale=2), weights)
    report = tmp_path / "r.json"
    args = ["eval", str(dataset), "--weights", str(weights), "--device", "cpu", "--json"]
    assert main([*args, str(report)]) == 0, capsys.readouterr().err
    (record,) = json.loads(report.read_text())["results"]
    assert [image["name"] for image in record["per_image"]] == ["im0", "im1"]


def test_an_hr_folder_of_only_hidden_images_says_they_were_left_out(tmp_path):
    dataset = _make_dataset(tmp_path / "Tiny")
    for image in (dataset / "HR").iterdir():
        image.rename(image.with_name("." + image.name))
    (dataset / "HR" / ".DS_Store").write_bytes(bytes(16))
    with pytest.raises(VsrError) as refusal:
        evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    assert str(refusal.value) == (
        f"dataset {dataset}: no images in {dataset / 'HR'} "
        "(2 hidden file(s) left out: .im0.png, .im1.png)"
    )


def _expected_scores_of_visible(dataset, scale):
    visible = dataset.parent / f"{dataset.name}-visible"
    (visible / "HR").mkdir(parents=True)
    for path in (dataset / "HR").glob("im*.png"):
        (visible / "HR" / path.name).write_bytes(path.read_bytes())
    return _expected_scores(visible / "HR", scale)


@pytest.mark.parametrize("command", ["eval", "profile"])
def test_a_json_report_path_is_checked_alike_by_eval_and_profile(tmp_path, capsys, command):
    """One rule for --json, as for vsr run --report: a missing folder is made, a file where
    the folder should be is refused before any work."""
    if command == "eval":
        weights = tmp_path / "random.safetensors"
        save_weights(create_model("imdn", scale=2), weights)
        dataset = _make_dataset(tmp_path / "Tiny")
        args = ["eval", str(dataset), "--weights", str(weights), "--device", "cpu"]
    else:
        args = ["profile", "--model", "imdn", "--size", "16x16", "--device", "cpu"]
        args += ["--repeats", "1"]
    report = tmp_path / "no" / "such" / "r.json"
    assert main([*args, "--json", str(report)]) == 0, capsys.readouterr().err
    assert json.loads(report.read_text())  # written, its folders made
    (tmp_path / "file").write_text("")
    under_a_file = tmp_path / "file" / "r.json"
    assert main([*args, "--json", str(under_a_file)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"vsr: error: cannot write {under_a_file}: {tmp_path / 'file'} is a file, not a folder\n"
    )


@pytest.mark.parametrize("inputs", ["LR_bicubic", "made from HR"])
def test_two_hr_images_of_one_name_are_refused(tmp_path, capsys, inputs):
    """a.png and a.jpg, of one size: each was scored (against the one LR_bicubic/X2/ax2.png
    when there is one) and both were listed as 'a'."""
    dataset = tmp_path / "Twins"
    (dataset / "HR").mkdir(parents=True)
    rng = np.random.default_rng(1)
    first, second = (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    write_image(dataset / "HR" / "a.png", first)
    write_image(dataset / "HR" / "a.jpg", second)
    if inputs == "LR_bicubic":
        (dataset / "LR_bicubic" / "X2").mkdir(parents=True)
        write_image(dataset / "LR_bicubic" / "X2" / "ax2.png", imresize(first, scale=0.5))
    with pytest.raises(VsrError, match="a.jpg and a.png in HR/ have one name, a"):
        evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    weights = tmp_path / "random.safetensors"
    save_weights(create_model("imdn", scale=2), weights)
    report = tmp_path / "r.json"
    args = ["eval", str(dataset), "--weights", str(weights), "--device", "cpu"]
    assert main([*args, "--json", str(report)]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: dataset {dataset}: a.jpg and a.png in HR/ have one name, a, which an "
        "image's LR input and scores go by; keep one of them\n"
    )
    assert not report.exists()


@pytest.mark.parametrize("folder", ["LR_bicubic/X2", "LR"])
def test_two_inputs_of_one_name_are_refused(tmp_path, capsys, folder):
    """ax2.png and ax2.jpg in LR_bicubic/X2 (a.png and a.jpg in LR/): the first by extension
    order was scored, the other left without a word."""
    dataset = _make_dataset(tmp_path / "Twins", sizes=((32, 32),))
    hr = read_image(dataset / "HR" / "im0.png")
    name = "im0x2" if folder == "LR_bicubic/X2" else "im0"
    (dataset / folder).mkdir(parents=True)
    write_image(dataset / folder / f"{name}.png", imresize(hr, scale=0.5))
    write_image(dataset / folder / f"{name}.jpg", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(VsrError) as refusal:
        evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    assert str(refusal.value) == (
        f"dataset {dataset}: {name}.jpg and {name}.png in {folder}/ are both the input of "
        "im0.png; keep one of them"
    )
    weights = tmp_path / "random.safetensors"
    save_weights(create_model("imdn", scale=2), weights)
    assert main(["eval", str(dataset), "--weights", str(weights), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == f"vsr: error: {refusal.value}\n"
    (dataset / folder / f"{name}.jpg").unlink()  # one input: scored
    assert [
        s.name for s in evaluate_dataset(BicubicUpscaler(2), dataset, progress=False).per_image
    ] == ["im0"]


def test_a_fifo_given_as_a_dataset_is_one_line_not_a_traceback(tmp_path):
    # It passed exists() and was listed as a folder: NotADirectoryError.
    os.mkfifo(tmp_path / "ds")
    with pytest.raises(VsrError, match=r"ds: not a regular file; a dataset is a folder"):
        check_dataset(tmp_path / "ds")


def test_pictures_evaluation_does_not_read_are_named(tmp_path, capsys):
    # b.gif and c.ppm beside the PNGs were passed over without a word (the table said 2
    # images), and an HR/ of PPMs alone was "no images in .../HR". An image's extension in
    # upper case (im1.PNG) is read, not named.
    dataset = _make_dataset(tmp_path / "Mixed")
    (dataset / "HR" / "im1.png").rename(dataset / "HR" / "im1.PNG")
    hr = read_image(dataset / "HR" / "im0.png")
    Image.fromarray(hr).save(dataset / "HR" / "b.gif")
    Image.fromarray(hr).save(dataset / "HR" / "c.ppm")
    (dataset / "HR" / "._c.ppm").write_bytes(_APPLEDOUBLE)  # hidden: not named
    weights = tmp_path / "random.safetensors"
    save_weights(create_model("imdn", scale=2), weights)
    args = ["eval", str(dataset), "--weights", str(weights), "--device", "cpu"]
    assert evaluate_dataset(BicubicUpscaler(2), dataset, progress=False).images == 2
    assert main(args) == 0
    assert capsys.readouterr().err == (
        f"vsr: note: 2 file(s) in {dataset / 'HR'} left out (b.gif, c.ppm): "
        "evaluation reads PNG, BMP, WebP, JPEG and TIFF\n"
    )
    for image in [*(dataset / "HR").glob("*.png"), dataset / "HR" / "im1.PNG"]:
        image.unlink()
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: dataset {dataset}: no images in {dataset / 'HR'}; 2 file(s) in "
        f"{dataset / 'HR'} left out (b.gif, c.ppm): evaluation reads PNG, BMP, WebP, JPEG "
        "and TIFF\n"
    )


def test_a_folder_named_like_an_image_in_hr_is_passed_over(tmp_path, capsys):
    # HR/old.png/ stopped the evaluation: "HR/old.png is a folder; give an image file in it",
    # where LR/ and vsr image pass such folders over.
    dataset = _make_dataset(tmp_path / "Tiny")
    expected = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    (dataset / "HR" / "old.png").mkdir()
    found = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
    assert [score.name for score in found.per_image] == ["im0", "im1"]
    assert (found.psnr, found.ssim) == (expected.psnr, expected.ssim)
    weights = tmp_path / "random.safetensors"
    save_weights(create_model("imdn", scale=2), weights)
    assert main(["eval", str(dataset), "--weights", str(weights), "--device", "cpu"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("folder", "name"),
    [("LR", "im0x2"), ("LR", "im0X2"), ("LR_bicubic/X2", "im0"), ("LR_bicubic/X2", "im0X2")],
)
def test_an_input_named_in_the_other_folders_convention_is_found(tmp_path, folder, name):
    # LR/ax2.png was "no LR image a.* in .../LR", LR_bicubic/X2/a.png "no LR image ax2.*",
    # and LR_bicubic/X2/aX2.png refused too, though the folders' names are found in any case.
    flat = np.full((16, 16, 3), 128, np.uint8)  # not what bicubic makes: the score shows it
    scores = []
    for dataset, input_name in ((tmp_path / "Own", None), (tmp_path / "Other", name)):
        _make_dataset(dataset, sizes=((32, 32),))
        (dataset / folder).mkdir(parents=True)
        own = "im0" if folder == "LR" else "im0x2"
        write_image(dataset / folder / f"{input_name or own}.png", flat)
        result = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
        assert result.inputs == folder
        scores.append((result.psnr, result.ssim))
    assert scores[0] == scores[1]
    assert scores[0][0] < _expected_scores(tmp_path / "Own" / "HR", 2)[0] - 1


@pytest.mark.parametrize(
    ("folder", "own", "other"), [("LR", "im0", "im0x2"), ("LR_bicubic/X2", "im0x2", "im0")]
)
def test_a_folder_holding_an_input_under_both_names_takes_its_own(tmp_path, folder, own, other):
    # The other folder's name is the fallback: where both are there, the folder's own is
    # the input (LR/a.png before LR/ax2.png, LR_bicubic/X2/ax2.png before .../a.png).
    flat = np.full((16, 16, 3), 128, np.uint8)  # not what bicubic makes: the score shows it
    scores = []
    for dataset, names in ((tmp_path / "Own", [own]), (tmp_path / "Both", [own, other])):
        _make_dataset(dataset, sizes=((32, 32),))
        (dataset / folder).mkdir(parents=True)
        hr = read_image(dataset / "HR" / "im0.png")
        write_image(dataset / folder / f"{own}.png", flat)
        if other in names:
            write_image(dataset / folder / f"{other}.png", imresize(hr, scale=0.5))
        result = evaluate_dataset(BicubicUpscaler(2), dataset, progress=False)
        assert (result.inputs, result.images) == (folder, 1)
        scores.append((result.psnr, result.ssim))
    assert scores[0] == scores[1]
    assert scores[0][0] < _expected_scores(tmp_path / "Own" / "HR", 2)[0] - 1


def test_a_same_size_network_on_inputs_shrunk_by_a_factor_is_told_the_scale(tmp_path):
    # IMDN_AS on an LR/ of HR shrunk by 2 got "LR/im0.png is 17x13, but im0.png at x1 needs
    # 34x26" for each image, and no word of --scale 2, which scores it on them.
    dataset = _make_dataset(tmp_path / "Half")
    (dataset / "LR").mkdir()
    for hr in (dataset / "HR").iterdir():
        write_image(dataset / "LR" / hr.name, imresize(read_image(hr), scale=0.5))
    with pytest.raises(VsrError) as refusal:
        check_every_pair(dataset, 1)
    assert str(refusal.value) == (
        f"dataset {dataset}: the images in {dataset / 'LR'} are its HR images shrunk by 2, "
        "not the same-size inputs of a network that restores at its input's size; give "
        "scale=2 to score it on them enlarged by that factor"
    )
    check_every_pair(dataset, 2)  # as it says
    # One shrunk by another factor: no one scale to give, each pair is named.
    write_image(dataset / "LR" / "im1.png", np.zeros((10, 7, 3), np.uint8))
    with pytest.raises(VsrError, match="2 of the 2 images .* at x1 needs 34x26, .*LR/im1.png"):
        check_every_pair(dataset, 1)
    # One shrunk by 2 in height alone (26x34 to 13x15): scale=2 would refuse it as well,
    # so no scale is told, each pair is named.
    write_image(dataset / "LR" / "im1.png", imresize(read_image(dataset / "HR" / "im1.png"), 0.5))
    write_image(dataset / "LR" / "im0.png", np.zeros((13, 15, 3), np.uint8))
    with pytest.raises(VsrError, match="2 of the 2 images .*LR/im0.png is 15x13, but im0.png"):
        check_every_pair(dataset, 1)
    with pytest.raises(VsrError, match="LR/im0.png is 15x13, but im0.png at x2 needs 17x13$"):
        check_every_pair(dataset, 2)


@pytest.mark.parametrize(("scale", "side", "smallest"), [(2, 15, 16), (3, 17, 18), (4, 19, 20)])
def test_the_smallest_size_said_is_one_that_scores(tmp_path, scale, side, smallest):
    # "a.png is 15x15: too small to score at x2 (at least 15x15 pixels)": the image is cropped
    # to a multiple of the scale first, so the least it said was not enough.
    dataset = _make_dataset(tmp_path / "Small", sizes=((side, side),))
    upscaler = BicubicUpscaler(scale)
    with pytest.raises(VsrError) as refusal:
        evaluate_dataset(upscaler, dataset, progress=False)
    assert str(refusal.value) == (
        f"{dataset / 'HR' / 'im0.png'} is {side}x{side}: too small to score at x{scale} "
        f"(at least {smallest}x{smallest} pixels)"
    )
    write_image(dataset / "HR" / "im0.png", np.zeros((smallest, smallest, 3), np.uint8))
    assert evaluate_dataset(upscaler, dataset, progress=False).images == 1


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_an_input_made_from_the_stored_pixels_of_a_turned_image_names_the_turn(
    tmp_path, orientation
):
    # An HR JPEG stored 64x40 with EXIF orientation 6 (read 40x64) and its input made from
    # the stored pixels, as MATLAB's imread makes it: "rx2.png is 32x20, but r.jpg at x2
    # needs 20x32", and nothing named the EXIF orientation. Transpose (5) and transverse
    # (7) swap the sides as the quarter turns (6, 8) do.
    dataset = tmp_path / "Turned"
    (dataset / "HR").mkdir(parents=True)
    (dataset / "LR_bicubic" / "X2").mkdir(parents=True)
    stored = np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(dataset / "HR" / "r.jpg", exif=exif)
    lr = dataset / "LR_bicubic" / "X2" / "rx2.png"
    write_image(lr, imresize(stored, scale=0.5))
    with pytest.raises(VsrError) as refusal:
        check_every_pair(dataset, 2)
    assert str(refusal.value) == (
        f"{lr} is 32x20, but r.jpg at x2 needs 20x32: r.jpg is read turned a quarter by its "
        "EXIF orientation; make its input from the turned image"
    )
    # An input of another wrong size is no turn's doing: its size is all that is said.
    write_image(lr, imresize(stored, scale=0.25))
    with pytest.raises(VsrError) as refusal:
        check_every_pair(dataset, 2)
    assert str(refusal.value) == f"{lr} is 16x10, but r.jpg at x2 needs 20x32"
    write_image(lr, imresize(read_image(dataset / "HR" / "r.jpg"), scale=0.5))
    check_every_pair(dataset, 2)  # made from the turned image
