"""Named pipeline presets (`pipelines/*.toml`): codec, quality, precision, batch, tiling,
the GPU speed switches and the number of encoders.

A preset is a flat TOML file; `--pipeline NAME` finds pipelines/NAME.toml, anything with a
slash or a .toml suffix is read as a path. Command-line flags override its fields.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from vsr.bundled import bundled_folder
from vsr.encoder_count import MAX_ENCODERS
from vsr.errors import VsrError
from vsr.named_budget import NamedBudget
from vsr.ops.compiled import MODES
from vsr.upscale import PRECISIONS

PIPELINES_DIR = bundled_folder("pipelines")

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class Preset:
    name: str
    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    precision: str | None = None
    batch: int | None = None
    max_memory: int | None = None
    channels_last: bool = False
    compile: bool | str = False  # a string names torch.compile's mode
    cuda_graphs: bool = False
    encoders: int = 1
    options: dict[str, str] = field(default_factory=dict)
    # The file it was read from, named where one of its values is refused (not a TOML key).
    path: Path | None = None


# The keys a file may hold (name and path are the file's own, not written in it).
_KEYS = frozenset(Preset.__dataclass_fields__) - {"name", "path"}

# What each typed field takes, in the words of a TOML file: its Python type's name ("must
# be a int") was no help to someone who wrote crf = "18".
_TAKES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "crf": (int, "a whole number such as 18"),
    "batch": (int, "a whole number such as 4"),
    "encoders": (int, f"a whole number from 1 to {MAX_ENCODERS}"),
    "codec": (str, 'an encoder\'s name such as "libx265"'),
    # SVT-AV1 numbers its presets, as `--codec libsvtav1 --preset 8` gives them.
    "preset": ((str, int), 'a speed preset\'s name such as "slow", or its number (libsvtav1: 8)'),
    "pix_fmt": (str, 'a pixel format such as "yuv420p10le"'),
    "precision": (str, '"fp32", "fp16" or "bf16"'),
    "channels_last": (bool, "true or false"),
    "cuda_graphs": (bool, "true or false"),
}


def _as_written(value: object) -> str:
    """A value as a TOML file writes it: "18" (text), true, 1.5, a list, a table."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return str(value)


