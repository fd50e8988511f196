"""Evaluate an upscaler on a benchmark folder the way the papers do (MATLAB convention).

A dataset folder holds ``HR/`` and one of:
- ``LR_bicubic/X{s}/<stem>x{s}.<ext>``: the published low-resolution inputs;
- ``LR/<stem>.<ext>``: paired inputs, HR shrunk by s, or of HR's size as for IMDN_AS on
  RealSR (a network that enlarges then gets inputs made from HR, as below);
- nothing else: inputs are made with MATLAB-exact bicubic from the HR cropped to a
  multiple of s, which is how the published inputs were made.

Network inputs are uint8 / 255 as float32; outputs are clamped and rounded to uint8 before
the metrics, as the official test script does. Metrics are Y-channel PSNR/SSIM with
``s`` pixels shaved (see vsr.metrics); for same-size pairs (s = 1) nothing is shaved and the
RGB PSNR over the whole image is reported too, as the RealSR numbers are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vsr.broken_links import not_a_regular_file
from vsr.errors import VsrError, option
from vsr.every_failure import each_or_every_failure
from vsr.files_left_out import left_out_note
from vsr.hidden_files import hidden_left_out, visible_files
from vsr.image import upscale_image
from vsr.imageio import IMAGE_EXTENSIONS, as_rgb, exif_orientation, read_image
from vsr.metrics import crop_to_common, psnr, shave_for, sr_metrics
from vsr.ops.imresize import imresize
from vsr.ops.tiling import plan_tiles
from vsr.printable import name_list
from vsr.progress import bars_shown
from vsr.upscale import Upscaler


@dataclass
class ImageScore:
    name: str
    psnr: float
    ssim: float
    psnr_rgb: float | None = None


@dataclass
class EvalResult:
    dataset: str
    scale: int
    model: str
    images: int
    psnr: float
    ssim: float
    psnr_rgb: float | None = None
    per_image: list[ImageScore] = field(default_factory=list)
    # Where the network's inputs came from: a folder of the dataset (LR_bicubic/X2, LR), or
    # MADE_FROM_HR. A score means little without it.
    inputs: str = ""
    # The network's arithmetic: the paper's numbers are fp32, and load_model's default on a
    # CPU with bf16 instructions is bf16 (Set5 x2: 37.9955 dB against fp32's 37.9960).
    precision: str = ""
    # Images whose network input the memory budget split (not IMDN_AS's adaptive cropping,
    # the paper's own): CCA's statistics then cover each patch, not the image, so their
    # scores are not the whole-image ones (Set5 x2 in 160-pixel patches: 37.9969 dB).
    in_patches: list[str] = field(default_factory=list)

    def to_dict(self, per_image: bool = False) -> dict:
        """The JSON record of ``vsr eval``; ``psnr_rgb`` only for same-size pairs."""
        record = {
            "dataset": self.dataset,
            "scale": self.scale,
            "model": self.model,
            "images": self.images,
            "inputs": self.inputs,
            "psnr": self.psnr,
            "ssim": self.ssim,
        }
        # precision is not repeated here: vsr eval's JSON gives it once, beside the device.
        if self.in_patches:
            record["in_patches"] = list(self.in_patches)
        if self.psnr_rgb is not None:
            record["psnr_rgb"] = self.psnr_rgb
        identical = [score.name for score in self.per_image if math.isinf(score.psnr)]
        if identical:
            record["identical_images"] = identical
        if per_image:
            record["per_image"] = [
                _json_finite({k: v for k, v in asdict(score).items() if v is not None})
                for score in self.per_image
            ]
        return _json_finite(record)


def _json_finite(record: dict) -> dict:
    """`record` with an infinite PSNR (an image that came back identical to its HR, and a
    mean over it) as null: JSON has no infinity, and the bare Infinity Python writes made
    the whole file unreadable to jq, JavaScript and most JSON libraries. The image is named
    under "identical" (per image) or "identical_images" (the dataset)."""
    infinite = [key for key in ("psnr", "psnr_rgb") if _is_inf(record.get(key))]
    if not infinite:
        return record
    if "name" in record:
        record["identical"] = True
    return {**record, **dict.fromkeys(infinite)}


def _is_inf(value: object) -> bool:
    return isinstance(value, float) and math.isinf(value)


MADE_FROM_HR = "made from HR (MATLAB bicubic)"


def _inputs_of(pairs: list[tuple[str, Path, Path | None]], dataset: Path) -> str:
    lr_path = pairs[0][2]
    return MADE_FROM_HR if lr_path is None else lr_path.parent.relative_to(dataset).as_posix()


def _image_files(folder: Path) -> list[Path]:
    """The images in ``folder``, hidden files (macOS's "._a.png") left out, by name.
    A folder named like one (HR/old.png/) is passed over, as vsr image passes it: taken
    for an image, it stopped the evaluation ("HR/old.png is a folder")."""
    return [path for path in visible_files(folder, IMAGE_EXTENSIONS) if not path.is_dir()]


def hr_files_left_out(dataset: Path) -> str:
    """A note on the files in the dataset's HR/ that evaluation does not read (a GIF, a PPM,
    notes.txt), or "": its score is of the other images alone, and said nothing of them
    let a user take it for the whole folder's."""
    return left_out_note(hr_folder_of(dataset), "evaluation")


