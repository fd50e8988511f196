"""Training configuration: one flat dataclass, read from TOML, with command-line overrides.

A recipe file names only what differs from the defaults below, so a recipe reads as the
list of choices that made a set of weights.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vsr.errors import VsrError, empty_value, option

# IMDN_AS takes a bicubic-enlarged input, which this loop does not make.
TRAINABLE_ARCHS = ("imdn", "imdn_rtc", "imdn_rte")
# The LR patch side must be a multiple of the network's input_multiple.
LR_PATCH_MULTIPLE = {"imdn_rte": 2}

# The largest float32: the optimiser's arithmetic takes the learning rate in it.
FLOAT32_MAX = 3.4028234663852886e38

# torch.manual_seed takes any 64-bit seed, signed or unsigned: one beyond raised from inside it
# ("Overflow when unpacking long long"), a traceback.
SEED_RANGE = (-(2**63), 2**64 - 1)

# Paper: LR patches of 96/64/48 for x2/x3/x4, i.e. 192-pixel HR patches at every scale.
DEFAULT_HR_PATCH = 192


@dataclass
class TrainConfig:
    """Everything one training run depends on. Paths are resolved against the TOML file."""

    train_dir: str = ""
    arch: str = "imdn"
    scale: int = 2
    patch: int = DEFAULT_HR_PATCH  # HR patch side in pixels (a multiple of scale)
    batch: int = 16  # per process; DDP multiplies it by the number of processes
    steps: int = 1000
    minutes: float = 0.0  # > 0: measure the speed, then fix steps to end within this budget
    lr: float = 2e-4
    schedule: str = "step"  # "step" (halve every lr_step) or "cosine"
    lr_step: int = 200_000
    lr_gamma: float = 0.5
    lr_min: float = 1e-7  # cosine floor
    seed: int = 0
    out: str = "runs/train"
    val_dir: str = ""  # a benchmark folder (e.g. Set5) validated every val_every steps
    val_every: int = 0  # 0: validate only at the end (when val_dir is set)
    log_every: int = 50
    save_every: int = 500
    init_from: str = ""  # weights to start from (the upsampler only from the same scale)
    device: str = "auto"  # "auto", "cpu" or "cuda"
    precision: str = "auto"  # "auto" (bf16 on GPU, fp32 on CPU), "bf16" or "fp32"
    channels_last: bool = False
    compile: bool = False
    threads: int = 0  # torch CPU threads; 0 leaves torch's default

    def validate(self) -> None:
        if not self.train_dir:
            raise VsrError("training needs train_dir: a folder of HR images")
        if not self.out.strip():
            # An empty folder name is the working folder: the run would fill it unasked.
            raise VsrError("out is empty; give the folder for checkpoints, logs and weights")
        for name in ("train_dir", "val_dir", "init_from"):
            # Spaces alone name a folder of spaces, which nobody means (in a recipe, a value
            # blanked by hand; val_dir and init_from are left empty for none).
            if getattr(self, name) and not getattr(self, name).strip():
                none = "" if name == "train_dir" else ", or leave it empty for none"
                raise VsrError(f"{name} {getattr(self, name)!r} is blank; give a path{none}")
        if self.arch not in TRAINABLE_ARCHS:
            raise VsrError(
                f"arch must be {', '.join(TRAINABLE_ARCHS[:-1])} or {TRAINABLE_ARCHS[-1]}, "
                f"not {self.arch!r}"
            )
        if self.scale not in (2, 3, 4):
            raise VsrError(f"{self.arch} trains at scale 2, 3 or 4, not {self.scale}")
        if self.patch % self.scale:
            raise VsrError(f"patch {self.patch} is not a multiple of scale {self.scale}")
        if self.patch < self.scale * 4:
            raise VsrError(f"patch {self.patch} is too small for scale {self.scale}")
        # imdn_rte halves its input and doubles it back: an odd LR side would come out larger.
        multiple = self.scale * LR_PATCH_MULTIPLE.get(self.arch, 1)
        if self.patch % multiple:
            raise VsrError(
                f"{self.arch} x{self.scale} needs a patch that is a multiple of {multiple}"
            )
        for name in ("lr", "minutes", "lr_min", "lr_gamma"):
            if not math.isfinite(getattr(self, name)):
                raise VsrError(f"{name} must be a finite number, not {getattr(self, name)}")
        if self.lr <= 0:
            raise VsrError(f"lr must be positive, not {self.lr}")
        # Adam hands the rate to float32 arithmetic: a larger one raised out of the optimiser.
        if self.lr > FLOAT32_MAX:
            raise VsrError(f"lr {self.lr:g} is beyond float32 (at most {FLOAT32_MAX:.4g})")
        if self.schedule == "cosine" and self.lr_min > self.lr:
            # The cosine goes from lr to lr_min: it would raise the rate over the run.
            raise VsrError(
                f"lr_min {self.lr_min:g} is above lr {self.lr:g}: the cosine schedule "
                "lowers lr to lr_min"
            )
        if self.lr_min < 0:
            raise VsrError(f"lr_min must be 0 or more, not {self.lr_min}")
        if self.lr_gamma <= 0:
            raise VsrError(f"lr_gamma must be positive, not {self.lr_gamma}")
        if self.schedule == "step" and self.lr_gamma > 1:
            # It would raise the rate every lr_step steps, until Adam's float32 overflowed.
            raise VsrError(
                f"lr_gamma {self.lr_gamma:g} is above 1: the step schedule lowers lr by it "
                "every lr_step steps"
            )
        if self.schedule not in ("step", "cosine"):
            raise VsrError(f"schedule must be 'step' or 'cosine', not {self.schedule!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise VsrError(f"precision must be auto, bf16 or fp32, not {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise VsrError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.minutes < 0:
            raise VsrError(
                f"minutes must be positive (or 0 for no time budget), not {self.minutes}"
            )
        for name in ("batch", "steps", "log_every", "save_every", "lr_step"):
            if getattr(self, name) <= 0:
                raise VsrError(f"{name} must be positive, not {getattr(self, name)}")
        for name in ("val_every", "threads"):
            if getattr(self, name) < 0:
                raise VsrError(f"{name} must be 0 or more, not {getattr(self, name)}")
        low, high = SEED_RANGE
        if not low <= self.seed <= high:
            raise VsrError(f"seed must be between {low} and {high}, not {self.seed}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PATH_FIELDS = ("train_dir", "out", "val_dir", "init_from")

# What to give instead of an empty path among the overrides. In a recipe, an empty val_dir
# or init_from is the default (none); among the overrides, "" is rather `--out "$DIR"` with
# DIR unset, which trained into the working folder (or dropped the setting) without a word.
_INSTEAD_OF_EMPTY = {
    "train_dir": "give the folder of HR images, or leave it out for the recipe's",
    "out": "give the folder for checkpoints, logs and weights, or leave it out for the "
    "recipe's (else runs/train)",
    "val_dir": "give a benchmark folder such as Set5, or leave it out for the recipe's (else none)",
    "init_from": "give a weights file or a name from `vsr weights list`, or leave it out for "
    "the recipe's (else random weights)",
}


def load_config(
    path: str | Path | None,
    overrides: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
    validate: bool = True,
) -> TrainConfig:
    """Read a TOML recipe (or start from ``base``, a run's stored settings, or from the
    defaults when path is None) and apply overrides; ``validate=False`` leaves the checks of
    the settings together to the caller.

    Relative paths inside the file are taken relative to the file, so a recipe works from
    any working directory; relative paths among the overrides (from the command line) are
    taken relative to the current directory. Either way the run stores absolute paths, so
    that `--resume` works from anywhere.
    """
    known = {field.name: field for field in fields(TrainConfig)}
    # Settings a later version dropped are left out rather than refused.
    values: dict[str, Any] = {k: v for k, v in (base or {}).items() if k in known}
    if path is not None:
        path = Path(path)
        try:
            # A byte-order mark, as Windows' editors save UTF-8, is no statement.
            values = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise VsrError(f"config file not found: {path}") from None
        except IsADirectoryError:
            raise VsrError(f"{path} is a folder; give the config's .toml file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise VsrError(f"{path} is not valid TOML: {error}") from None
        for key in PATH_FIELDS:
            if key in values:
                values[key] = _absolute(key, values[key], path.parent)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise VsrError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    for key, value in (overrides or {}).items():
        if key in PATH_FIELDS and isinstance(value, str) and not value.strip():
            flag = option(f"--{key.replace('_', '-')}")
            raise VsrError(empty_value(flag, _INSTEAD_OF_EMPTY[key]))
        if value is not None:
            values[key] = _absolute(key, value, Path.cwd())
    for key, value in values.items():
        values[key] = _coerce(key, value, known[key].type)
    if "out" not in values:
        # The default folder is the working folder's too: stored as written, a run's records
        # were judged against the folder each later run started in, refused from one and
        # replaced from another.
        values["out"] = _absolute("out", known["out"].default, Path.cwd())
    config = TrainConfig(**values)
    if validate:
        config.validate()
    return config


def _absolute(key: str, value: Any, folder: Path) -> Any:
    """A path setting made absolute against folder (other settings returned as given).

    ``init_from`` may also name weights rather than a file: it is made absolute only when it
    looks like a path (a folder in it, a weights file extension, or an existing file).
    """
    if key not in PATH_FIELDS or not isinstance(value, str) or not value.strip():
        return value  # an empty or blank path is left for validate() to see as such
    named = Path(value).expanduser()  # "~/data" is the user's, not relative
    if not named.is_absolute():
        named = _resolved_where_it_exists(folder / named)
    if key == "init_from" and not _looks_like_a_path(value, named):
        return value
    return str(named)


def _resolved_where_it_exists(path: Path) -> Path:
    """`path` with the part of it that exists resolved and the rest kept as written: a
    whole resolve() followed a link to an unmounted share (the run then made the folders
    it pointed to and trained there, where `mkdir -p` refuses), and raised on a loop."""
    missing: list[str] = []
    while not path.exists() and path != path.parent:
        missing.append(path.name)
        path = path.parent
    return path.resolve().joinpath(*reversed(missing))


def _looks_like_a_path(value: str, named: Path) -> bool:
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return (
        any(separator in value for separator in separators)
        or named.suffix.lower() in (".pth", ".pt", ".safetensors")
        or named.is_file()
    )


def _coerce(key: str, value: Any, type_name: Any) -> Any:
    """Check a TOML value against the field type; ints are accepted where floats are."""
    expected = {"str": str, "int": int, "float": float, "bool": bool}[str(type_name)]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise VsrError(f"setting {key} must be {expected.__name__}, not {value!r}")
    return value
