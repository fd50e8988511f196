"""`vsr train`: train a network from a TOML recipe, with flag overrides.

Multi-GPU (or multi-process CPU) training is the same command under torchrun:
    torchrun --nproc_per_node 4 -m vsr.cli train --config recipe.toml
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vsr.train.config import TrainConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train IMDN on a folder of HR images",
        description="Train a network on random patches of HR images (L1, Adam). Settings "
        "come from a TOML recipe; the flags below override it. Ctrl-C (or SIGTERM) stops "
        "after the current step and saves it in last.pt for --resume; a second one stops "
        "at once.",
    )
    parser.add_argument("--config", help="TOML recipe (see weights/recipes/)")
    parser.add_argument("--train-dir", help="folder of HR images (PNG, BMP, WebP, JPEG, TIFF)")
    parser.add_argument("--val-dir", help="benchmark folder to validate on, e.g. Set5")
    parser.add_argument("--out", help="output folder for checkpoints, logs and weights")
    parser.add_argument("--arch", help="imdn, imdn_rtc or imdn_rte")
    parser.add_argument("--scale", type=int, help="2, 3 or 4")
    parser.add_argument("--steps", type=int, help="total optimiser steps")
    parser.add_argument(
        "--minutes",
        type=float,
        help="time budget: measure the speed over the first steps, then choose --steps to fit, "
        "lowered later where validations, saves or slower steps take time (a resume keeps it, "
        "lowered alike, unless --minutes changes)",
    )
    parser.add_argument("--batch", type=int, help="patches per step (per process)")
    parser.add_argument("--patch", type=int, help="HR patch side in pixels (default 192)")
    parser.add_argument("--lr", type=float, help="initial learning rate (default 2e-4)")
    parser.add_argument("--schedule", choices=["step", "cosine"], help="learning-rate schedule")
    parser.add_argument("--seed", type=int, help="seed of the initial weights and the data")
    parser.add_argument(
        "--val-every", type=int, help="validate on --val-dir every N steps (0: at the end only)"
    )
    parser.add_argument("--save-every", type=int, help="write last.pt every N steps")
    parser.add_argument("--log-every", type=int, help="log every N steps")
    parser.add_argument(
        "--init-from",
        help="weights to start from (a file or a name from `vsr weights list`): all of them "
        "from the same scale, all but the upsampler from another scale",
    )
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        help="where to train (default auto: the CUDA GPU when there is one, else the CPU)",
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        help="arithmetic of the forward pass (default auto: bf16 on a GPU, fp32 on the CPU, "
        "where bf16 is emulated, far slower, without bf16 instructions)",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels_last memory format (--no-channels-last overrides a recipe)",
    )
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the model",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last.pt, with its own settings unless a "
        "recipe or flags are given again",
    )
    parser.set_defaults(func=run)


OVERRIDES = (
    "train_dir", "val_dir", "out", "arch", "scale", "steps", "minutes", "batch", "patch", "lr",
    "schedule", "seed", "val_every", "save_every", "log_every", "init_from", "device",
    "precision", "threads", "channels_last", "compile",
)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from vsr.train.checkpoint import check_same_network
    from vsr.train.config import load_config
    from vsr.train.loop import train
    from vsr.train.trainlog import note

    # `--resume --out DIR` alone goes on with the run's own settings; a recipe or flags
    # given again override them (the run names what they change).
    base = _run_settings(args.out) if args.resume and not args.config else None
    overrides = {name: getattr(args, name) for name in OVERRIDES}
    config = load_config(args.config, overrides, base, validate=False)
    if args.resume:
        # Told before the checks of the settings together, which another scale fails on
        # its own terms ("patch 16 is not a multiple of scale 3").
        check_same_network(base if base is not None else _run_settings(config.out), config)
    config.validate()
    if args.config:
        check_recipe_folders(args, config)
    if args.steps is not None and config.minutes > 0:
        # Not an error: a recipe's --minutes with a --steps typed by habit still trains.
        note(
            f"--steps {args.steps} is not used: --minutes {config.minutes:g} chooses the step "
            "count (--minutes 0 trains a fixed number of steps)"
        )
    if args.resume and args.init_from is not None:
        # A resumed run goes on from its own last.pt: weights to start from have no place
        # there, and were dropped without a word.
        note(
            f"--init-from {args.init_from} is not used: --resume goes on from the run's own "
            f"last.pt (a new --out starts a run from {args.init_from})"
        )
    if args.val_every and not config.val_dir:
        # Not an error either: the run trains all the same, but it validated nothing without
        # a word (its val_psnr column empty). A recipe's val_every is no flag of the user's.
        note(
            f"--val-every {args.val_every} is not used: the run has no validation set "
            "(--val-dir names one, a benchmark folder such as Set5)"
        )
    train(config, resume=args.resume)
    return 0


def _run_settings(out: str | None) -> dict:
    """The settings the run in `out` was started with (its last.pt), read before the
    processes of a torchrun meet. Rank 0 alone writes into --out, so on per-node disks
    another node has no last.pt: its rank said only "nothing to resume", which sent the
    user to look for a lost checkpoint that rank 0's node holds."""
    from pathlib import Path

    from vsr.errors import VsrError
    from vsr.train.checkpoint import stored_settings
    from vsr.train.distributed import torchrun_place

    try:
        return stored_settings(out)
    except VsrError as error:
        rank = torchrun_place().rank
        if rank == 0 or not out or (Path(out) / "last.pt").exists():
            raise
        raise VsrError(
            f"{error} on this node (rank {rank}): rank 0 alone writes into --out, and each "
            "node reads the run's settings from its own before the processes meet; give "
            "every node one --out on a shared disk, or copy rank 0's last.pt into this "
            "node's"
        ) from None


def check_recipe_folders(args: argparse.Namespace, config: TrainConfig) -> None:
    """Refuse a data folder that a recipe names and that is not there, saying where the path
    came from: the recipes in weights/recipes/ find ../shared beside the repository, and from a
    checkout elsewhere "training folder not found: /tmp/shared/..." named neither the recipe
    nor the flag that overrides it."""
    from pathlib import Path

    from vsr.errors import VsrError

    for key, flag in (("train_dir", "--train-dir"), ("val_dir", "--val-dir")):
        folder = getattr(config, key)
        if folder and getattr(args, key) is None and not Path(folder).exists():
            raise VsrError(
                f"{key} {folder} (from {args.config}, relative to it) not found: pass {flag} "
                "with the folder to use"
            )
