"""The `-e KEY=VALUE` encoder option that `vsr run` and `vsr bench` share."""

from __future__ import annotations

import argparse


def encoder_option(text: str) -> tuple[str, str]:
    """argparse type: "tune=film" -> ("tune", "film")."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, not {text!r}")
    return key, value


def add_encoder_option(parser: argparse.ArgumentParser, example: str) -> None:
    """Add the repeatable `-e KEY=VALUE` (collected in `args.encoder_options`)."""
    parser.add_argument(
        "-e",
        dest="encoder_options",
        action="append",
        type=encoder_option,
        default=[],
        metavar="KEY=VALUE",
        help=f"encoder option, repeatable (e.g. -e {example})",
    )
