"""The times of a raw elementary video stream (.h264, .hevc, .m2v, .obu ...).

A raw stream has no container to time its frames: libavformat's raw demuxers hand over
packets without timestamps (H.264, HEVC) or with times their parser made up from 0.033 s
on (MPEG-2), and give the stream an average rate that is only the demuxer's `-framerate`
default, 25 fps, whatever the stream says. The rate the stream itself states (H.264's VUI,
an MPEG-2 sequence header) is the codec's, as libavcodec reads it: ffmpeg times the frames
by it, frame n at n frames, from zero. So does vsr: `RawTiming` stamps every decoded frame
so, in the order the decoder delivers them (presentation order), so that a cut, a resume,
the field rate, film and the writer see a timed clip like any other.

Such a stream has no index either, so a seek lands anywhere: a cut or a resume decodes it
from the top and drops what comes before (vsr.video.reader), and the stamps count from
the top every time.

A stream that states no rate at all (MJPEG, AV1 without timing info) is timed at 25 fps,
as ffmpeg times it, with a note; `--input-rate` gives the rate of one whose headers give
none or a wrong one. It is refused for a file that times its own frames: retiming those
would move the picture against its sound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av

from vsr.errors import VsrError, option

# libavformat's demuxers of video elementary streams, by their names in PyAV (checked
# against av.ContainerFormat): each has the no-timestamps flag, as image and audio
# demuxers do too, which are not meant here.
RAW_VIDEO_DEMUXERS = frozenset(
    {
        "apv",
        "av1",  # AV1 Annex B
        "avs2",
        "avs3",
        "cavsvideo",
        "dirac",
        "dnxhd",
        "evc",
        "h261",
        "h263",
        "h264",
        "hevc",
        "m4v",  # MPEG-4 part 2
        "mjpeg",
        "mjpeg_2000",
        "mpegvideo",  # MPEG-1 and MPEG-2 video (.m2v, .m1v, .mpv)
        "obu",  # AV1 low-overhead bitstream
        "vc1",
        "vvc",
    }
)

# Codecs whose parsers lengthen a frame by its repeated fields (MPEG-1/2's
# repeat_first_field, H.264's pic_struct), and whose decoders give a soft-telecined
# stream's film frames at film times.
FIELD_REPEAT_CODECS = frozenset({"mpeg1video", "mpeg2video", "h264"})

# Codecs whose raw parsers cut one packet a picture (a field's, for a field-coded one), so
# that a packet no frame came from is a lost frame (vsr.video.raw_losses). Others may hold
# pictures never shown, or several in one packet (MPEG-4 part 2's packed B-frames).
ONE_PICTURE_A_PACKET = frozenset({"mpeg1video", "mpeg2video", "h264", "hevc"})

# What ffmpeg times a raw stream at that states no rate: its raw demuxers' -framerate.
DEFAULT_RATE = Fraction(25)

# The rates of NTSC's family, which people write rounded ("29.97"): each is k * 1000/1001.
_NTSC_RATES = tuple(Fraction(k * 1000, 1001) for k in (24, 30, 48, 60, 120, 240))
_RATE_TEXT = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:/([0-9]+))?$")
_FASTEST = 1000  # fps: past any camera's, and a typo's guard (30000 for 30000/1001)


def is_raw_stream(container: av.container.InputContainer) -> bool:
    """Whether the file is a raw video elementary stream, timed by nothing but its rate."""
    return container.format.name in RAW_VIDEO_DEMUXERS


def parse_rate(text: str | float | Fraction, name: str = "--input-rate") -> Fraction:
    """A frame rate from "30000/1001", "29.97", "25" (or a number), exactly: a rounded NTSC
    rate ("23.976", "29.97", "59.94") is the 1000/1001 rate it stands for, as in ffmpeg."""
    if isinstance(text, bool):
        raise VsrError(f"{name} must be a frame rate such as 25 or 30000/1001, not {text!r}")
    if isinstance(text, Fraction | int):
        rate = Fraction(text)
    elif isinstance(text, float):
        rate = Fraction(repr(text)) if text == text and abs(text) != float("inf") else None
    else:
        match = _RATE_TEXT.match(str(text).strip())
        rate = None
        if match is not None:
            numerator, denominator = match.groups()
            if denominator is None or int(denominator):
                rate = Fraction(numerator) / int(denominator or 1)
    if rate is None:
        raise VsrError(f"{name} {text!r}: give frames per second, e.g. 25, 29.97 or 30000/1001")
    if not 0 < rate <= _FASTEST:
        raise VsrError(f"{name} {text!r}: a frame rate must lie above 0 and up to {_FASTEST} fps")
    if rate.denominator != 1 and "/" not in str(text):
        # A decimal within 0.005 fps of a 1000/1001 rate was written rounded from it.
        rate = next((ntsc for ntsc in _NTSC_RATES if abs(ntsc - rate) < 0.005), rate)
    return rate


def stated_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The rate the stream itself states (None: none), as the file is opened: the codec's
    (H.264's VUI, an MPEG-2 sequence header, AV1's timing info). MPEG-4 part 2 states its
    clock's ticks there (30000 for 29.97 fps), not frames: libavformat's reading of the
    frames' steps (`guessed_rate`) is its rate."""
    codec = stream.codec_context.framerate
    if not codec:
        return None  # guessed_rate is then the demuxer's default, not the stream's
    return codec if codec <= _FASTEST else stream.guessed_rate


