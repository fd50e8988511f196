"""What the encoder is asked for: the codec, its quality and speed, the pixel format and
libav's own options. The command line fills it from its flags; an API caller builds one
(``vsr.EncodeSettings(crf=18, preset="slow")``), so each field is checked as it is made:
a wrong type is one VsrTypeError naming the field, where it would otherwise surface deep
in the writer as Python's own TypeError or AttributeError, after the model had loaded.
Its fields can still be changed after it is made (``settings.options["g"] = 48``), so the
run checks them again as it takes them (``EncodeSettings.checked``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from vsr.argument_types import given, is_number, is_whole
from vsr.errors import VsrError, VsrTypeError

DEFAULT_CODEC = "libx264"


@dataclass
class EncodeSettings:
    """Encoder choices: the command line's --codec, --crf, --preset, --pix-fmt and -e.

    ``codec``: a libav encoder (None: libx264, or the container's own where it cannot hold
    H.264: VP9 in .webm, with a note). ``crf``: the encoder's quality number (None: the
    encoder's own, x264's 23). ``preset``: its speed name ("veryfast", "slow"; SVT-AV1 takes a
    number). ``pix_fmt``: None keeps the source's format where the codec allows.
    ``options``: libav options by name ({"g": 48, "tune": "film"}), as -e KEY=VALUE gives
    them; a number is written as libav reads it.
    """

    # The hints say what a caller may give, numbers included; once checked, the preset and
    # the options' values are text (what PyAV passes to libav).
    codec: str | None = None
    crf: float | None = None
    preset: str | int | None = None  # SVT-AV1's are numbers
    pix_fmt: str | None = None  # None: keep the source's format when the codec allows
    options: dict[str, str | int | float] = field(default_factory=dict)  # -e key=value
    # The names in `options` that a pipeline preset set for its codec, not the user: where
    # the container takes its own codec in place of the default, those are dropped with the
    # note, while the user's own options go to the codec chosen (or are refused there).
    preset_option_names: frozenset[str] = frozenset()
    # True when nobody chose the codec (no --codec, a preset's or the API's default): an
    # output container that cannot hold it gets its own instead (WebM: VP9), with a note.
    codec_is_default: bool = False
    # True when the pixel format is a preset's, not one asked for (--pix-fmt): only an
    # asked one chooses WebM's encoder for its depth (a preset's 10 bits must not turn an
    # 8-bit clip's VP9 into AV1).
    pix_fmt_is_default: bool = False

    def __post_init__(self) -> None:
        for name in ("codec_is_default", "pix_fmt_is_default"):
            if not isinstance(getattr(self, name), bool):
                raise VsrTypeError(
                    f"settings {name} must be True or False, not {given(getattr(self, name))}"
                )
        if self.codec is None:  # not chosen: the container may take its own
            self.codec, self.codec_is_default = DEFAULT_CODEC, True
        self.codec = _text(self.codec, "codec", "an encoder's name such as 'libx265'")
        # Not a field: whether the codec was assigned since (__setattr__), which makes it
        # the caller's choice even where it names the codec nobody chose.
        self._codec_assigned = False
        if self.crf is not None and not is_number(self.crf):
            raise VsrTypeError(f"settings crf must be a number or None, not {given(self.crf)}")
        if self.preset is not None:
            # SVT-AV1's presets are numbers, which its option takes as text.
            self.preset = str(self.preset) if is_whole(self.preset) else self.preset
            self.preset = _text(self.preset, "preset", "a name such as 'slow', or None")
        if self.pix_fmt is not None:
            self.pix_fmt = _text(self.pix_fmt, "pix_fmt", "a format such as 'yuv420p', or None")
        self.options = _options(self.options)
        self.preset_option_names = _names(self.preset_option_names)
        _check_set_once(self)

    def __setattr__(self, name: str, value: object) -> None:
        if name == "codec" and hasattr(self, "_codec_assigned"):  # made, then assigned
            object.__setattr__(self, "_codec_assigned", True)
        object.__setattr__(self, name, value)

    def checked(self) -> EncodeSettings:
        """These settings made anew from their fields, checked and normalised as at
        construction, the caller's own left as they are: a field changed since then
        (``options["g"] = 48``, ``crf = "23"``, ``codec = None``) reached the writer
        unchecked, as PyAV's or Python's own error once the model had loaded. A codec set
        since then (``settings.codec = "libx265"``) is the caller's choice, which a .webm
        output refuses rather than trading for its own, the default's name (libx264)
        included; set to None, it is left to the container again."""
        if self.codec_is_default and self._codec_assigned:
            return replace(self, codec_is_default=False)
        return replace(self)


def _check_set_once(settings: EncodeSettings) -> None:
    """Refuse crf or preset set both as a field and as an option, to different values: the
    option went to the encoder without a word (crf=20 with options {"crf": "30"} encoded at
    30), where `vsr run --crf 20 -e crf=30` is refused."""
    for name in ("crf", "preset"):
        value, option = getattr(settings, name), settings.options.get(name)
        if value is None or option is None or same_setting(value, option):
            continue
        raise VsrError(
            f"settings {name}={value!r} and options[{name!r}]={option!r} both set {name}: "
            "give one of them"
        )


def same_setting(value: float | str, option: str) -> bool:
    """Whether a crf or preset field and an option's text give the same setting."""
    if str(value) == option:
        return True
    try:
        return float(option) == float(value)  # crf 20 and "20.0"
    except ValueError:
        return False


def _text(value: object, name: str, what: str) -> str:
    if not isinstance(value, str):
        raise VsrTypeError(f"settings {name} must be {what}, not {given(value)}")
    return str(value)  # numpy's str_ as the plain str libav's bindings take


def _names(names: object) -> frozenset[str]:
    """Option names as a frozenset of text (a caller may give a list or a set)."""
    if isinstance(names, str) or not isinstance(names, (set, frozenset, list, tuple)):
        raise VsrTypeError(
            f"settings preset_option_names must be a set of option names, not {given(names)}"
        )
    if not all(isinstance(name, str) for name in names):
        raise VsrTypeError("settings preset_option_names must hold option names as text")
    return frozenset(names)


def _options(options: object) -> dict[str, str | int | float]:
    """libav's options as text, which PyAV passes on: a number as libav parses it
    ({"g": 48} as "48"); a switch (True) is refused rather than guessed, since libav's
    booleans are 1/0 for some options and names for others."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise VsrTypeError(
            f"settings options must be a dict of libav options (name: value), not {given(options)}"
        )
    # Typed as the field is, which callers may fill with numbers; what is made here is text.
    texts: dict[str, str | int | float] = {}
    for key, value in options.items():
        if not isinstance(key, str):
            raise VsrTypeError(f"settings options' names must be text, not {given(key)}")
        if not isinstance(value, str) and not is_number(value):
            raise VsrTypeError(
                f"settings options[{key!r}] must be text or a number, not {given(value)}"
            )
        texts[str(key)] = str(value)
    return texts
