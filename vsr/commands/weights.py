"""`vsr weights`: list the known weights, download an official checkpoint into the cache."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="list known weights or download official ones",
        description="The project's own weights ship in weights/; the official IMDN "
        "checkpoints are downloaded on request into $VSR_CACHE (default ~/.cache/vsr).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the weights in the manifest")
    listing.set_defaults(func=list_weights)
    fetch = actions.add_parser("download", help="download official weights, checking sha256")
    fetch.add_argument("name", help="a name from `vsr weights list`, e.g. IMDN_x3")
    fetch.set_defaults(func=download_weights)


def list_weights(args: argparse.Namespace) -> int:
    from vsr.weights import load_manifest, local_path

    rows = [("NAME", "ARCH", "SCALE", "SET5 PSNR", "WHERE")]
    for name, entry in load_manifest().items():
        path = local_path(name, entry)
        if not entry.get("url"):
            where = str(path) if path.is_file() else f"{path} (missing)"
        elif path.is_file():
            where = f"{path} (downloaded)"
        else:
            where = f"download: vsr weights download {name}"
        set5 = (entry.get("metrics") or {}).get("Set5") or {}
        psnr = f"{set5['psnr']:.2f}" if set5.get("psnr") is not None else "-"
        scale = f"x{entry['scale']}" if entry.get("scale") else "any"
        rows.append((name, entry.get("arch", "?"), scale, psnr, where))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
            + "  "
            + row[4]
        )
    return 0


def download_weights(args: argparse.Namespace) -> int:
    from vsr.weights import download

    print(download(args.name))
    return 0