def _images_by_stem(folder: Path) -> dict[str, list[Path]]:
    """The images in ``folder`` (as _image_files) by their names without the extension,
    from one listing: looked up once an HR image, a probe per extension would not see a
    second file of one name."""
    # is_file, as the probe for each extension was: a broken link (or a FIFO) is no input.
    return _by_stem(path for path in _image_files(folder) if path.is_file())


def _by_stem(paths: Iterable[Path]) -> dict[str, list[Path]]:
    """`paths` grouped by their names without the extension."""
    grouped: dict[str, list[Path]] = {}
    for path in paths:
        grouped.setdefault(path.stem, []).append(path)
    return grouped


def _input_names(stem: str, scale: int, published: bool) -> list[str]:
    """The names (without the extension) the input of HR image `stem` may have, the
    folder's own first: ``{stem}x{scale}`` in LR_bicubic/X{scale} (`published`), ``{stem}``
    in LR/. Each folder is found holding the other's too (LR/ax2.png, LR_bicubic/X2/a.png),
    and the x in either case (aX2.png), as the folders' own names are."""
    suffixed = [f"{stem}x{scale}", f"{stem}X{scale}"]
    return [*suffixed, stem] if published else [stem, *suffixed]


def _input_of(
    inputs: dict[str, list[Path]], names: list[str], hr: Path, dataset: Path
) -> Path | None:
    """The one input under the first of `names` that `inputs` holds (of any image
    extension), or None; two of one name (ax2.png and ax2.jpg) are refused, as two HR images
    of one name are: which one was made from the HR image is not for vsr to guess, and the
    extension order used to pick one silently."""
    found = next((inputs[name] for name in names if name in inputs), [])
    if len(found) > 1:
        both = " and ".join(path.name for path in found)
        where = found[0].parent.relative_to(dataset).as_posix()
        raise VsrError(
            f"dataset {dataset}: {both} in {where}/ are both the input of {hr.name}; "
            "keep one of them"
        )
    return found[0] if found else None


def _as_rgb(image: np.ndarray, path: Path) -> np.ndarray:
    """H x W x 3 uint8: grey replicated to three channels (as the official script does)."""
    if image.dtype != np.uint8:
        raise VsrError(f"{path}: evaluation needs 8-bit images, got {image.dtype}")
    return as_rgb(image)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale``."""
    h, w = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    return image[:h, :w]


def check_dataset(dataset: Path) -> None:
    """Refuse a benchmark folder that is missing or has no HR/ inside."""
    if not dataset.exists():
        raise VsrError(f"dataset {dataset} not found")
    # The dataset's own HR folder, or one image of it, given for the dataset: the folder
    # holding HR/ is the one meant.
    inside = dataset if dataset.is_dir() else dataset.parent
    if inside.name.lower() == "hr" and inside.parent != inside:
        what = "a dataset's HR folder" if dataset.is_dir() else "one of a dataset's HR images"
        # "hr" given as it is: its folder is ".", which alone ended the line as a stray dot.
        folder = ". (the working folder)" if inside.parent == Path(".") else inside.parent
        raise VsrError(f"{dataset} is {what}; give the dataset's folder, {folder}")
    if dataset.is_file():
        raise VsrError(f"{dataset} is a file; a dataset is a folder with HR/ inside")
    if why := not_a_regular_file(dataset):  # a FIFO: listed as a folder, a traceback
        raise VsrError(f"{dataset}: {why}; a dataset is a folder with HR/ inside")
    if hr_folder_of(dataset) is None:
        # A flat folder of pictures is the usual first try: say the layout that is wanted.
        raise VsrError(
            f"dataset {dataset} has no HR/ folder: put its high-resolution images in "
            f"{dataset / 'HR'} (inputs, if any, in LR_bicubic/X2/ and so on beside it)"
        )


def _subfolder(parent: Path, name: str) -> Path | None:
    """``parent / name``, its name in any case (lr_bicubic/x2 is LR_bicubic/X2), or None."""
    if (parent / name).is_dir():
        return parent / name
    found = sorted(p for p in parent.iterdir() if p.name.lower() == name.lower() and p.is_dir())
    if len(found) > 1:  # which one holds the inputs? not for vsr to guess
        names = " and ".join(p.name for p in found)
        raise VsrError(f"{parent}: both {names}; name the inputs' folder {name}")
    return found[0] if found else None


def hr_folder_of(dataset: Path) -> Path | None:
    """The dataset's HR folder, in any case (hr/ as LR_bicubic's are found in any case)."""
    return _subfolder(dataset, "HR")


def bicubic_folder(dataset: Path, scale: int) -> Path | None:
    """The dataset's published inputs for ``scale`` (LR_bicubic/X{scale}), if it has them."""
    top = _subfolder(dataset, "LR_bicubic")
    return None if top is None else _subfolder(top, f"X{scale}")