def parse_memory(text: str | int, what: str = "memory size") -> int:
    """ "8GiB", "512M", "2g", "1500000000" -> bytes (binary units). ``what`` names the size in
    a refusal ("--max-memory", a preset's field)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not match:
        raise VsrError(f"{what} {text!r} not understood; write e.g. 8GiB or 512MiB")
    # Exact arithmetic, and refusals that name the text: rounded down, "0.4" was a budget of
    # 0 bytes, refused later as "not 0", and "1.5" a budget of 1 byte, taken silently.
    size = Fraction(match[1]) * _UNITS[match[2]]
    if size < 1:
        raise VsrError(f"{what} {text!r} is less than a byte; write e.g. 8GiB or 512MiB")
    if match[2] == "" and size.denominator != 1:
        raise VsrError(f"{what} {text!r} is not a whole number of bytes; write e.g. 8GiB or 512MiB")
    return int(size)  # a fraction of a larger unit ("0.7g") rounds down to whole bytes


def _check_what_the_file_names(path: Path, data: dict, options: dict) -> None:
    """The codec, the pixel format and a crf or preset given twice, refused naming the file
    and its key: they were blamed on a --pix-fmt nobody typed, told in the API's words
    ("settings crf=18 and options['crf']='30'"), or refused without naming the file."""
    from vsr.video.codecs import video_encoder
    from vsr.video.encode_settings import same_setting
    from vsr.video.encoder_choice import check_pix_fmt_name

    if "codec" in data:
        try:
            video_encoder(data["codec"])
        except VsrError as error:
            raise VsrError(f"pipeline {path}: {error}") from None  # it names the codec
    if "pix_fmt" in data:
        check_pix_fmt_name(data["pix_fmt"], f"pipeline {path}: pix_fmt {data['pix_fmt']}")
    for key in ("crf", "preset"):
        if key in data and key in options and not same_setting(data[key], str(options[key])):
            raise VsrError(
                f"pipeline {path}: {key} = {_as_written(data[key])} and [options] {key} = "
                f"{_as_written(options[key])} both set {key}: give one of them"
            )


def available_presets() -> list[str]:
    return sorted(path.stem for path in PIPELINES_DIR.glob("*.toml"))


def load_preset(name_or_path: str) -> Preset:
    """Read a preset by name (pipelines/NAME.toml) or path; VsrError if absent or malformed."""
    looks_like_path = "/" in name_or_path or name_or_path.endswith(".toml")
    path = Path(name_or_path) if looks_like_path else PIPELINES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        if path.is_dir():
            raise VsrError(f"{path} is a folder; give a pipeline's .toml file")
        if looks_like_path:
            raise VsrError(f"pipeline file {path} not found")
        if not PIPELINES_DIR.is_dir():  # a bare copy of vsr/, built without pyproject.toml
            raise VsrError(
                f"no presets folder at {PIPELINES_DIR}: this install of vsr holds no bundled "
                "presets (install it from the source tree with pip); --pipeline FILE.toml works"
            )
        names = ", ".join(available_presets()) or "none installed"
        raise VsrError(f"unknown pipeline {name_or_path!r}; available: {names}")
    try:
        # utf-8-sig: Windows' editors and PowerShell 5 save UTF-8 with a byte-order mark,
        # which TOML parsers refuse as a statement at line 1, column 1.
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise VsrError(f"pipeline {path}: not valid TOML ({error})") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise VsrError(f"pipeline {path}: unknown field(s) {', '.join(unknown)}")
    options = data.pop("options", {})
    if not isinstance(options, dict):
        raise VsrError(f"pipeline {path}: [options] must be a table of key = value")
    if "max_memory" in data:
        if not isinstance(data["max_memory"], str | int) or isinstance(data["max_memory"], bool):
            raise VsrError(f'pipeline {path}: max_memory must be a size such as "8GiB"')
        written = data["max_memory"]
        where = f"pipeline {path}: max_memory"
        data["max_memory"] = NamedBudget(parse_memory(written, where), where)
        if data["max_memory"] < 1:
            # Refused here, naming the file: the Upscaler's own check names --max-memory,
            # a flag this run was not given (a TOML 0 or -5 is no text parse_memory refuses).
            raise VsrError(
                f"pipeline {path}: max_memory must be a size of at least 1 byte, not {written!r}"
            )
    for key, (kind, what) in _TAKES.items():
        # TOML's true is a Python bool, which is an int too: not a batch size.
        wrong_bool = kind is not bool and isinstance(data.get(key), bool)
        if key in data and (not isinstance(data[key], kind) or wrong_bool):
            raise VsrError(f"pipeline {path}: {key} must be {what}, not {_as_written(data[key])}")
    if isinstance(data.get("preset"), int):
        data["preset"] = str(data["preset"])  # as --preset 8 gives it
    _check_what_the_file_names(path, data, options)
    for key in ("batch", "encoders"):
        if key in data and data[key] < 1:
            raise VsrError(f"pipeline {path}: {key} must be at least 1, not {data[key]}")
    if data.get("encoders", 1) > MAX_ENCODERS:
        raise VsrError(
            f"pipeline {path}: encoders must be at most {MAX_ENCODERS}, not {data['encoders']}"
        )
    if data.get("precision", "fp32") not in PRECISIONS:
        raise VsrError(
            f"pipeline {path}: precision must be one of {', '.join(PRECISIONS)}, "
            f"not {_as_written(data['precision'])}"
        )
    compile_mode = data.get("compile", False)
    if not isinstance(compile_mode, bool) and compile_mode not in MODES:
        raise VsrError(
            f"pipeline {path}: compile must be true, false or a mode ({', '.join(MODES)})"
        )
    return Preset(
        name=path.stem, options={k: str(v) for k, v in options.items()}, path=path, **data
    )


def check_for_encoder(
    preset: Preset, codec: str, crf: int | None, speed: str | None, options: dict[str, str]
) -> None:
    """The file's own crf, speed preset and [options] (those of it the run uses: `crf`,
    `speed`, `options`), refused naming the file and its key where encoder `codec` (libx264,
    not h264) cannot take them. They were told as if typed: "crf 99: libx264 takes 0 to
    51", "libx264 has no option batch (check -e KEY=VALUE)", and of FFV1 a note "--crf
    ignored", though the file itself names FFV1. Only for a run where some output gets that
    encoder: a .webm output's VP9, in place of the default, drops what was set for it."""
    from vsr.video.codecs import encoder_option_type
    from vsr.video.encode_settings import EncodeSettings
    from vsr.video.encoder_choice import check_quality_and_speed
    from vsr.video.encoder_trial import encoder_option_names

    where = f"pipeline {preset.path or preset.name}"
    for key, value in (("crf", crf), ("preset", speed)):
        if value is not None and not encoder_option_type(codec, key):
            raise VsrError(f"{where}: {key} = {_as_written(value)}, but {codec} has no {key}")
    unknown = sorted(set(options) - encoder_option_names(codec))
    if unknown:
        fields = [name for name in unknown if name in _KEYS]
        one = len(fields) == 1
        hint = (
            f"; {', '.join(fields)} {'is a field' if one else 'are fields'} of the file itself, "
            "written above [options]"
        )
        raise VsrError(
            f"{where}: [options] {', '.join(unknown)}: {codec} has no such option"
            f"{hint if fields else ''}"
        )
    try:  # a crf, preset or tune out of the encoder's reach, as a field or in [options]
        settings = EncodeSettings(codec=codec, crf=crf, preset=speed, options=dict(options))
        check_quality_and_speed(codec, settings)
    except VsrError as error:
        raise VsrError(f"{where}: {error}") from None