@dataclass(frozen=True)
class RawTiming:
    """How the frames of a raw stream are timed: at `rate`, in the stream's time base."""

    rate: Fraction
    time_base: Fraction
    note: str | None = None  # why the rate is not the stream's own, for the user
    # Whether --input-rate times it otherwise than it would be without (its output differs).
    retimed: bool = False
    # The rate the parser lengthens frames by, where its lengths tell repeated fields.
    parser_rate: Fraction | None = None

    @classmethod
    def of(
        cls,
        stream: av.video.stream.VideoStream,
        given: Fraction | None,
    ) -> RawTiming:
        """The timing of `stream`: the `given` rate (--input-rate), else the one it states,
        else 25 fps, said in a note."""
        time_base = stream.time_base or Fraction(1, 1200000)
        own = stated_rate(stream)
        parser_rate = own or DEFAULT_RATE
        if stream.codec_context.name not in FIELD_REPEAT_CODECS:
            parser_rate = None
        if given is not None and given != (own or DEFAULT_RATE):
            said = "no frame rate" if own is None else f"{_fps(own)} fps"
            note = (
                f"the raw stream states {said}; timed at {_fps(given)} fps "
                f"({option('--input-rate')})"
            )
            return cls(given, time_base, note, retimed=True, parser_rate=parser_rate)
        if own is None:
            return cls(
                DEFAULT_RATE,
                time_base,
                "the raw stream states no frame rate: timed at 25 fps, as ffmpeg does "
                f"({option('--input-rate', metavar='RATE')} sets its rate)",
                parser_rate=parser_rate,
            )
        return cls(own, time_base, parser_rate=parser_rate)

    def _pts_at(self, frames: Fraction) -> int:
        """The pts `frames` frames of the rate from the top: exact, not a sum of rounded
        steps, where a frame is not a whole number of ticks."""
        return round(frames / (self.rate * self.time_base))

    def stamped(
        self,
        frames: Iterator[av.VideoFrame],
        gap_before: Callable[[av.VideoFrame], Fraction] | None = None,
    ) -> Iterator[av.VideoFrame]:
        """`frames`, decoded from the top, each given its time and its length: each frame
        starts where the frames before it end, frame n at n frames where each is one long.
        A soft-telecined MPEG-2 or H.264 stream (a DVD's film, demuxed) states 29.97 fps
        but holds 23.976 frames a second, each shown for 3 or 2 fields: its parser's
        length of each frame says which (1.5 or 1 frames of the stated rate). `gap_before`
        says how long the frames lost just before one were to be shown
        (vsr.video.raw_losses): the frames after a loss keep their own times."""
        shown = Fraction(0)  # frames of `rate` shown before this one
        for frame in frames:
            if gap_before is not None:
                shown += gap_before(frame)
            frame.pts = self._pts_at(shown)
            shown += self._frames_long(frame)
            frame.duration = self._pts_at(shown) - frame.pts
            yield frame

    def _frames_long(self, frame: av.VideoFrame) -> Fraction:
        """How many frames of the stated rate `frame` is shown for, in whole fields."""
        fields = self._fields(frame.duration)
        if fields is None:
            return Fraction(1)
        # A decoded frame holds both its fields: never shorter than a frame, though a
        # field-coded picture's packet may be one field long.
        return Fraction(max(fields, 2), 2)

    def packet_frames(self, packet: av.Packet) -> Fraction:
        """How many frames of the stated rate the picture in `packet` (demuxed, not
        decoded) is shown for: half a frame for a field-coded picture's packet, one field
        of the two its frame is shown for."""
        fields = self._fields(packet.duration)
        return Fraction(1) if fields is None else Fraction(max(fields, 1), 2)

    def _fields(self, duration: int | None) -> int | None:
        """How many fields a frame or packet the parser made `duration` long is shown
        for; None where the length says nothing: only MPEG-1/2 and H.264 parsers read a
        frame's repeated fields, other raw demuxers give lengths at their default rate
        until the codec is known (H.263's first frames)."""
        if self.parser_rate is None or not duration:
            return None
        fields = round(2 * duration * self.time_base * self.parser_rate)
        return min(fields, 6)  # three frames at most (MPEG-2's progressive frame tripling)


def input_rate_not_applied() -> str:
    """A folder's --input-rate (an API caller's input_rate with input_rate_raw_only) and a
    clip of it that times its own frames: upscaled as it is. Built when it is said, as
    option() names the option to whoever is running (vsr.errors)."""
    return (
        f"{option('--input-rate')} was not applied: this clip times its own frames (it is "
        "for raw video streams, .h264, .hevc, .m2v ...)"
    )


def check_input_rate_applies(
    raw: bool, given: Fraction | None, path: object, raw_only: bool = False
) -> str | None:
    """--input-rate is for what carries no timing of its own: refused for a file that times
    its own frames, or, where it was given to every clip of a folder (`raw_only`), left
    unapplied with the note returned, as a mixed folder of .mp4 and .h264 clips is normal."""
    if given is None or raw:
        return None
    if raw_only:
        return input_rate_not_applied()
    raise VsrError(
        f"{path}: {option('--input-rate')} is for raw video streams (.h264, .hevc, .m2v ...), whose "
        "frames carry no times; this file times its own frames, and retiming them would "
        "move the picture against its sound"
    )


def _fps(rate: Fraction) -> str:
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")