def dataset_pairs(dataset: Path, scale: int) -> list[tuple[str, Path, Path | None]]:
    """(name, HR path, LR path or None when the input must be generated), sorted by name;
    refused, naming them all, where the dataset gives inputs but lacks some."""
    pairs, missing, given = _pairs_and_missing(dataset, scale)
    if len(missing) == 1:
        raise VsrError(f"dataset {dataset}: no LR image {next(iter(missing.values()))} in {given}")
    if missing:  # all of them at once, as check_every_pair names damaged images
        raise VsrError(
            f"dataset {dataset}: no LR image for {len(missing)} of the {len(pairs)} HR "
            f"images in {given}: {name_list(list(missing.values()))}"
        )
    return pairs


def _pairs_and_missing(
    dataset: Path, scale: int
) -> tuple[list[tuple[str, Path, Path | None]], dict[str, str], Path | None]:
    """The dataset's pairs (see dataset_pairs), the LR inputs missing among those it gives
    ({name: "namex2.*"}; their pairs hold None), and the folder that gives them."""
    check_dataset(dataset)
    hr_folder = hr_folder_of(dataset)
    hr_files = _image_files(hr_folder)
    if not hr_files:
        hidden = hidden_left_out(hr_folder, IMAGE_EXTENSIONS)
        # What is there instead (a.ppm, b.gif): "no images" alone, beside them, puzzled.
        others = left_out_note(hr_folder, "evaluation")
        raise VsrError(
            f"dataset {dataset}: no images in {hr_folder}{hidden}"
            + (f"; {others}" if others else "")
        )
    _check_names_differ(hr_files, dataset)
    bicubic = bicubic_folder(dataset, scale)
    paired = _subfolder(dataset, "LR")
    paired_inputs = {} if paired is None else _images_by_stem(paired)
    if (
        paired is not None
        and scale > 1
        and _same_size_pair(paired_inputs, hr_files[0], scale, dataset)
    ):
        paired = None  # IMDN_AS's pairs (RealSR): no inputs for a network that enlarges
    if bicubic is not None:
        inputs = _images_by_stem(bicubic)
    else:
        inputs = paired_inputs if paired is not None else {}
    if bicubic is None and paired is None and scale == 1:
        # IMDN_AS (same-size) on a benchmark of bicubic inputs: the scale it is to restore.
        raise VsrError(
            f"dataset {dataset} has no same-size inputs (an LR/ folder) for a network that "
            f"restores at its input's size; give {option('--scale', 2)} (or 3, 4) to score it "
            "on inputs shrunk and enlarged again by that factor"
        )
    given = bicubic if bicubic is not None else paired
    pairs, missing = [], {}
    for hr in hr_files:
        lr = None
        if given is not None:
            names = _input_names(hr.stem, scale, published=bicubic is not None)
            lr = _input_of(inputs, names, hr, dataset)
            if lr is None:
                missing[hr.stem] = f"{names[0]}.*"
        pairs.append((hr.stem, hr, lr))
    return pairs, missing, given


def _check_names_differ(hr_files: list[Path], dataset: Path) -> None:
    """Refuse two HR images of one name but for the extension (a.png and a.jpg): an image
    is known by its name alone, so both would be scored against the one LR input
    (LR_bicubic/X2/ax2.*), and the per-image scores would name two images alike."""
    for stem, paths in _by_stem(hr_files).items():
        if len(paths) > 1:
            names = " and ".join(path.name for path in paths)
            raise VsrError(
                f"dataset {dataset}: {names} in HR/ have one name, {stem}, "
                "which an image's LR input and scores go by; keep one of them"
            )


