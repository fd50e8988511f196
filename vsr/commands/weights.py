"""`vsr weights`: list the known weights, download an official checkpoint into the cache,
export the network of a training checkpoint."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="list known weights, download official ones, or export a training checkpoint's "
        "network as weights",
        description="The project's own weights ship in weights/; the official IMDN "
        "checkpoints are downloaded on request into $VSR_CACHE (default ~/.cache/vsr).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the weights in the manifest")
    listing.set_defaults(func=list_weights)
    fetch = actions.add_parser("download", help="download official weights, checking sha256")
    fetch.add_argument("name", help="a name from `vsr weights list`, e.g. IMDN_x3")
    fetch.set_defaults(func=download_weights)
    export = actions.add_parser(
        "export",
        help="write the network of a training checkpoint (a run's last.pt) as weights",
        description="A run stopped before its end has last.pt but no last.safetensors; this "
        "writes the network it holds as safetensors weights, which --weights takes.",
    )
    export.add_argument("checkpoint", help="a training checkpoint, e.g. runs/x2/last.pt")
    export.add_argument("output", help="the weights file to write (.safetensors)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output")
    export.set_defaults(func=export_checkpoint)


def list_weights(args: argparse.Namespace) -> int:
    from vsr.text_table import text_table
    from vsr.weights import load_manifest, local_path

    header, rows = ("NAME", "ARCH", "SCALE", "SET5 PSNR", "WHERE"), []
    for name, entry in load_manifest().items():
        path = local_path(entry)
        if not entry.get("url"):
            where = str(path) if path.is_file() else f"{path} (missing)"
        elif path.is_file():  # the checkpoints are a few MB: summing them all is quick
            where = f"{path} ({_cached_copy_state(path, entry, name)})"
        else:
            where = f"download: vsr weights download {name}"
        set5 = (entry.get("metrics") or {}).get("Set5") or {}
        psnr = f"{set5['psnr']:.2f}" if set5.get("psnr") is not None else "-"
        scale = f"x{entry['scale']}" if entry.get("scale") else "any"
        rows.append((name, entry.get("arch", "?"), scale, psnr, where))
    for line in text_table(header, rows, right_aligned_from=None, rule=False):
        print(line)
    return 0


def _cached_copy_state(path, entry: dict, name: str) -> str:
    """What `vsr weights list` says of a downloaded checkpoint: whether it passes its
    sha256 check, or cannot even be read (the listing goes on either way)."""
    from vsr.weights import sha256_of

    try:
        same = sha256_of(path) == entry.get("sha256")
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    return "downloaded" if same else f"fails its sha256 check: vsr weights download {name}"


def download_weights(args: argparse.Namespace) -> int:
    from vsr.printable import printable
    from vsr.weights import download

    print(printable(str(download(args.name))))
    return 0


def export_checkpoint(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from vsr.errors import VsrError
    from vsr.printable import printable
    from vsr.train.checkpoint import export_weights

    checkpoint, output = Path(args.checkpoint), Path(args.output)
    if checkpoint.is_dir():
        # The run's folder is what a user has at hand: name the checkpoint in it.
        inside = checkpoint / "last.pt"
        hint = (
            f"give its checkpoint, {inside}"
            if inside.is_file()
            else "give a run's last.pt (there is none in it)"
        )
        raise VsrError(f"{checkpoint} is a folder: {hint}")
    if not checkpoint.is_file():
        raise VsrError(f"{checkpoint}: no such file")
    if output.suffix != ".safetensors":
        raise VsrError(f"{output}: weights are written as .safetensors")
    if os.path.lexists(output) and not args.overwrite:  # a link to nothing is replaced too
        raise VsrError(f"{output} already exists; add --overwrite to replace it")
    # Checked again as it is put in place: an export made meanwhile (a second export into
    # the same name) was replaced, and both said "wrote".
    steps = export_weights(checkpoint, output, replace=args.overwrite)
    # The name as given may hold a newline and a forged line after it (vsr.printable).
    print(printable(f"wrote {output} (the network after {steps} training steps)"))
    return 0
