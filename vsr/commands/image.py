"""`vsr image`: upscale one still image or a folder of them."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vsr.broken_links import not_a_regular_file
from vsr.errors import VsrError, describe_error, is_out_of_space
from vsr.printable import printable

if TYPE_CHECKING:
    from vsr.upscale import Upscaler


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image",
        help="upscale an image or a folder of images",
        description="Upscale still images (PNG, BMP, JPEG, WebP, TIFF, GIF) and animations "
        "(GIF, WebP, APNG: every frame, their durations and loop count kept, when OUT is a "
        ".gif, .webp, .png or .apng; a GIF holds 256 colours a frame and on/off transparency). Grey, grey + alpha, RGBA "
        "(alpha enlarged with bicubic) and 16-bit PNG and TIFF (16 bits kept in a .png, .apng, "
        ".tif or .tiff output; the other types hold 8) "
        "are handled; EXIF orientation is applied; the colour profile, the resolution (times "
        "the scale), the EXIF and the XMP are kept where the output type holds them, and a note names "
        "what it does not. With a folder IN, OUT is a folder and "
        "existing outputs are skipped; an image that fails is listed at the end (exit 1) and "
        "the others are still done, but a full output disk stops the folder (exit 2).",
    )
    parser.add_argument("input", metavar="IN", help="image file or folder of images")
    parser.add_argument(
        "output",
        metavar="OUT",
        help="output image file, or folder (one ending in / is made if missing)",
    )
    parser.add_argument("--scale", type=int, help="upscaling factor (default: the model's)")
    parser.add_argument(
        "--weights", help="weights file or manifest name (default: the project's weights)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: auto)")
    parser.add_argument(
        "--precision",
        choices=["fp32", "fp16", "bf16"],
        help="network precision (default: fp16 on a GPU; on the CPU bf16 where it has bf16 "
        "instructions, else fp32)",
    )
    parser.add_argument(
        "--max-memory",
        help="network memory budget, e.g. 2GiB: a picture that needs more is upscaled in "
        "overlapping tiles (default: half the RAM, or most of the free GPU memory)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(func=run)


def _jobs(
    source: Path, target: Path, overwrite: bool, folder_meant: bool = False
) -> tuple[list[tuple[Path, Path]], int]:
    """(input, output) pairs still to do, and how many are skipped (their outputs exist).
    ``folder_meant``: OUT was written with a trailing slash (a folder, made if missing).
    The output folder is made here, once IN and OUT are checked, as vsr run makes its own."""
    from vsr.folder import make_output_folder
    from vsr.foreign_links import linked_by_another_user, say_links_left_alone
    from vsr.hidden_files import hidden_left_out, visible_files
    from vsr.image_file import check_image_input, check_output_path, image_output
    from vsr.imageio import OUTPUT_EXTENSIONS
    from vsr.output_in_the_way import finished_output
    from vsr.subfolders import subfolders_left_alone

    if source.is_dir():
        if target.exists() and target.resolve() == source.resolve():
            raise VsrError("OUT is the same as IN; choose another output path")
        if target.exists() and not target.is_dir():
            raise VsrError(f"{target} is a file; with a folder IN, OUT must be a folder")
        if not target.exists() and not folder_meant and target.suffix.lower() in OUTPUT_EXTENSIONS:
            # As vsr run refuses clips/ out.mp4: it made a folder called upscaled.png.
            raise VsrError(
                f"{target} looks like an image file name; with a folder IN, OUT must be a "
                "folder (end it with / to mean a folder of that name)"
            )
        # As vsr run says of clips: pictures sorted into subfolders are not taken, and
        # "no images in IN" alone would leave the user guessing why.
        _say_notes(subfolders_left_alone(source, target, "images"))
        # A folder named like a picture ("2024.png") is a subfolder, named as one above;
        # listed as an image too, it failed as "image not found" after that note.
        inputs = [p for p in visible_files(source, OUTPUT_EXTENSIONS) if not p.is_dir()]
        # As vsr run leaves them: in a drop folder, another user's link to a private file
        # was upscaled into an output they may read (vsr.foreign_links).
        foreign = [p for p in inputs if linked_by_another_user(p)]
        say_links_left_alone(foreign, _say, "image")
        inputs = [p for p in inputs if p not in foreign]
        if not inputs:
            raise VsrError(f"no images in {source}{hidden_left_out(source, OUTPUT_EXTENSIONS)}")
        # A one-line error, not a traceback, for an OUT under a file or where none can be.
        make_output_folder(target)
        pairs = [(p, target / p.name) for p in inputs]
        to_do = [(i, o) for i, o in pairs if not finished_output(o, overwrite)]
        return to_do, len(pairs) - len(to_do)
    check_image_input(source)
    target = image_output(source, target, folder_meant)  # argparse keeps "newdir/" as typed
    # vsr.upscale_image checks it again; here the mistake is told before the model loads.
    check_output_path(source, target, overwrite)
    return [(source, target)], 0


def run(args: argparse.Namespace) -> int:
    from vsr.api import load_model, upscale_image
    from vsr.pipelines import parse_memory

    # As vsr run reads it, before anything is looked at: a typo is the first thing said.
    budget = parse_memory(args.max_memory, "--max-memory") if args.max_memory else None
    source, target = Path(args.input), Path(args.output)
    folder_meant = args.output.endswith(("/", os.sep))
    jobs, skipped = _jobs(source, target, args.overwrite, folder_meant)
    if source.is_dir():
        _say_notes(_left_out_of_folder(source))
    if not jobs:
        # A note, as vsr run's for a folder whose outputs all exist: on stderr, "vsr: ".
        _say(nothing_to_do(target))
        return 0
    upscaler = load_model(
        args.weights,
        scale=args.scale,
        device=args.device,
        precision=args.precision,
        max_memory=budget,
    )
    if args.scale is not None:
        from vsr.scaling import larger_weights_note, network_scale_for

        # Said once, as vsr run says it, not once an image.
        if note := larger_weights_note(upscaler.scale, network_scale_for(args.scale)):
            _say_note(note)
    if not source.is_dir():
        image_in, image_out = jobs[0]
        upscale_image(
            upscaler,
            image_in,
            args.output,  # as typed: the call takes a folder OUT as _jobs did, into image_out
            args.scale,
            args.overwrite,
            progress=True,
            on_note=_say_note,
        )
        print(printable(f"wrote {image_out}"))
        return 0
    tally = _Tally(skipped=skipped)
    try:
        out_of_space = _upscale_each(jobs, upscaler, args, tally)
    except KeyboardInterrupt:
        # What was done and what failed is said, as vsr run says it of a folder after
        # Ctrl-C: the images that had failed went untold.
        # Of the jobs (the outputs existing at the listing are none of them), those without
        # an outcome: the one being upscaled, and the ones after it.
        outcomes = tally.done + len(tally.failures) + tally.skipped - skipped
        left = len(jobs) - outcomes
        _say(f"vsr: {tally.done} done, {len(tally.failures)} failed, {left} not done (stopped)")
        _say_failures(tally.failures)
        raise
    done, skipped, failures = tally.done, tally.skipped, tally.failures
    if out_of_space is not None:
        _say_failures(failures)  # they are not told as they happen
        raise out_of_space
    skipped_text = f", {skipped} skipped (their outputs exist)" if skipped else ""
    # On stderr, where vsr run says its folder's summary and every "vsr: " line goes:
    # stdout keeps only what a script reads (the single image's "wrote" line).
    _say(f"vsr: {done} done{skipped_text}, {len(failures)} failed")
    _say_failures(failures)
    return 1 if failures else 0


@dataclass
class _Tally:
    """How a folder's images went so far: kept by the caller through a Ctrl-C."""

    done: int = 0
    skipped: int = 0  # their outputs exist (at the listing, or at their turn)
    failures: list[tuple[Path, str]] = field(default_factory=list)