def _same_size_pair(lr_inputs: dict[str, list[Path]], hr: Path, scale: int, dataset: Path) -> bool:
    """Whether the LR image paired with `hr` (among `lr_inputs`, LR/'s images by name) is of
    its size (judged by the first pair)."""
    lr = _input_of(lr_inputs, _input_names(hr.stem, scale, published=False), hr, dataset)
    return lr is not None and read_image(lr).shape[:2] == read_image(hr).shape[:2]


def _check_pair(lr: np.ndarray, hr: np.ndarray, scale: int, lr_path: Path, hr_path: Path) -> None:
    """A given LR must be its HR shrunk by ``scale`` (rounded down, as the published inputs
    are): a mismatched pair would be cropped to a common size and give a meaningless score."""
    expected = (hr.shape[0] // scale, hr.shape[1] // scale)
    if lr.shape[:2] != expected:
        # An input made from the stored pixels of an HR image that its EXIF orientation
        # turns (as MATLAB's imread makes it) is the other way round; said of its size
        # alone, the turn that vsr read the HR image with was left to be guessed.
        turned = lr.shape[:2] == expected[::-1] and _turned_a_quarter(hr_path)
        raise VsrError(
            f"{lr_path} is {lr.shape[1]}x{lr.shape[0]}, but {hr_path.name} at x{scale} "
            f"needs {expected[1]}x{expected[0]}"
            + (
                f": {hr_path.name} is read turned a quarter by its EXIF orientation; make its "
                "input from the turned image"
                if turned
                else ""
            )
        )


def _turned_a_quarter(path: Path) -> bool:
    """Whether the EXIF orientation of the image at `path` turns it by a quarter (5 to 8),
    swapping its stored width and height."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return exif_orientation(image) in (5, 6, 7, 8)
    except (OSError, ValueError):
        return False  # the size told stands on its own


# SSIM's Gaussian window must fit in what is left after the shave.
_SSIM_WINDOW = 11


def check_scorable(height: int, width: int, scale: int, path: Path) -> None:
    """Refuse an HR image too small to be scored at ``scale`` (its shaved Y must hold one
    SSIM window), naming it, rather than failing inside the metrics."""
    # Said as a multiple of the scale, since the image is cropped to one first: "at least
    # 15x15" at x2 was said of a 15x15 image.
    smallest = math.ceil((2 * shave_for(scale) + _SSIM_WINDOW) / scale) * scale
    if min(height - height % scale, width - width % scale) < smallest:
        raise VsrError(
            f"{path} is {width}x{height}: too small to score at x{scale} "
            f"(at least {smallest}x{smallest} pixels)"
        )


def _read_pair(
    hr_path: Path, lr_path: Path | None, scale: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The HR image and its given LR input (None where none is given), as RGB, checked to
    be scorable at ``scale`` and of each other's size."""
    hr = _as_rgb(read_image(hr_path), hr_path)
    check_scorable(hr.shape[0], hr.shape[1], scale, hr_path)
    if lr_path is None:
        return hr, None
    lr = _as_rgb(read_image(lr_path), lr_path)
    _check_pair(lr, hr, scale, lr_path, hr_path)
    return hr, lr


def check_every_pair(dataset: Path, scale: int) -> None:
    """Read and check every image of `dataset` at `scale` before any is scored, and name all
    those that fail in one error, missing LR inputs among them: a damaged or mismatched
    image ended the scoring where it came, after minutes of work on a CPU, and the next run
    at the next one; and missing inputs, named first alone, hid the damaged images."""
    pairs, missing, given = _pairs_and_missing(dataset, scale)

    def check(pair: tuple[str, Path, Path | None]) -> None:
        name, hr_path, lr_path = pair
        if name not in missing:
            _read_pair(hr_path, lr_path, scale)  # and drops it: a dataset may not fit in memory
            return
        lacking = f"no LR image {missing[name]} in {given}"
        try:
            _read_pair(hr_path, None, scale)  # its HR image may fail too
        except VsrError as error:
            raise VsrError(f"{error}, and {lacking}") from None
        raise VsrError(lacking)

    try:
        each_or_every_failure(
            pairs,
            check,
            lambda pair, error: str(error),
            f"images of dataset {dataset} cannot be scored",
        )
    except VsrError:
        # IMDN_AS on a benchmark's LR/ (HR shrunk by 2): each pair was "LR/a.png is 32x24,
        # but a.png at x1 needs 64x48", and nothing said what to do, as the case without
        # LR/ does (_pairs_and_missing).
        factor = _shrunk_by(pairs) if scale == 1 and given is not None else None
        if factor is None:
            raise
        raise VsrError(
            f"dataset {dataset}: the images in {given} are its HR images shrunk by {factor}, "
            "not the same-size inputs of a network that restores at its input's size; give "
            f"{option('--scale', factor)} to score it on them enlarged by that factor"
        ) from None


def _shrunk_by(pairs: list[tuple[str, Path, Path | None]]) -> int | None:
    """The one whole factor (2 or more) by which every given LR input is its HR image
    shrunk (its sides rounded down, as _check_pair wants them), or None."""
    factors = set()
    for _, hr_path, lr_path in pairs:
        if lr_path is None:
            return None
        try:
            hr, lr = read_image(hr_path).shape[:2], read_image(lr_path).shape[:2]
        except VsrError:  # named as it is, in the error this would replace
            return None
        factor = hr[0] // max(lr[0], 1)
        if factor < 2 or (hr[0] // factor, hr[1] // factor) != lr:
            return None
        factors.add(factor)
    return factors.pop() if len(factors) == 1 else None


@contextmanager
def _cropped_as_its_paper(upscaler: Upscaler) -> Iterator[None]:
    """While evaluating, a network whose paper ran a side off its input multiple in four
    patches (IMDN_AS's adaptive cropping: `adaptive_cropping` on the network) runs so, as its
    official results were made; vsr run, vsr image and the API edge-pad such a frame
    (vsr.upscale.Upscaler.adaptive_cropping)."""
    network = getattr(upscaler, "model", None)
    if not getattr(network, "adaptive_cropping", False) or not hasattr(
        upscaler, "adaptive_cropping"
    ):
        yield
        return
    before, upscaler.adaptive_cropping = upscaler.adaptive_cropping, True
    try:
        yield
    finally:
        upscaler.adaptive_cropping = before


def evaluate_dataset(
    upscaler: Upscaler,
    dataset: Path,
    scale: int | None = None,
    progress: bool = True,
    model_name: str | None = None,
) -> EvalResult:
    """PSNR/SSIM of ``upscaler`` on one dataset folder at ``scale`` (default: the model's)."""
    dataset = Path(dataset)
    scale = upscaler.output_scale if scale is None else int(scale)
    pairs = dataset_pairs(dataset, scale)
    same_size = scale == 1
    scores = []
    in_patches = []
    with _cropped_as_its_paper(upscaler):
        for name, hr_path, lr_path in tqdm(
            pairs,
            desc=f"{dataset.name} x{scale}",
            unit="img",
            disable=not bars_shown(progress),  # a log gets no carriage returns
            leave=False,
        ):
            hr, lr = _read_pair(hr_path, lr_path, scale)
            if lr is None:
                hr = modcrop(hr, scale)
                lr = imresize(hr, scale=1 / scale)
            sr, hr = crop_to_common(upscale_image(upscaler, lr, scale), hr)
            # Asked after the call: out of GPU memory, the upscaler retries with smaller windows
            # and keeps them, so the plan before it may not be the one the image ran in.
            # IMDN_AS enlarges its input first (vsr.image.upscaled_by): that is what it runs on.
            # A stand-in network without a tile plan (a plain callable) runs whole.
            # Only a split the memory budget made is named: IMDN_AS runs a side that is no
            # multiple of 4 in the paper's four patches (adaptive cropping) here whatever
            # the machine, its own convention, and naming it noted realsr-subset's cam1_07
            # (2001 wide) on every run.
            grow = scale if upscaler.scale == 1 else 1
            plan_for = getattr(upscaler, "plan_for", None)
            if plan_for is not None:
                height, width = lr.shape[0] * grow, lr.shape[1] * grow
                unlimited = plan_tiles(
                    height,
                    width,
                    None,
                    getattr(upscaler, "input_multiple", 1),
                    adaptive_cropping=getattr(upscaler, "adaptive_cropping", False),
                )
                if plan_for(height, width).mode != unlimited.mode:
                    in_patches.append(name)
            y_psnr, y_ssim = sr_metrics(sr, hr, scale)
            scores.append(
                ImageScore(
                    name=name,
                    psnr=y_psnr,
                    ssim=y_ssim,
                    psnr_rgb=psnr(sr, hr) if same_size else None,
                )
            )
    return EvalResult(
        dataset=dataset.resolve().name,
        scale=scale,
        model=model_name or upscaler.arch,
        images=len(scores),
        psnr=float(np.mean([s.psnr for s in scores])),
        ssim=float(np.mean([s.ssim for s in scores])),
        psnr_rgb=float(np.mean([s.psnr_rgb for s in scores])) if same_size else None,
        per_image=scores,
        inputs=_inputs_of(pairs, dataset),
        precision=getattr(upscaler, "precision", ""),  # "" for a stand-in: not known
        in_patches=in_patches,
    )
