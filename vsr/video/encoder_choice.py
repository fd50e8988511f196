"""Which encoder a writer opens, and how.

The codec (the container's own when the default cannot go in), the colour matrix (VP8 is
BT.601 only, libav's DNxHD BT.709; none for RGB output), the pixel formats (the source's,
else the nearest the encoder takes; RGB for an RGB source to a lossless RGB encoder; 4:4:4
when an odd size rules out subsampled chroma), the options (crf, preset, -e, quiet x265 and
SVT-AV1 logs, HDR10 metadata), every decision made on the user's behalf as a note, and a
trial open of the encoder that names the option it refuses.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import av

from vsr.errors import VsrError, option
from vsr.video.chroma_location import CONVERTED, conversion_siting
from vsr.video.codecs import encoder_option_type, video_encoder
from vsr.video.colors import GBR, RANGE_CODES
from vsr.video.containers import (
    CONTAINERS,
    check_container_holds,
    check_some_container_takes,
    codecs_held_by,
)
from vsr.video.encoder_time_base import COUNT_IN_FRAMES, encoder_time_base
from vsr.video.encoder_trial import check_options_known, encoder_option_names, trial_open
from vsr.video.hdr import HDR10_ENCODERS
from vsr.video.options_vsr_sets import check_no_option_vsr_sets
from vsr.video.output_siting import output_siting, siting_lost_note
from vsr.video.pixfmt import (
    is_planar_rgb,
    nearest_supported,
    parse_planar,
    parse_planes,
    planar_name,
    planar_rgb_name,
    planes_format_for,
)
from vsr.video.reader import VideoInfo

if TYPE_CHECKING:
    from vsr.video.writer import EncodeSettings

# Lossless encoders that store RGB as it is: an RGB source (PNG frames, FFV1 bgr0 or
# gbrp10le, utvideo RGB...) keeps its codes exactly there, where RGB -> YCbCr -> RGB moved
# a fifth to a third of them by up to 2. Lossy ones that take RGB too (libx265,
# libvpx-vp9) get it only when asked (--pix-fmt gbrp): few players decode RGB HEVC or VP9.
_LOSSLESS_RGB_ENCODERS = frozenset({"ffv1", "ffvhuff", "huffyuv", "utvideo", "magicyuv"})
# Encoders known to accept any frame size in every format (no even-size rule).
_ANY_SIZE = frozenset({"ffv1", "ffvhuff", "huffyuv", "utvideo", "rawvideo", "magicyuv"})
# Subsampled encoders that open at an odd size but encode it wrong, so the trial open
# cannot tell: prores_ks at 129x72 in 4:2:2 decoded with its last chroma columns up to 210
# levels off (the one such encoder an audit of them all found).
_ODD_SIZE_ENCODED_WRONG = frozenset({"prores_ks"})
# The encoder settings a container's own codec gets when the default cannot go into it:
# libvpx-vp9's own defaults are its slowest (cpu-used 0, one thread per row off).
_CONTAINER_CODECS = {"webm": ("libvpx-vp9", {"cpu-used": "4", "row-mt": "1"})}
# WebM's other codec, for sources of more than 8 bits where libvpx was built with 8 only
# (PyAV's is): 10-bit or HDR at 8 bits bands.
_WEBM_HIGH_DEPTH = ("libsvtav1", {})
# Encoders whose pictures cannot say "full range" (decoders read them as limited whatever
# the tag), and those that can only in some containers (by the container's own colour
# fields; MOV's `colr` box has no range, MP4's has, written as vsr.video.writer asks):
# found by writing a full-range frame and reading it back with this libav.
_NO_FULL_RANGE = frozenset(
    {"prores", "prores_ks", "prores_aw", "mpeg1video", "mpeg2video", "libvpx"}
)
_NO_FULL_RANGE_IN = {
    "mov": {
        "mpeg4", "magicyuv", "msmpeg4", "h263", "jpeg2000", "cfhd", "dvvideo", "tiff", "v210",
        "v308", "v410", "yuv4",
    }
}  # fmt: skip
# Encoders whose pictures hold one matrix, which decoders read whatever the container
# says: (matrix, its tag, why). VP8 is BT.601 by definition. DNxHD/DNxHR's header has a
# colour field (BT.709 or BT.2020), in which libav's encoder writes BT.709 whatever it is
# given, and its decoder reads it over the container's tag: an SD BT.601 source came out
# 23 levels off, a BT.2020 one was read as BT.709 too. libav's MJPEG decoder reads BT.601
# (JFIF's matrix) whatever the container says: a BT.709 source decoded at 26.6 dB.
_ONE_MATRIX = {
    "libvpx": ("bt601", "bt470bg", "VP8 is BT.601 only"),
    "dnxhd": ("bt709", "bt709", "libav's DNxHD/DNxHR pictures say BT.709"),
    "mjpeg": ("bt601", "bt470bg", "MJPEG pictures are decoded as BT.601"),
}
# Encoders whose pictures are full range by their standard (JPEG): libav refuses to open
# them for limited range unless told to break it.
_FULL_RANGE_ONLY = frozenset({"mjpeg"})
# Encoders without crf, which encode at a rate upscaled output does not survive unless told
# one ("b"), and the rate they take then: libavcodec's own older encoders its default
# 200 kb/s; Snow, its wavelet codec, a rate of its own (about 70 kb/s at 128x72, 35 dB).
_RATE_WITHOUT_B = {
    **dict.fromkeys(
        ("mpeg1video", "mpeg2video", "mpeg4", "msmpeg4", "msmpeg4v2", "mjpeg", "h263", "flv"),
        "libavcodec's default 200 kb/s",
    ),
    "snow": "a low rate of its own (about 70 kb/s at 128x72)",
}
# The names x264 and x265 take for their speed presets and tunes. They print their own line
# for a name they do not know, straight to the terminal, before vsr can say which value was
# wrong: names are checked here first, and the error lists the right ones.
_X26X_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo",
)  # fmt: skip
_TUNES = {
    "libx264": (
        "film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency",
        "touhou",
    ),
    "libx265": (
        "psnr", "ssim", "grain", "zerolatency", "zero-latency", "fastdecode", "fast-decode",
        "animation", "vmaf",
    ),
}  # fmt: skip
# x265's and SVT-AV1's names for the HDR10 parameters.
_HDR10_PARAMETER_NAMES = ("master-display", "max-cll", "mastering-display", "content-light")


def check_pix_fmt_name(wanted: str, called: str | None = None) -> str:
    """`wanted` if vsr can write planes in that format for some encoder, else a VsrError:
    planar YUV, or planar RGB (gbrp, gbrp10le...), which vsr repacks for an encoder that
    takes packed RGB only (FFV1's 8-bit bgr0). `called` names where the format was given
    (a pipeline file's key); by default the --pix-fmt it is given as."""
    called = called or option("--pix-fmt", wanted, setting=True)
    if wanted.startswith("yuvj"):
        # FFmpeg's old spelling of full range, which vsr takes from the source.
        raise VsrError(
            f"{called}: that is {wanted.replace('yuvj', 'yuv', 1)} in full range; vsr keeps "
            "the source's range, so name the format without the j"
        )
    if parse_planes(wanted) is None:
        raise VsrError(
            f"{called}: vsr encodes planar YUV (e.g. yuv420p, yuv420p10le, yuv444p) "
            "or planar RGB (gbrp, gbrp10le, gbrp12le, gbrp16le)"
        )
    return wanted


def check_settings_every_clip_meets(
    settings: EncodeSettings, containers: set[str] | None = None
) -> None:
    """What EncoderChoice would refuse in `settings` for every clip, whatever the clip, as
    its one error: an unknown codec, an -e option that replaces a setting vsr makes
    (video_size, pixel_format, time_base), a --pix-fmt vsr cannot write; and, for an encoder
    every output gets (one asked for, or a default that each of `containers` stores: the
    formats the outputs are written in, None where any may be), one that no container
    stores, a crf out of its range, a preset or tune it lacks, a pixel format it cannot
    take, an option (-e, a pipeline's [options]) it has not. A folder run asks before its
    first clip (vsr.commands.run), as every clip failed with it in turn. A default codec
    that one of those containers replaces (WebM's own, VP9 or, by the source's depth, AV1)
    is checked clip by clip, as what is refused depends on the clip: a folder of .mp4 clips
    is checked here, one with a .webm clip among them is not."""
    codec = video_encoder(settings.codec)
    check_no_option_vsr_sets(settings.options)
    if settings.pix_fmt and not settings.pix_fmt_is_default:
        check_pix_fmt_name(settings.pix_fmt)
    replaced = containers_replacing(settings, containers)
    if replaced:
        _check_options_some_encoder_has(settings, [codec.name, *_encoders_in_place(replaced)])
        return
    check_some_container_takes(codec.name)
    if settings.pix_fmt:
        _format_asked(codec, settings.pix_fmt, settings.pix_fmt_is_default)
    check_quality_and_speed(codec.name, settings)
    check_options_known(codec.name, settings.options)


def containers_replacing(settings: EncodeSettings, containers: set[str] | None) -> list[str]:
    """The formats among `containers` (None: any vsr writes) whose outputs get their own
    codec in place of the settings' default one (WebM: VP9 for the default H.264)."""
    codec = video_encoder(settings.codec).name
    possible = set(CONTAINERS.values()) if containers is None else containers
    return sorted(f for f in possible if _container_replaces(settings, codec, f))


def some_output_keeps_the_codec(settings: EncodeSettings, containers: set[str] | None) -> bool:
    """Whether an output in one of `containers` (None: any vsr writes, a watch's clips
    still to come) is encoded with the settings' codec, not a container's own in its
    place: a folder with one .mp4 clip among .webm ones has one."""
    possible = set(CONTAINERS.values()) if containers is None else containers
    return len(containers_replacing(settings, possible)) < len(possible)


def _containers_own_codec(container_format: str) -> tuple[str, dict[str, str]]:
    """The encoder a container gets in place of a default it cannot hold, and its settings
    (WebM: VP9; a deeper source's AV1 is EncoderChoice's choice, by the clip)."""
    name, options = _CONTAINER_CODECS.get(container_format, (None, {}))
    return name or codecs_held_by(container_format)[1], options


def _users_options(settings: EncodeSettings) -> dict[str, str]:
    """The options the user gave (-e), not a pipeline preset's for its own codec."""
    presets = settings.preset_option_names
    return {k: v for k, v in settings.options.items() if k not in presets}


def _encoders_in_place(container_formats: list[str]) -> list[str]:
    """The encoders the default codec may be replaced with in these containers (see
    EncoderChoice._use_the_containers_codec): WebM's VP9, or AV1 for a deeper source."""
    names = []
    for container_format in container_formats:
        names.append(_containers_own_codec(container_format)[0])
        if container_format == "webm":
            names.append(_WEBM_HIGH_DEPTH[0])
    return names


def _check_options_some_encoder_has(settings: EncodeSettings, encoders: list[str]) -> None:
    """The user's options (-e) that none of `encoders`, those a clip may get, has: each
    clip of a watch with no --codec failed with it in turn, its .webm clips swapping the
    codec (a pipeline's own options go with its codec, and were checked against it)."""
    given = _users_options(settings)
    unknown = set(given)
    for name in encoders:
        unknown -= encoder_option_names(video_encoder(name).name)
    if unknown:
        check_options_known(encoders[0], {name: given[name] for name in sorted(unknown)})


def _container_replaces(settings: EncodeSettings, codec: str, container_format: str) -> bool:
    """Whether an output in `container_format` is encoded with the container's own codec in
    place of encoder `codec`: the default, which nobody chose, where it cannot go."""
    return settings.codec_is_default and codec not in codecs_held_by(container_format)[0]


def _format_asked(
    codec: av.codec.Codec, pix_fmt: str, the_presets: bool
) -> tuple[str, str, str | None]:
    """(planes format write() takes, format the encoder gets, a note or None) for pixel
    format `pix_fmt`, asked for or (`the_presets`) a preset's, in encoder `codec`; a
    VsrError where it takes neither that format nor, for a preset's, one near it."""
    wanted = check_pix_fmt_name(pix_fmt)
    supported = [f.name for f in codec.video_formats or ()]
    if not supported or wanted in supported:
        return wanted, wanted, None
    choice = nearest_supported(wanted, supported)
    if choice is not None and choice[0] == wanted:
        return *choice, None  # a twin of it, repacked without loss (gbrp as FFV1's bgr0)
    if choice is not None and the_presets:
        # A preset's format was chosen for its codec: another one (--pipeline archive
        # --codec prores_ks) takes the nearest, where the error blamed a --pix-fmt nobody
        # gave.
        note = (
            f"the preset's pixel format {wanted} is not one {codec.name} takes: encoded as "
            f"{choice[1]} (choose with {option('--pix-fmt', setting=True)})"
        )
        return *choice, note
    # Only what vsr could feed it: the encoder's other packed formats are not.
    usable = dict.fromkeys(filter(None, map(planes_format_for, supported)))
    raise VsrError(
        f"{option('--pix-fmt', wanted, setting=True)}: {codec.name} takes "
        f"{', '.join(usable) or 'no planar YUV or RGB format'}"
    )


def check_quality_and_speed(codec: str, settings: EncodeSettings) -> None:
    """A crf encoder `codec` (libx264, not h264) cannot take, or a preset or tune it does
    not know, in `settings`, as one clear error."""
    # -e crf=... goes to the encoder as text (a crf field beside it is the same value:
    # EncodeSettings refuses another): its number gets the check, else libav's own words
    # were all ("libx264 rejected crf=-5 (Numerical result out of range)"). Text that is
    # no number is left to libav, which names it.
    given = settings.options.get("crf")
    check_crf(codec, settings.crf if given is None else crf_number(given))
    check_x26x_names(codec, settings.preset, settings.options)


class EncoderChoice:
    """The encoder for an output of `width` x `height` in `container_format`, decided once.

    `codec`, `settings` (the container's own codec may replace the default), `pix_fmt`
    (what the writer takes), `encoder_fmt` (what the encoder gets), `options`,
    `color_matrix` (GBR for RGB planes), `color_range`, `matrix_tag` and `chroma_siting`
    are what to open it with; `notes` says what was decided for the user. `error` is the
    trial open's refusal (None: it opened), after a refused option of the user's was named
    (VsrError) and odd sizes were moved to 4:4:4; `libav_said` holds libav's own lines
    about it.
    """

    def __init__(
        self,
        path: Path,
        container_format: str,
        source: VideoInfo,
        width: int,
        height: int,
        settings: EncodeSettings,
    ) -> None:
        self.path, self.container_format, self.source = path, container_format, source
        self.width, self.height, self.settings = width, height, settings
        self.notes: list[str] = []
        self.codec = video_encoder(settings.codec)
        check_no_option_vsr_sets(settings.options)
        self._encoder_said = self.codec.name  # how a refusal names the encoder
        if _container_replaces(settings, self.codec.name, container_format):
            self._use_the_containers_codec()
        self.color_matrix = source.color_matrix
        self.color_range = source.color_range
        self.matrix_tag = source.color_matrix_tag or self.color_matrix
        check_container_holds(container_format, self.codec.name, path.suffix)
        self._the_presets_format = False  # whether the pixel format is a preset's
        self.pix_fmt, self.encoder_fmt = self._choose_format()
        if is_planar_rgb(self.pix_fmt):
            # RGB planes need no matrix, and hold every code (tag "rgb", AVCOL_SPC_RGB):
            # decoders read RGB as full range whatever the container can mark.
            self.color_matrix, self.matrix_tag, self.color_range = GBR, "rgb", "pc"
        else:
            self._use_the_encoders_only_matrix()
            self._limit_range_if_unmarkable()
            self._widen_range_for_jpeg()
        self.chroma_siting = self._choose_siting()
        self.options = self._options_for_encoder()
        self.libav_said: list[str] = []
        self.error = self._try_encoder()
        if self.error:
            self._blame_a_given_option(self.error)
            self._refuse_a_rate_mpeg_has_not()
        odd_size_fails = self.error or self.codec.name in _ODD_SIZE_ENCODED_WRONG
        if odd_size_fails and self._odd_size_problem():
            self._switch_to_444_for_odd_size()
            self.error = self._try_encoder()
            if self.error:
                self._blame_a_given_option(self.error)
        elif not self.error:
            self._say_if_few_players_play_it()
        if self.chroma_siting != self._wanted_siting and _subsampled(self.pix_fmt):
            shift = parse_planar(self.pix_fmt)[1]  # type: ignore[index]
            note = siting_lost_note(
                self.codec.name, self.path.suffix, shift, self._wanted_siting, self.chroma_siting
            )
            self.notes.append(note)

    def _choose_siting(self) -> str:
        """Where the output's chroma sits (vsr.video.output_siting): the source's where the
        output declares it so that decoders read it back, else where they read it. A siting
        given with -e chroma_sample_location is the user's choice."""
        parsed = parse_planar(self.pix_fmt)
        shift = parsed[1] if parsed else (0, 0)
        given = self.settings.options.get("chroma_sample_location")
        # FFmpeg takes the names or their numbers (AVChromaLocation: 1 left ... 4 top).
        given = {"1": "left", "2": "center", "3": "topleft", "4": "top"}.get(given, given)
        if given is not None and given not in CONVERTED:
            # Declared as given while converted at another, the colour would sit off.
            raise VsrError(
                f"-e chroma_sample_location={given}: vsr converts at {', '.join(CONVERTED)} "
                "(FFmpeg's 1 to 4)"
            )
        self._wanted_siting = conversion_siting(given or self.source.chroma_location, shift)
        if given is not None:
            return self._wanted_siting  # declared as given, without a note
        return output_siting(self.codec.name, self.container_format, shift, self._wanted_siting)

    def _use_the_encoders_only_matrix(self) -> None:
        """Convert to the one matrix an encoder's pictures can hold (_ONE_MATRIX), with a
        note, where the source's is another."""
        fixed = _ONE_MATRIX.get(self.codec.name)
        if fixed is not None and self.color_matrix != fixed[0]:
            matrix, self.matrix_tag, what = fixed
            self.notes.append(f"{what}: the picture is converted from {self.color_matrix}")
            self.color_matrix = matrix

    def _limit_range_if_unmarkable(self) -> None:
        """Full range goes to limited where the output cannot mark it: such codes are read
        back as limited, blacks crushed and whites clipped."""
        unmarkable = _NO_FULL_RANGE | _NO_FULL_RANGE_IN.get(self.container_format, set())
        if self.color_range == "pc" and self.codec.name in unmarkable:
            self.notes.append(
                f"{self.codec.name} in {self.path.suffix} cannot mark full range: the picture "
                "is converted to limited range (16-235), as players will read it"
            )
            self.color_range = "tv"

    def _widen_range_for_jpeg(self) -> None:
        """Limited range goes to full where the encoder knows no other (MJPEG)."""
        if self.color_range == "tv" and self.codec.name in _FULL_RANGE_ONLY:
            self.notes.append(
                f"{self.codec.name} pictures are full range by their standard: the picture "
                "is converted to full range (0-255)"
            )
            self.color_range = "pc"

    def _say_if_few_players_play_it(self) -> None:
        """A note when the source's chroma or depth, kept as it is, makes an H.264 or HEVC
        stream that browsers, phones and TVs do not play (High 4:4:4, High 10, HEVC RExt).
        A format asked for with --pix-fmt is the user's choice, and is not questioned."""
        if self.settings.pix_fmt and not self.settings.pix_fmt_is_default:
            return
        whose = "the preset's" if self._the_presets_format else "the source's"
        if is_planar_rgb(self.pix_fmt) and self.codec.name in ("libx265", "libvpx-vp9"):
            self.notes.append(
                f"{self.codec.name} in RGB ({self.pix_fmt}) plays in few players (no web "
                "browser, few phones and TVs); for wide playback use "
                f"{option('--pix-fmt', 'yuv420p', setting=True)}"
            )
            return
        parsed = parse_planar(self.pix_fmt)
        if parsed is None or self.codec.name not in ("libx264", "libx265"):
            return
        depth, shift = parsed
        widely_played = 8 if self.codec.name == "libx264" else 10
        if shift == (1, 1) and depth <= widely_played:
            return
        kind = {(0, 0): "4:4:4", (1, 0): "4:2:2"}.get(shift, "")
        what = f"{kind} {depth}-bit".strip() if shift != (1, 1) else f"{depth}-bit"
        advice = option("--pix-fmt", "yuv420p", setting=True)
        if self.codec.name == "libx264" and shift == (1, 1) and self.source.bit_depth > 8:
            advice += f", or {option('--codec', 'libx265', setting=True)} to keep the bits"
        self.notes.append(
            f"{self.codec.name} at {whose} {what} ({self.pix_fmt}) plays in few players "
            f"(no web browser, few phones and TVs); for wide playback use {advice}"
        )

    def why_hint(self) -> str:
        """What libav's bare errno text ("Operation not permitted", "Unknown error") means
        for a hardware encoder: the device or its driver is missing on this machine; and
        for DNxHD, which refuses all but its broadcast sizes unless given a DNxHR profile."""
        hardware = av.codec.codec.Capabilities.hardware | av.codec.codec.Capabilities.hybrid
        if self.codec.name == "dnxhd" and not self.options.get("profile", "").startswith("dnxhr"):
            # Its default profile is DNxHD's, of broadcast sizes and rates only.
            return (
                f" (DNxHD takes only its broadcast frame sizes; "
                f"{option('-e', 'profile=dnxhr_hq', setting=True)} takes any size from 256x120)"
            )
        if self.codec.capabilities & hardware:
            return (
                " (a hardware encoder: it needs its device and driver; else try "
                f"{option('--codec', 'libx264', setting=True)})"
            )
        return ""

    def _use_the_containers_codec(self) -> None:
        """The default codec cannot go into this container: take the container's own, with
        the quality asked for (crf) and the options the user gave (-e), but not the default's
        speed preset, which names x264's presets, nor a pipeline preset's own options."""
        name, options = _containers_own_codec(self.container_format)
        why = ""
        if self.container_format == "webm" and self._wants_more_than_8_bits(name):
            (name, options) = _WEBM_HIGH_DEPTH
            depth = self.source.bit_depth
            why = f" for its {depth} bits" if depth > 8 else f" for {self.settings.pix_fmt}"
        codec = video_encoder(name)
        # What was set for the default codec (a preset's speed and options, a pixel format
        # the new one lacks) does not carry over; the quality (crf) and the user's own
        # options do: dropping them left -e cpu-used=8 and -e crf=45 unused without a word.
        formats = [f.name for f in codec.video_formats or ()]
        pix_fmt = self.settings.pix_fmt if self.settings.pix_fmt in formats else None
        typed = _users_options(self.settings)
        self._refuse_options_the_encoder_lacks(name, typed)
        left = [f"{k}={v}" for k, v in self.settings.options.items() if k not in typed]
        left += [f"preset={self.settings.preset}"] if self.settings.preset else []
        left += [f"pix_fmt={self.settings.pix_fmt}"] if self.settings.pix_fmt != pix_fmt else []
        kept = ", ".join(f"{k}={v}" for k, v in typed.items())
        with_given = f" and the options given, {kept}" if kept else ""
        dropped = f"; its settings {', '.join(left)} do not apply" if left else ""
        self.notes.append(
            f"{self.settings.codec} cannot go into {self.path.suffix} files: encoding with "
            f"{name}{why} (choose another with {option('--codec', setting=True)}){with_given}"
            f"{dropped}"
        )
        # The user never named this encoder: a refusal of their option says where it came from.
        self._encoder_said = f"{name} (vsr's encoder for {self.path.suffix} files)"
        self.settings = replace(
            self.settings,
            codec=name,
            preset=None,
            pix_fmt=pix_fmt,
            options={**options, **typed},
            preset_option_names=frozenset(),
        )
        self.codec = codec

    def _refuse_options_the_encoder_lacks(self, name: str, typed: dict[str, str]) -> None:
        """An option the user gave that encoder `name`, chosen by vsr for the container,
        does not have: refused as a typo is for a codec the user chose, but saying which
        encoder vsr chose and why, which the user never named. Its values are left to the
        trial open, which names the one it refuses."""
        known = encoder_option_names(name)
        for key, value in typed.items():
            if key not in known:
                raise VsrError(
                    f"{option('-e', f'{key}={value}')}: {self.settings.codec} cannot go into "
                    f"{self.path.suffix} files, and {name}, which vsr encodes them with, has "
                    f"no option {key}; give it with {option('--codec', setting=True)} for the "
                    "encoder it is meant for, or leave it out"
                )

    def _wants_more_than_8_bits(self, name: str) -> bool:
        """Whether more than 8 bits are wanted (asked for with a pix_fmt, or the source's
        when no 8-bit pix_fmt is set) and encoder `name` has only 8 (while WebM's other
        one, libsvtav1, has more)."""
        asked = parse_planes(self.settings.pix_fmt) if self.settings.pix_fmt else None
        deep_asked = asked is not None and asked[0] > 8 and not self.settings.pix_fmt_is_default
        if not deep_asked and (self.source.bit_depth <= 8 or (asked and asked[0] <= 8)):
            return False

        def deepest(encoder: str) -> int:
            try:
                formats = video_encoder(encoder).video_formats or ()
            except VsrError:
                return 0  # not in this build
            parsed = [parse_planar(f.name) for f in formats]
            return max((p[0] for p in parsed if p is not None), default=0)

        return deepest(name) <= 8 < deepest(_WEBM_HIGH_DEPTH[0])

    def _choose_format(self) -> tuple[str, str]:
        """(planes format write() takes, format the encoder gets)."""
        supported = [f.name for f in self.codec.video_formats or ()]
        if self.settings.pix_fmt:
            asked = self.settings.pix_fmt
            if self.settings.pix_fmt_is_default:
                asked = self._with_the_sources_finer_sampling(asked, supported)
            self._the_presets_format = asked == self.settings.pix_fmt
            planes_format, encoder_format, note = _format_asked(
                self.codec, asked, self.settings.pix_fmt_is_default
            )
            if note:
                self.notes.append(note)
            return planes_format, encoder_format
        wanted = self._default_format(supported)
        if not supported or wanted in supported:
            return wanted, wanted
        choice = nearest_supported(wanted, supported)
        if choice is None:
            raise VsrError(f"{self.codec.name} takes no planar YUV or RGB format vsr can feed it")
        planes_format, encoder_format = choice
        if planes_format != wanted:
            self.notes.append(
                f"{self.codec.name} cannot encode {wanted}; using {planes_format} instead"
            )
        return planes_format, encoder_format

    def _with_the_sources_finer_sampling(self, preset_format: str, supported: list[str]) -> str:
        """A preset's YUV format, with the source's chroma and depth where they are finer
        and the encoder takes them, with a note. A preset's format is a default, chosen for
        the usual 4:2:0 source: the archive preset's yuv420p10le halved a 4:4:4 source's
        chroma without a word, a loss no later step can undo."""
        preset, source = parse_planar(preset_format), parse_planes(self.source.pix_fmt)
        if preset is None or source is None:
            return preset_format
        depth = max(preset[0], source[0])
        shift = (min(preset[1][0], source[1][0]), min(preset[1][1], source[1][1]))
        finer = planar_name(depth, shift)
        if finer == preset_format:
            return preset_format
        # What the source's format is finer than: the preset's as this encoder takes it, its
        # nearest where it lacks it (_format_asked). Against the preset's own, libvpx-vp9
        # (8 bits here) was refused yuv444p for the archive preset's yuv420p10le, and
        # encoded a 4:4:4 source as yuv420p, its chroma halved for 10 bits it never had.
        taken = nearest_supported(preset_format, supported) if supported else None
        base = (parse_planar(taken[0]) if taken else None) or preset
        nearest = nearest_supported(finer, supported) if supported else (finer, finer)
        kept = parse_planar(nearest[0]) if nearest else None
        if kept is None or kept[0] < base[0] or kept[1] > base[1] or kept == base:
            self.notes.append(
                f"the preset's pixel format {preset_format} reduces the source's "
                f"{self.source.pix_fmt}: {self.codec.name} takes no finer one"
            )
            return preset_format
        if base != preset:
            self.notes.append(
                f"the preset's pixel format {preset_format} is not one {self.codec.name} "
                f"takes: encoded as {nearest[0]}, the nearest it takes to the source's finer "
                f"{self.source.pix_fmt} (choose with {option('--pix-fmt', setting=True)})"
            )
            return nearest[0]
        self.notes.append(
            f"the source's {self.source.pix_fmt} is finer than the preset's pixel format "
            f"{preset_format}: encoded as {nearest[0]} to keep it "
            f"({option('--pix-fmt', preset_format, setting=True)} reduces it)"
        )
        return nearest[0]

    def _default_format(self, supported: list[str]) -> str:
        """The planes to write when no format is asked for: the source's, except RGB for an
        RGB source to a lossless RGB encoder (_LOSSLESS_RGB_ENCODERS), and for any source to an
        encoder that takes RGB only (libx264rgb, png, qtrle)."""
        depth = self.source.bit_depth
        rgb = planar_rgb_name(depth)
        if self.source.rgb_planes and self.codec.name in _LOSSLESS_RGB_ENCODERS:
            # RGB where it keeps every bit, or at least as many as YCbCr would there (MagicYUV
            # has 8 bits of each here): YCbCr would move codes by its matrix on top.
            rgb_depth, yuv_depth = (
                parse_planes(nearest[0])[0] if nearest else 0  # type: ignore[index]
                for nearest in (
                    nearest_supported(rgb, supported),
                    nearest_supported(self.source.pix_fmt, supported),
                )
            )
            return rgb if rgb_depth >= min(depth, max(yuv_depth, 1)) else self.source.pix_fmt
        takes_rgb_only = (
            bool(supported)
            and nearest_supported(self.source.pix_fmt, supported) is None
            and nearest_supported(rgb, supported) is not None
        )
        return rgb if takes_rgb_only else self.source.pix_fmt

    def _try_encoder(self, options: dict[str, str] | None = None) -> str | None:
        return trial_open(
            self.codec.name,
            self.width,
            self.height,
            self.encoder_fmt,
            encoder_time_base(self.codec.name, self.source.time_base, self.source.average_rate),
            self.source.average_rate,
            self.options if options is None else options,
            self.libav_said,
            RANGE_CODES[self.color_range],
        )

    def _given_options(self) -> dict[str, str]:
        """The encoder options the user (or a pipeline preset) chose, as they gave them."""
        flags = {"crf": self.settings.crf, "preset": self.settings.preset}
        given = {key: str(value) for key, value in flags.items() if value is not None}
        given.update(self.settings.options)  # -e wins, as in _encoder_options
        return {key: value for key, value in given.items() if key in self.options}

    def _blame_a_given_option(self, error: str) -> None:
        """The encoder refused to open: when it opens without the user's options, raise an
        error that names the one it refuses (libav's own text, e.g. "Invalid argument", says
        neither which option nor which value).

        The blame is measured, not guessed: the option whose removal lets the encoder open
        is the one at fault. Removals go from the last option given (an -e option, then
        --preset, then --crf: where typos live) so that the culprit is usually found by
        the first try, which, lacking it, makes x264 print its own complaint no second
        time. Failing that (two bad values), each option is tried alone. When the encoder
        does not open even without them (missing hardware, an encoder PyAV cannot drive),
        this returns and the caller decides.
        """
        given = self._given_options()
        if not given:
            return
        own = {k: v for k, v in self.options.items() if k not in given}
        if self.codec.name == "libx265":
            # Without the user's x265-params, still without x265's banner and warnings.
            own["x265-params"] = "log-level=error"
        if self._try_encoder(own) is not None:
            return
        for key in reversed(given):
            others = {k: self.options[k] for k in given if k != key}
            if self._try_encoder({**own, **others}) is None:
                raise VsrError(f"{self._encoder_said} rejected {key}={given[key]} ({error})")
        for key, value in given.items():
            alone = self._try_encoder({**own, key: self.options[key]})
            if alone is not None:
                raise VsrError(f"{self._encoder_said} rejected {key}={value} ({alone})")
        listed = " ".join(f"{k}={v}" for k, v in given.items())
        raise VsrError(f"{self._encoder_said} rejected these options together: {listed}")

    def _refuse_a_rate_mpeg_has_not(self) -> None:
        """MPEG-1 and MPEG-2 hold the frame rates their standards list, and libav's refusal
        of another speaks of the time base it was opened with."""
        if self.codec.name not in COUNT_IN_FRAMES:
            return
        if not any("does not support" in line for line in self.libav_said):
            return
        rate = self.source.average_rate
        fractions = ", and some fractions of them" if self.codec.name == "mpeg2video" else ""
        raise VsrError(
            f"{self.codec.name} holds the frame rates of its standard (23.976, 24, 25, 29.97, "
            f"30, 50, 59.94, 60 fps{fractions}), not this clip's "
            f"{f'{float(rate):.4g}' if rate else 'unknown'} fps; use "
            f"{option('--codec', 'libx264', setting=True)}, which keeps any timing"
        )

    def _odd_size_problem(self) -> bool:
        _, (sx, sy), _ = parse_planes(self.pix_fmt)  # type: ignore[misc]
        odd = (sx and self.width % 2) or (sy and self.height % 2)
        return bool(odd) and self.codec.name not in _ANY_SIZE

    def _switch_to_444_for_odd_size(self) -> None:
        """Keep the exact output size: 4:4:4 has no even-size rule, padding would change it."""
        depth, shift = parse_planar(self.pix_fmt)  # type: ignore[misc]
        full = planar_name(depth, (0, 0))
        supported = [f.name for f in self.codec.video_formats or ()]
        if full not in supported:
            raise VsrError(
                f"{self.codec.name} cannot encode the odd size {self.width}x{self.height} in "
                f"{self.pix_fmt} and has no 4:4:4 format; use "
                f"{option('--codec', 'libx264', setting=True)} or ffv1"
            )
        self.notes.append(
            f"odd size {self.width}x{self.height}: {self.pix_fmt} needs even sizes in "
            f"{self.codec.name}, so the output is {full} (full-resolution chroma) to keep "
            "the exact size"
        )
        self.pix_fmt = self.encoder_fmt = full

    def _options_for_encoder(self) -> dict[str, str]:
        check_quality_and_speed(self.codec.name, self.settings)
        options: dict[str, str] = {}
        for key, value in (("crf", self.settings.crf), ("preset", self.settings.preset)):
            if value is None:
                continue
            if encoder_option_type(self.codec.name, key):
                options[key] = str(value)
            else:
                self.notes.append(
                    f"{self.codec.name} has no {key} option; "
                    f"{option(f'--{key}', setting=True)} ignored"
                )
        options.update(self.settings.options)
        if _subsampled(self.pix_fmt):
            # The encoder option is the one way to declare it (frame tags are not read).
            options.setdefault("chroma_sample_location", self.chroma_siting)
        quiet_encoder(self.codec.name, options)
        rate = _RATE_WITHOUT_B.get(self.codec.name)
        if rate is not None and "b" not in options:
            self.notes.append(
                f"{self.codec.name} has no crf: it encodes at {rate} unless a rate is given, "
                "e.g. -e b=8M"
            )
        hdr = self.source.hdr10
        if hdr is not None and self.codec.name in HDR10_ENCODERS:
            # HDR10 static metadata travels as encoder parameters (a user's own ones win).
            key = HDR10_ENCODERS[self.codec.name]
            given = options.get(key, "")
            if not any(name in given for name in _HDR10_PARAMETER_NAMES):
                options[key] = ":".join(p for p in (given, hdr.params_for(self.codec.name)) if p)
        elif hdr is not None:
            self.notes.append(
                f"the source's HDR10 mastering/light-level metadata is not written by "
                f"{self.codec.name}; use {option('--codec', 'libx265', setting=True)} or "
                "libsvtav1 to keep it"
            )
        return options


def quiet_encoder(codec: str, options: dict[str, str]) -> None:
    """Errors only from the encoders that print to stderr themselves, unless the user's
    `options` say otherwise (`codec` is the encoder's name: libx265, not hevc)."""
    if codec == "libx265":
        # x265 writes its banner and statistics to stderr itself, once per encoder (with
        # several encoders, once per chunk).
        params = options.get("x265-params", "")
        if "log-level" not in params:
            options["x265-params"] = ":".join(p for p in (params, "log-level=error") if p)
    if codec == "libsvtav1":
        # SVT-AV1 prints a 20-line banner per encoder opened (vsr opens two) unless its
        # own log level, read from the environment, says errors only.
        os.environ.setdefault("SVT_LOG", "1")


# x264 and x265 quantise to 51 at most: libav admits any crf above -1 for them, and x264
# silently takes 70 as 51 while x265 refuses it with "Invalid data found".
_X26X_CRF_MAX = 51


@cache
def _crf_option(codec: str) -> av.codec.context.CodecOption | None:
    """Encoder `codec`'s own crf option in libav (its limits and type), or None."""
    try:
        context = av.codec.CodecContext.create(codec, "w")
    except (av.error.FFmpegError, ValueError):
        return None
    return next((o for o in context.supported_options.private if o.name == "crf"), None)


def crf_range(codec: str) -> tuple[int, int] | None:
    """The crf values encoder `codec` (libx264, not h264) takes as a quality, from its own
    option's limits in libav; None when it has no crf option. A minimum that is also the
    option's default means "unset" (-1 for x264, x265 and libvpx, 0 for SVT-AV1), so it
    is left out."""
    found = _crf_option(codec)
    if found is None:
        return None
    low, high = math.ceil(found.min), math.floor(found.max)
    if float(found.default) == found.min:
        low += 1
    if codec in ("libx264", "libx264rgb", "libx265"):
        high = _X26X_CRF_MAX
    return low, high


def crf_number(text: str | None) -> int | float | None:
    """The number an -e crf's `text` gives (x264 and x265 take fractions, 18.5), or None
    where it gives none."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def check_crf(codec: str, crf: float | None) -> None:
    """A crf the encoder cannot take, as one clear error before it is opened (libav's own
    words were "Numerical result out of range"). The values an encoder takes but reads as
    "not set", so that it falls back to its own default quality without a word, are named
    as such: -1 for x264 and x265 (crf 23 and 28), and 0 for SVT-AV1 (crf 35), which a
    user means as the best quality. `codec` is the encoder's name (libx264, not h264)."""
    limits = crf_range(codec)
    # An encoder without crf (FFV1, NVENC) ignores --crf with a note, -1 as any other value.
    if crf is None or limits is None:
        return
    if crf == -1 and codec != "libsvtav1":  # x264, x265 and libvpx open with it
        raise VsrError(f"crf -1: {codec} reads it as unset (its default); use 0 or more")
    if crf == 0 and codec == "libsvtav1":
        raise VsrError("crf 0: libsvtav1 reads it as unset (its default, 35); use 1 to 63")
    whole = _crf_option(codec).type.name == "INT"
    if not limits[0] <= crf <= limits[1] or (whole and crf != int(crf)):
        # libvpx and SVT-AV1 round a fraction without a word (-e crf=18.5 ran at 18).
        kind = " whole numbers" if whole and crf != int(crf) else ""
        raise VsrError(f"crf {crf}: {codec} takes{kind} {limits[0]} to {limits[1]}")


def _subsampled(pix_fmt: str) -> bool:
    parsed = parse_planar(pix_fmt)
    return parsed is not None and parsed[1] != (0, 0)


def check_x26x_names(codec: str, preset: str | None, options: dict[str, str]) -> None:
    """A preset or tune x264 or x265 does not know, named with the ones it does (``options``
    are the -e options, which may set either too). Both take a preset by its number, 0 to 9
    too; x264 takes names in any case and several tunes at once ("film,fastdecode"), x265
    one tune, spelt exactly."""
    tunes = _TUNES.get(codec)
    if tunes is None:
        return
    x264 = codec == "libx264"
    preset = options.get("preset", preset)
    known = (*_X26X_PRESETS, *map(str, range(10)))
    if preset is not None and (preset.lower() if x264 else preset) not in known:
        raise VsrError(f"{codec} has no preset {preset!r}; its presets: {', '.join(_X26X_PRESETS)}")
    tune = options.get("tune")
    if tune is None:
        return
    names = [name.lower() for name in re.split(r"[,./+-]", tune) if name] if x264 else [tune]
    unknown = [name for name in names if name not in tunes]
    if unknown:
        raise VsrError(f"{codec} has no tune {unknown[0]!r}; its tunes: {', '.join(tunes)}")
