"""The `-e KEY=VALUE` encoder option that `vsr run` and `vsr bench` share."""

from __future__ import annotations

import argparse

from vsr.errors import VsrError


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


def given_encoder_options(args: argparse.Namespace) -> dict[str, str]:
    """`-e` as a dict, each key once. A key given twice, or one that a flag of its own sets
    too (`--crf 20 -e crf=30`), is refused: the last one won without a word, and the user
    cannot tell which quality the output got."""
    options: dict[str, str] = {}
    for key, value in args.encoder_options:
        if key in options and options[key] != value:
            raise VsrError(f"-e {key}={options[key]} and -e {key}={value}: give {key} once")
        options[key] = value
    for key in ("crf", "preset"):
        flag = getattr(args, key, None)
        if flag is not None and key in options and options[key] != str(flag):
            raise VsrError(
                f"--{key} {flag} and -e {key}={options[key]} both set {key}: give one of them"
            )
    return options
