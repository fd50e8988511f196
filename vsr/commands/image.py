"""`vsr image`: upscale one still image or a folder of them."""

from __future__ import annotations

import argparse
from pathlib import Path

from vsr.errors import VsrError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image",
        help="upscale an image or a folder of images",
        description="Upscale still images (PNG, BMP, JPEG, WebP, TIFF). Grey, RGBA (alpha "
        "enlarged with bicubic) and 16-bit PNG (kept 16-bit) are handled; EXIF orientation "
        "is applied. With a folder IN, OUT is a folder and existing outputs are skipped.",
    )
    parser.add_argument("input", metavar="IN", help="image file or folder of images")
    parser.add_argument("output", metavar="OUT", help="output image file, or folder")
    parser.add_argument("--scale", type=int, help="upscaling factor (default: the model's)")
    parser.add_argument(
        "--weights", help="weights file or manifest name (default: the project's weights)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(func=run)


def _jobs(source: Path, target: Path, overwrite: bool) -> list[tuple[Path, Path]]:
    """(input, output) pairs still to do."""
    from vsr.imageio import IMAGE_EXTENSIONS

    if target.exists() and target.resolve() == source.resolve():
        raise VsrError("OUT is the same as IN; choose another output path")
    if source.is_dir():
        if target.exists() and not target.is_dir():
            raise VsrError(f"{target} is a file; with a folder IN, OUT must be a folder")
        inputs = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not inputs:
            raise VsrError(f"no images in {source}")
        pairs = [(p, target / p.name) for p in inputs]
        return [(i, o) for i, o in pairs if overwrite or not o.exists()]
    if not source.is_file():
        raise VsrError(f"input not found: {source}")
    if target.is_dir():
        target = target / source.name
        if target.resolve() == source.resolve():
            raise VsrError("OUT is the folder of IN, so the output would replace the input")
    if target.exists() and not overwrite:
        raise VsrError(f"{target} exists; use --overwrite to replace it")
    return [(source, target)]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vsr.api import load_model
    from vsr.image import upscale_image
    from vsr.imageio import read_image, write_image

    source, target = Path(args.input), Path(args.output)
    jobs = _jobs(source, target, args.overwrite)
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    if not jobs:
        print(f"nothing to do: every output already exists in {target}")
        return 0
    upscaler = load_model(args.weights, scale=args.scale, device=args.device)
    show_progress = source.is_dir()
    for image_in, image_out in tqdm(jobs, unit="img", disable=not show_progress):
        pixels = read_image(image_in)
        write_image(image_out, upscale_image(upscaler, pixels, args.scale))
    if not show_progress:
        print(f"wrote {jobs[0][1]}")
    return 0