def _upscale_each(
    jobs: list[tuple[Path, Path]], upscaler: Upscaler, args: argparse.Namespace, tally: _Tally
) -> OSError | None:
    """Upscale a folder's images one by one into `tally`; the full disk that stopped it."""
    from tqdm import tqdm

    from vsr.api import upscale_image
    from vsr.folder import stopped_at
    from vsr.foreign_links import REFUSAL, linked_by_another_user
    from vsr.output_in_the_way import finished_output, in_the_way
    from vsr.progress import bars_shown

    # A bar only where it can be drawn: in a log its carriage returns pile up. Closed
    # before a full disk is told.
    with tqdm(jobs, unit="img", disable=not bars_shown()) as bar:
        for image_in, image_out in bar:
            # Looked at again at its turn, as vsr run does a folder's clips: another run over
            # the same folder may have made it since the listing, and it was redone, then
            # failed as "already exists".
            if finished_output(image_out, args.overwrite):
                tally.skipped += 1
                continue
            try:
                if why := in_the_way(image_out, args.overwrite):
                    raise VsrError(why)
                if linked_by_another_user(image_in):  # swapped in since the listing
                    raise VsrError(REFUSAL)
                # Said as vsr run says it of a clip; a FIFO named like a picture is not opened:
                # Pillow waited on it for ever.
                if why := not_a_regular_file(image_in):
                    raise VsrError(why)
                upscale_image(
                    upscaler, image_in, image_out, args.scale, args.overwrite, on_note=_say_note
                )
            except Exception as error:  # one bad image must not stop the folder (as vsr run)
                if is_out_of_space(error):
                    # A full or read-only disk stops it, as vsr run: every later image would be
                    # upscaled only to fail the same way.
                    return stopped_at(image_in, error, "images")
                if not args.overwrite and _made_meanwhile(image_out):
                    # Another run wrote it while this one did (its file is kept): it is done.
                    tally.skipped += 1
                    continue
                tally.failures.append((image_in, describe_error(error)))
                continue
            tally.done += 1
    return None


def _made_meanwhile(output: Path) -> bool:
    """Whether a whole image is at `output`, absent at its turn: another run's, put there
    while this one worked on it (vsr writes an image whole or not at all)."""
    from vsr.atomic_file import is_of_kind

    # is_of_kind takes an empty file for one of any kind: here it is no finished image.
    return output.is_file() and output.stat().st_size > 0 and is_of_kind(output, "image")


def _say_failures(failures: list[tuple[Path, str]]) -> None:
    # A rerun retries only these (the others exist).
    for image_in, reason in failures:
        _say(f"vsr:   failed: {image_in.name}: {reason}")


def _say_notes(notes: list[str]) -> None:
    for note in notes:
        _say_note(note)


def _say_note(note: str) -> None:
    """A note of upscale_image's, said as a line of its own and not as a warning: Python
    shows a warning of one place and text once a process, and a script's second main()
    would lose it."""
    _say(f"vsr: note: {note}")


def _say(line: str) -> None:
    # tqdm.write: a line said while a folder's bar is drawn goes above it, not onto its end.
    from tqdm import tqdm

    tqdm.write(printable(line), file=sys.stderr)


def nothing_to_do(out_dir: Path) -> str:
    """What a folder run whose every output exists says (vsr image and vsr run alike)."""
    return f"vsr: nothing to do: every output already exists in {out_dir} (--overwrite redoes them)"


# Picture types Pillow decodes that vsr reads but does not write (not its stubs and
# save-only types: MPEG, PDF, HDF5 are no pictures vsr can take).
_OTHER_PICTURE_TYPES = {
    ".jfif", ".jpe", ".avif", ".avifs", ".tga", ".ppm", ".pgm", ".pbm", ".pnm",
    ".pfm", ".ico", ".cur", ".icns", ".dib", ".qoi", ".jp2", ".j2k", ".j2c", ".jpc", ".jpf",
    ".jpx", ".psd", ".sgi", ".bw", ".rgb", ".rgba", ".dds", ".pcx", ".xbm", ".xpm", ".icb",
    ".vda", ".vst",
}  # fmt: skip


def _left_out_of_folder(folder: Path) -> list[str]:
    """A note on the folder's images of types vsr reads but does not write (AVIF, TGA, PPM,
    ...: _OTHER_PICTURE_TYPES), which a folder run leaves out: each output keeps its
    input's name. A GIF is no such type: vsr writes GIFs, and a folder run upscales them."""
    from PIL import Image

    from vsr.hidden_files import visible_files
    from vsr.printable import name_list

    readable = set(Image.registered_extensions()) & _OTHER_PICTURE_TYPES
    left = [p.name for p in visible_files(folder, readable)]
    if not left:
        return []
    return [
        f"left out {len(left)} image(s) of types vsr does not write: {name_list(left)}; "
        "upscale each to a .png (vsr image IN OUT.png)"
    ]
