"""Small, deterministic test clips made with PyAV (a few frames, tiny sizes, fast).

Every generator writes real media files so the tests exercise the same demux/decode paths
as a user's clip. The picture is a gradient with a moving square (so frames differ and
motion prediction has work to do); the audio is a sine tone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.bench_clip import top_field_first
from vsr.video.captions import emulation_prevented

# Audio codec per container: what the container holds without trouble.
_AUDIO_CODEC = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}
_FORMAT = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".ts": "mpegts"}
_VFR_STEPS_MS = (40, 40, 60, 20, 100, 33, 47)


@dataclass
class ClipFrame:
    """One frame as it was handed to the encoder (planes in the clip's pix_fmt)."""

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    pts: int


def picture_planes(
    width: int, height: int, index: int, pix_fmt: str = "yuv420p"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planar YUV content for frame `index`: gradients plus a moving bright square."""
    fmt = av.VideoFormat(pix_fmt, width, height)
    bits = fmt.components[0].bits
    dtype = np.uint8 if bits <= 8 else np.uint16
    peak = (1 << bits) - 1
    cw, ch = fmt.chroma_width(width), fmt.chroma_height(height)

    yy, xx = np.mgrid[0:height, 0:width]
    luma = 16 + (xx * 7 + yy * 3 + index * 5) % 220
    size = max(2, min(width, height) // 4)
    x0 = (index * 3) % max(1, width - size)
    y0 = (index * 2) % max(1, height - size)
    luma[y0 : y0 + size, x0 : x0 + size] = 235
    cy, cx = np.mgrid[0:ch, 0:cw]
    u = 128 + ((cx * 5 + index * 7) % 64) - 32
    v = 128 + ((cy * 5 + index * 3) % 64) - 32

    def scale(plane: np.ndarray) -> np.ndarray:
        return np.clip(plane * (peak + 1) // 256, 0, peak).astype(dtype)

    return scale(luma), scale(u), scale(v)


def frame_from_planes(planes, pix_fmt: str) -> av.VideoFrame:
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, planes, strict=True):
        row = plane.line_size // data.itemsize
        view = np.frombuffer(plane, dtype=data.dtype).reshape(plane.height, row)
        view[:, : data.shape[1]] = data
    return frame


def make_rgb_clip(
    path: str | Path, stored: str, width: int = 64, height: int = 48, frames: int = 2
) -> None:
    """An FFV1 clip of RGB noise stored as `stored` (bgr0, gbrp10le, gbrp16le...): every
    code of every component is as likely, so any rounding on the way shows."""
    rng = np.random.default_rng(frames)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, stored
        for index in range(frames):
            noise = rng.integers(0, 65536, (height, width, 3), dtype=np.uint16)
            frame = av.VideoFrame.from_ndarray(noise, format="rgb48le").reformat(format=stored)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def make_clip(
    path: str | Path,
    width: int = 64,
    height: int = 48,
    frames: int = 5,
    *,
    rate: int = 25,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    audio: bool = True,
    vfr: bool = False,
    rotation: int = 0,
    display_matrix: list[int] | None = None,
    subtitles: bool = False,
    colors: tuple[int, int, int, int] | None = None,
    source_format: str | None = None,
    faststart: bool = False,
    keyframe_every: int | None = None,
    audio_codec: str | None = None,
    chirp: bool = False,
    chapters: list[tuple[float, float, str]] | None = None,
    chroma_location: str | None = None,
) -> list[ClipFrame]:
    """Write a clip and return the frames that went into the encoder.

    colors: (colorspace, color_range, color_primaries, color_trc) as FFmpeg enum values.
    source_format: store the frames in this pixel format instead (e.g. "nv12", "gray"),
    converted from the planar content by swscale (the returned planes are then the
    planar content before conversion).
    faststart: put the MP4 index before the data (so a truncated copy still opens).
    keyframe_every: the GOP length (for seeking); default: the encoder's own.
    audio_codec: instead of the container's usual one (e.g. "libopus" in .mkv).
    chirp: a rising tone (`tone_at`) instead of a steady one, so a shift in time shows.
    chapters: (start s, end s, title) marks.
    chroma_location: the chroma siting the encoder declares (e.g. "topleft").
    display_matrix: FFmpeg's nine integers (a mirror, say), instead of `rotation`.
    """
    path = Path(path)
    options = {"movflags": "faststart"} if faststart else {}
    out = av.open(str(path), "w", format=_FORMAT[path.suffix], options=options)
    time_base = Fraction(1, 1000) if vfr else Fraction(1, rate)
    encoder_options = {"preset": "ultrafast", "crf": "18"} if codec == "libx264" else {}
    if chroma_location is not None:
        encoder_options["chroma_sample_location"] = chroma_location
    video = out.add_stream(codec, rate=rate, options=encoder_options)
    video.width, video.height = width, height
    video.pix_fmt = source_format or pix_fmt
    video.codec_context.time_base = time_base
    video.time_base = time_base
    if keyframe_every is not None:
        video.codec_context.gop_size = keyframe_every
    if colors is not None:
        cc = video.codec_context
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = colors
    if rotation:
        video.set_display_rotation(rotation)
    if display_matrix is not None:
        video.set_display_matrix(display_matrix)

    sound = None
    if audio:
        sound = out.add_stream(audio_codec or _AUDIO_CODEC[path.suffix], rate=48000)
        sound.layout = "mono"
    subs = out.add_mux_stream("subrip") if subtitles else None
    if chapters:
        out.set_chapters(
            [
                {"id": n + 1, "start": round(a * 1000), "end": round(b * 1000),
                 "time_base": Fraction(1, 1000), "metadata": {"title": title}}
                for n, (a, b, title) in enumerate(chapters)
            ]
        )  # fmt: skip

    written: list[ClipFrame] = []
    pts = 0
    for index in range(frames):
        planes = picture_planes(width, height, index, pix_fmt)
        frame = frame_from_planes(planes, pix_fmt)
        if source_format:
            frame = frame.reformat(format=source_format)
        frame.pts = pts
        frame.time_base = time_base
        if colors is not None:
            frame.colorspace, frame.color_range = colors[0], colors[1]
        out.mux(video.encode(frame))
        written.append(ClipFrame(planes, pts))
        pts += _VFR_STEPS_MS[index % len(_VFR_STEPS_MS)] if vfr else 1
    out.mux(video.encode(None))
    duration = float(pts * time_base)

    if sound is not None:
        _write_sine(out, sound, duration, chirp)
    if subs is not None:
        for start, text in ((0, "first line"), (int(duration * 500), "second line")):
            packet = av.Packet(text.encode())
            packet.stream = subs
            packet.time_base = Fraction(1, 1000)
            packet.pts = packet.dts = start
            packet.duration = 100
            out.mux(packet)
    out.close()
    return written


def tone_at(t: np.ndarray, chirp: bool = False) -> np.ndarray:
    """The clips' sound at times `t` (s): 440 Hz, or a tone rising from 200 Hz by 200 Hz a
    second, which matches itself at no other shift."""
    phase = 200.0 * t + 100.0 * t * t if chirp else 440.0 * t
    return 0.3 * np.sin(2 * math.pi * phase)


def _write_sine(out, sound, duration: float, chirp: bool = False) -> None:
    samples_per_frame = 960
    total = max(samples_per_frame, int(duration * 48000))
    for start in range(0, total, samples_per_frame):
        t = np.arange(start, start + samples_per_frame) / 48000.0
        tone = tone_at(t, chirp).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        frame.sample_rate = 48000
        frame.pts = start
        frame.time_base = Fraction(1, 48000)
        out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def make_clip_with_sound(
    path: str | Path,
    frames: int,
    codec: str,
    chunk: np.ndarray,
    sample_format: str,
    chunks: int,
    rate: int = 25,
) -> None:
    """64x48 H.264 of `frames` pictures beside mono 48 kHz sound in `codec`: `chunks`
    frames of the samples `chunk` (shape (1, n), in `sample_format`). make_clip's sound
    follows its pictures; this one is as long, and framed, as a test needs."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream(codec, rate=48000)
        sound.layout = "mono"
        for index in range(frames):
            frame = frame_from_planes(picture_planes(64, 48, index), "yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        step = chunk.shape[1]
        for k in range(chunks):
            samples = av.AudioFrame.from_ndarray(chunk, sample_format, "mono")
            samples.sample_rate, samples.pts, samples.time_base = (
                48000,
                step * k,
                Fraction(1, 48000),
            )
            out.mux(sound.encode(samples))
        out.mux(sound.encode(None))


def make_audio_only(path: str | Path, seconds: float = 0.5) -> None:
    """An .m4a-like file with audio and no video stream."""
    path = Path(path)
    out = av.open(str(path), "w", format=_FORMAT.get(path.suffix, "mp4"))
    sound = out.add_stream("aac", rate=48000)
    sound.layout = "mono"
    _write_sine(out, sound, seconds)
    out.close()


def truncate(path: str | Path, fraction: float, dest: str | Path | None = None) -> Path:
    """Keep the first `fraction` of the file's bytes (in place, or into `dest`)."""
    path = Path(path)
    target = Path(dest) if dest else path
    data = path.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def folder_with_outputs(
    tmp_path: Path, clips: dict[str, bytes], outputs: dict[str, bytes]
) -> tuple[Path, Path]:
    """tmp_path/in holding `clips` and tmp_path/out holding `outputs` (an earlier run's), as
    a folder run finds them: each file's bytes as given (a stand-in runner reads no video)."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for name, data in clips.items():
        (folder / name).write_bytes(data)
    for name, data in outputs.items():
        (out / name).write_bytes(data)
    return folder, out


def corrupt_middle_packets(path: str | Path, count: int = 2) -> list[int]:
    """Overwrite the payload of `count` video packets in the middle of the clip with noise.

    Returns the indices (in file order) of the damaged packets. The container structure
    is left intact, so demuxing still works and only decoding fails.
    """
    spans = _video_packet_spans(path)
    first = len(spans) // 2 - count // 2
    damaged = list(range(first, first + count))
    corrupt_packets(path, damaged)
    return damaged


def corrupt_packets(path: str | Path, indices: list[int]) -> None:
    """Overwrite the payload of the video packets at `indices` (in file order, negative
    from the end) with noise, leaving the container's structure intact."""
    path = Path(path)
    spans = _video_packet_spans(path)
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(7)
    for index in indices:
        pos, size = spans[index]
        start = pos + min(8, size // 2)
        data[start : pos + size] = noise.integers(0, 256, pos + size - start, np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _video_packet_spans(path: str | Path) -> list[tuple[int, int]]:
    """(file offset, size) of each video packet that holds data, in file order."""
    with av.open(str(path)) as container:
        return [
            (packet.pos, packet.size)
            for packet in container.demux(video=0)
            if packet.size and packet.pos is not None and packet.pos >= 0
        ]


@dataclass
class Mp4VideoTiming:
    """What an MP4/MOV file declares about its video track's length.

    edit_seconds: the edit list's presentation time (what the file says plays);
    sample_seconds: the sum of the decode-time steps (stts), which FFmpeg's demuxer reports
    as the stream's duration.
    """

    edit_seconds: Fraction
    sample_seconds: Fraction


_MP4_PARENTS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def _mp4_boxes(data: bytes, start: int, end: int):
    """(type, payload) of the boxes in data[start:end], descending into the ones that nest."""
    while start + 8 <= end:
        size, kind = int.from_bytes(data[start : start + 4], "big"), data[start + 4 : start + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[start + 8 : start + 16], "big"), 16
        elif size == 0:
            size = end - start
        yield kind, data[start + header : start + size]
        if kind in _MP4_PARENTS:
            yield from _mp4_boxes(data, start + header, start + size)
        start += size


def _mp4_header_fields(payload: bytes) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd payload, version 0 or 1."""
    if payload[0] == 1:
        return int.from_bytes(payload[20:24], "big"), int.from_bytes(payload[24:32], "big")
    return int.from_bytes(payload[12:16], "big"), int.from_bytes(payload[16:20], "big")


def mp4_video_timing(path: str | Path) -> Mp4VideoTiming:
    """Read the video track's edit list and sample table of an MP4/MOV file."""
    data = Path(path).read_bytes()
    movie_scale = None
    tracks: list[dict] = []
    for kind, payload in _mp4_boxes(data, 0, len(data)):
        if kind == b"mvhd":
            movie_scale = _mp4_header_fields(payload)[0]
        elif kind == b"trak":
            tracks.append({})
        elif kind == b"hdlr":  # MOV's second hdlr (data handler) is not the media's
            tracks[-1].setdefault("handler", payload[8:12])
        elif kind == b"mdhd":
            tracks[-1]["scale"] = _mp4_header_fields(payload)[0]
        elif kind == b"elst":
            wide = payload[0] == 1
            entry = 20 if wide else 12
            count = int.from_bytes(payload[4:8], "big")
            spans = [
                int.from_bytes(payload[8 + i * entry : 8 + i * entry + (8 if wide else 4)], "big")
                for i in range(count)
            ]
            tracks[-1]["edit"] = sum(spans)
        elif kind == b"stts":
            count = int.from_bytes(payload[4:8], "big")
            tracks[-1]["samples"] = sum(
                int.from_bytes(payload[8 + i * 8 : 12 + i * 8], "big")
                * int.from_bytes(payload[12 + i * 8 : 16 + i * 8], "big")
                for i in range(count)
            )
    video = next(t for t in tracks if t.get("handler") == b"vide")
    return Mp4VideoTiming(
        edit_seconds=Fraction(video["edit"], movie_scale),
        sample_seconds=Fraction(video["samples"], video["scale"]),
    )


def make_slide_show(path: Path) -> Path:
    """Three H.264 frames at 0, 1 and 2 s, the last shown for 5 s (7 s in all), each
    packet with its duration: a slide show, or a GIF's long last frame."""
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=1, options={"preset": "ultrafast"})
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    video.codec_context.time_base = video.time_base = Fraction(1, 1000)
    packets = []
    for second in range(3):
        rgb = np.full((48, 64, 3), 60 * second, np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = 1000 * second, Fraction(1, 1000)
        packets += video.encode(frame)
    packets += video.encode(None)
    for packet in packets:
        packet.duration = 5000 if packet.pts == 2000 else 1000
        out.mux(packet)
    out.close()
    return path


def make_ts_recording(
    path: Path,
    frames: int,
    start: int = 0,
    gop: int | None = None,
    b_frames: int = 0,
    sound_seconds: float | None = None,
    times: list[int] | None = None,
) -> None:
    """An MPEG-TS of `frames` 64x48 frames at 25 fps (frame k at `start` + 3600 k in
    1/90000 s, or at `start` + times[k] at a variable rate; a keyframe every `gop` frames)
    and AAC sound from `start`, as long as 25 fps frames or `sound_seconds`. A `start`
    near 2**33 is a clock that wraps: libav reads it as negative."""
    tick = Fraction(1, 90000)
    options = {"bf": str(b_frames), **({"g": str(gop), "keyint_min": str(gop)} if gop else {})}
    rng = np.random.default_rng(1)
    with av.open(str(path), "w", format="mpegts") as container:
        video = container.add_stream("libx264", rate=25, options=options)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = video.time_base = tick
        sound = container.add_stream("aac", rate=48000)
        sound.layout = "mono"
        for index in range(frames):
            picture = np.full((48, 64, 3), 20 * index % 256, np.uint8)
            if b_frames:  # x264 uses them for pictures that change all over
                picture = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
            frame.pts = start + (3600 * index if times is None else times[index])
            frame.time_base = tick
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        seconds = frames / 25 if sound_seconds is None else sound_seconds
        for k in range(int(seconds * 48000) // 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            chunk.sample_rate, chunk.time_base = 48000, Fraction(1, 48000)
            chunk.pts = start * 48000 // 90000 + k * 1024
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))


def _odd_parity(byte: int) -> int:
    """`byte` (7 bits) with the parity bit that CEA-608 wants (odd)."""
    return byte | (0x80 * (bin(byte).count("1") % 2 == 0))


def caption_triplets(index: int) -> bytes:
    """Frame `index`'s cc_data: two CEA-608 field-1 byte pairs (odd parity, as 608 wants)
    that no other frame of a clip under 95 frames has, so a caption moved to another frame
    shows."""
    return bytes(
        [0xFC, _odd_parity(0x14), _odd_parity(0x20)]
        + [0xFC, _odd_parity(0x20 + index % 95), _odd_parity(0x41)]
    )


def _608_script() -> list[tuple[int, int]]:
    """Field-1 byte pairs, one a frame, of a pop-on caption then a roll-up one, as a caption
    encoder sends them (each control code twice: a decoder acts on the first)."""

    def twice(code: int) -> list[tuple[int, int]]:
        return [(0x14, code), (0x14, code)]  # channel 1's miscellaneous control codes

    def text(chars: str) -> list[tuple[int, int]]:
        return [(ord(a), ord(b)) for a, b in zip(chars[::2], chars[1::2], strict=True)]

    row_15 = [(0x14, 0x60), (0x14, 0x60)]  # preamble address code: row 15, white
    pop_on = twice(0x20) + row_15 + text("HELLO WORLD ") + twice(0x2F)  # RCL ... EOC
    roll_up = twice(0x25) + twice(0x2D) + row_15 + text("ROLL") + twice(0x2D) + text("UP")
    return pop_on + twice(0x2C) + roll_up  # EDM clears the pop-on caption


CEA608_FRAMES = len(_608_script())  # 25


def cea608_cc_data(index: int) -> bytes:
    """Frame `index`'s cc_data as an ATSC encoder sends it: a 608 field-1 pair of
    `_608_script` (padding 80 80 past its end), field-2 padding, and two 708 padding
    triplets (FA 00 00, whose zeros need emulation prevention in an SEI)."""
    script = _608_script()
    high, low = script[index] if index < len(script) else (0, 0)
    field_1 = [0xFC, _odd_parity(high), _odd_parity(low)]
    return bytes(field_1 + [0xFD, 0x80, 0x80] + [0xFA, 0, 0] * 2)


def make_captioned_clip(
    path: Path,
    frames: int = 4,
    captioned: Iterable[int] | None = None,
    cc_data: Callable[[int], bytes] = caption_triplets,
    b_frames: int = 0,
    rate: Fraction = Fraction(25),
) -> None:
    """H.264 in MPEG-TS at 25 fps (or `rate`) whose frames carry CEA-608 closed captions (an
    A53 SEI before their slice, as broadcast encoders write them): frame i carries
    cc_data(i), for the frames in `captioned` (None: every frame). With `b_frames` the
    packets are stored out of display order, and the decoder hands the captions over in
    display order."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "yuv420p"
    encoder.time_base, encoder.framerate = 1 / rate, rate
    encoder.options = {"bf": str(b_frames)}
    encoder.open()
    chosen = set(range(frames) if captioned is None else captioned)
    packets = []
    for index in range(frames):
        # A bar moving 4 pixels a frame: an output encoder finds B-frames worth making.
        picture = np.full((48, 64, 3), 60, np.uint8)
        left = 4 * index % 56
        picture[:, left : left + 8] = 220
        frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
        frame.pts = index
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    start = 1 + b_frames  # in frames: B-frames start the decode times that much earlier
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("h264", rate=rate)
        stream.width, stream.height, stream.time_base = 64, 48, Fraction(1, 90000)
        ticks = round(90000 / rate)  # a frame, in 1/90000
        for packet in packets:
            data = bytes(packet)
            if packet.pts in chosen:
                # user_data_registered_itu_t_t35: USA, ATSC, "GA94", cc_data.
                triplets = cc_data(packet.pts)
                payload = bytes([0xB5, 0x00, 0x31]) + b"GA94"
                payload += bytes([0x03, 0x40 | len(triplets) // 3, 0xFF]) + triplets + b"\xff"
                rbsp = bytes([4, len(payload)]) + payload + b"\x80"
                data = _before_first_slice(
                    data, b"\x00\x00\x00\x01\x06" + emulation_prevented(rbsp)
                )
            captioned_packet = av.Packet(data)
            captioned_packet.stream, captioned_packet.time_base = stream, stream.time_base
            captioned_packet.pts = ticks * (packet.pts + start)
            captioned_packet.dts = ticks * (packet.dts + start)
            out.mux(captioned_packet)


def make_dolby_vision_tagged_clip(path: Path, frames: int = 2) -> None:
    """HEVC in MP4 under the sample entry of a Dolby Vision track (dvh1), 64x48: what the
    container says of Dolby Vision, without its configuration record or RPUs (PyAV can
    write neither)."""
    with av.open(str(path), "w", format="mp4") as out:
        # Without B-frames: x265's second encoder in a process gave a packet whose dts
        # passed its pts, which MP4 refuses ("pts/dts pair unsupported").
        quiet = {"x265-params": "log-level=none:bframes=0"}
        stream = out.add_stream("libx265", rate=25, options=quiet)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.codec_tag = "dvh1"
        for index in range(frames):
            picture = np.full((48, 64, 3), 60 * index % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def make_unregistered_dirac_ts(path: Path, frames: int = 3) -> None:
    """Dirac (FFmpeg's VC-2 encoder) in MPEG-TS, 64x48, under stream type 0xd1 with no
    registration descriptor, as broadcast muxers write such streams: libav then gives the
    stream type as the codec tag (0xd1, not ASCII). FFmpeg's muxer writes a registration
    ("drac"), which is made an unknown descriptor here, the PMT's CRC written anew."""
    encoder = av.CodecContext.create("vc2", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, 25), 25
    encoder.options = {"strict": "-2"}  # 64x48 is no VC-2 preset size
    _mux_into_ts(path, "dirac", _flat_frames_encoded(encoder, frames))
    data = bytearray(Path(path).read_bytes())
    for _, table, end in _pmt_sections(data):
        for entry, length in _pmt_entries(data, table, end):
            descriptor = entry + 5
            while descriptor < entry + 5 + length:
                if data[descriptor] == 0x05:  # registration
                    data[descriptor] = 0xFE
                descriptor += 2 + data[descriptor + 1]
        data[end - 4 : end] = _mpeg_crc32(bytes(data[table : end - 4])).to_bytes(4, "big")
    Path(path).write_bytes(data)


def _pmt_sections(data: bytearray) -> Iterator[tuple[int, int, int]]:
    """(packet, section start, section end) of each PMT section that starts in a TS packet
    of PyAV's muxer (PMT PID 0x1000)."""
    for packet in range(0, len(data), 188):
        pid = (data[packet + 1] & 0x1F) << 8 | data[packet + 2]
        if pid != 0x1000 or not data[packet + 1] & 0x40:  # a PMT section starts here
            continue
        table = packet + 5 + data[packet + 4]  # past the pointer field
        yield packet, table, table + 3 + ((data[table + 1] & 0x0F) << 8 | data[table + 2])


def _pmt_entries(data: bytearray, table: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, descriptors' length) of each elementary stream entry of a PMT section."""
    entry = table + 12 + ((data[table + 10] & 0x0F) << 8 | data[table + 11])
    while entry < end - 4:
        length = (data[entry + 3] & 0x0F) << 8 | data[entry + 4]
        yield entry, length
        entry += 5 + length


def _mpeg_crc32(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = (crc << 1 ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def make_siting_change_clip(path: Path, parts: list[tuple[str, int]], gop: int = 0) -> None:
    """H.264 in MPEG-TS, 64x48 at 25 fps, joined from parts of (chroma siting, frames),
    each encoded on its own (its own SPS, so the decoder's siting changes at its first
    frame), times running on; `gop`: a keyframe every so many frames (0: x264's own)."""
    packets = []
    for siting, frames in parts:
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "yuv420p"
        encoder.time_base, encoder.framerate = Fraction(1, 25), 25
        options = {"bf": "0", "preset": "ultrafast", "chroma_sample_location": siting}
        encoder.options = {**options, **({"g": str(gop)} if gop else {})}
        encoder.open()
        packets += _flat_frames_encoded(encoder, frames)
    _mux_into_ts(path, "h264", packets)


def make_vob(
    path: Path,
    parts: list[tuple[Fraction, int]],
    subtitles: list[float] = (),
    width: int = 72,
    height: int = 48,
) -> None:
    """MPEG-2 at 29.97 fps in a DVD's MPEG-PS (libav's "dvd" muxer, navigation packets
    included) with AC-3 sound as long as the video, as a VOB holds them; 72x48 is 720x480
    scaled down. The video is joined from parts of (display aspect ratio, frames), each
    encoded on its own: its own sequence header, so the decoder's pixel shape changes at its
    first frame (a 4:3 trailer before a 16:9 film). `subtitles`: the seconds (0.1 or later:
    earlier ones did not reach the file) at which a DVD bitmap subtitle starts, each a packet
    of no duration that shows a box for 1137 ms (its own stop command), as a VOB has them."""
    tick, step = Fraction(1, 90000), 3003
    packets: list[av.Packet] = []
    first = 0
    for aspect, frames in parts:
        encoder = av.CodecContext.create("mpeg2video", "w")
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.time_base, encoder.framerate = Fraction(1001, 30000), Fraction(30000, 1001)
        # MPEG-2 stores the display aspect ratio; the pixel shape follows from the size.
        encoder.sample_aspect_ratio = aspect * Fraction(height, width)
        encoder.gop_size = 12
        encoder.open()
        for index in range(first, first + frames):
            frame = frame_from_planes(picture_planes(width, height, index), "yuv420p")
            frame.pts = index
            packets += encoder.encode(frame)
        packets += encoder.encode(None)
        first += frames
    with av.open(str(path), "w", format="dvd") as out:
        video = out.add_stream("mpeg2video", rate=Fraction(30000, 1001))
        video.width, video.height, video.time_base = width, height, tick
        sound = out.add_stream("ac3", rate=48000)
        sound.layout = "stereo"
        spu = out.add_mux_stream("dvd_subtitle") if subtitles else None
        timed = []
        for packet in packets:  # times of their own: the parts' encoders each start at 0
            muxed = av.Packet(bytes(packet))
            muxed.stream, muxed.time_base, muxed.is_keyframe = video, tick, packet.is_keyframe
            muxed.pts, muxed.dts = (packet.pts + 1) * step, (packet.dts + 1) * step
            timed.append((muxed.dts, muxed))
        for start in range(0, first * 48000 * 1001 // 30000 - 1536 + 1, 1536):
            tone = tone_at(np.arange(start, start + 1536) / 48000).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(np.stack([tone, tone]), "fltp", "stereo")
            chunk.sample_rate, chunk.time_base, chunk.pts = 48000, Fraction(1, 48000), start
            timed += [(p.dts * 90000 // 48000, p) for p in sound.encode(chunk)]
        timed += [(p.dts * 90000 // 48000, p) for p in sound.encode(None)]
        for seconds in subtitles:
            muxed = av.Packet(_dvd_subtitle_box())
            muxed.stream, muxed.time_base = spu, tick
            muxed.pts = muxed.dts = step + round(seconds * 90000)
            timed.append((muxed.dts, muxed))
        for _, packet in sorted(timed, key=lambda item: item[0]):
            out.mux(packet)


def _dvd_subtitle_box() -> bytes:
    """A DVD subtitle (SPU) of a 32x8 box at (10, 10), shown at once and hidden after
    100 units of 1024/90000 s (1137 ms): a line is one run of colour 1 to its end."""
    line = bytes([0x00, 0x01])
    fields = line * 4 + line * 4  # the top field's four lines, then the bottom's
    x0, x1, y0, y1 = 10, 41, 10, 17
    place = bytes([x0 >> 4, (x0 & 15) << 4 | x1 >> 8, x1 & 255])
    place += bytes([y0 >> 4, (y0 & 15) << 4 | y1 >> 8, y1 & 255])
    control = 4 + len(fields)
    show = bytes([0x01, 0x03, 0x32, 0x10, 0x04, 0xFF, 0xF0, 0x05]) + place
    show += bytes([0x06, 0, 4, 0, 4 + len(line) * 4, 0xFF])
    hide_at = control + 4 + len(show)
    body = fields + (0).to_bytes(2, "big") + hide_at.to_bytes(2, "big") + show
    body += (100).to_bytes(2, "big") + hide_at.to_bytes(2, "big") + bytes([0x02, 0xFF])
    return (4 + len(body)).to_bytes(2, "big") + control.to_bytes(2, "big") + body


def _flat_frames_encoded(encoder: av.CodecContext, frames: int) -> list[av.Packet]:
    """The packets of `frames` flat 64x48 pictures of changing grey, flushed."""
    packets = []
    for index in range(frames):
        picture = np.full((48, 64, 3), 40 * index % 256, np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
        frame.pts = index
        packets += encoder.encode(frame)
    return packets + encoder.encode(None)


def _mux_into_ts(
    path: Path,
    codec: str,
    packets: list[av.Packet],
    rate: Fraction = Fraction(25),
    seconds_of_sound: float = 0.0,
    size: tuple[int, int] = (64, 48),
) -> None:
    """`packets` of a `size` (64x48) `codec` stream at `rate` into MPEG-TS, one frame each,
    times running on (in decode order: no helper's encoder reorders) from one frame on;
    with `seconds_of_sound`, that much of the rising tone (AAC) from zero."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = size
        stream.time_base = Fraction(1, 90000)
        sound = None
        if seconds_of_sound:
            sound = out.add_stream("aac", rate=48000)
            sound.layout = "mono"
        step = Fraction(90000) / rate  # 3600 at 25 fps, 3003 at 29.97
        for index, packet in enumerate(packets):
            muxed = av.Packet(bytes(packet))
            muxed.stream, muxed.time_base = stream, stream.time_base
            muxed.pts = muxed.dts = round(step * (index + 1))
            out.mux(muxed)
        if sound is not None:
            _write_sine(out, sound, seconds_of_sound, chirp=True)


def _before_first_slice(data: bytes, nal: bytes) -> bytes:
    """Annex B `data` with `nal` put before its first picture slice (NAL type 1 or 5)."""
    at = data.find(b"\x00\x00\x01")
    while at >= 0:
        if data[at + 3] & 0x1F in (1, 5):
            start = at - 1 if at and data[at - 1] == 0 else at
            return data[:start] + nal + data[start:]
        at = data.find(b"\x00\x00\x01", at + 3)
    return data


def combed_picture(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """An RGB picture of a bright bar moving right by 8 pixels a frame, as an interlaced
    camera takes it: the bottom field (odd rows) 1/50 s after the top one, so the bar is
    4 pixels further right on odd rows and every vertical edge is combed."""
    picture = np.full((height, width, 3), 30, np.uint8)
    for row in range(height):
        left = 4 + 8 * index + 4 * (row % 2)
        picture[row, left : left + 12] = 220
    return picture


def comb_strength(luma: np.ndarray) -> float:
    """How combed a picture is: the mean absolute vertical second difference of its rows
    (alternate rows that disagree, as woven fields of a moving picture do, make it large)."""
    rows = luma.astype(np.float64)
    return float(np.abs(2 * rows[1:-1] - rows[:-2] - rows[2:]).mean())


def make_interlaced_clip(
    path: Path,
    frames: int = 6,
    marked: bool = True,
    progressive_first: int = 0,
    rate: Fraction = Fraction(25),
    sound: bool = False,
    keyframe_every: int | None = None,
    still_from: int | None = None,
) -> None:
    """H.264, 64x48 at 25 fps (or `rate`), of `combed_picture`s, a keyframe every
    `keyframe_every` frames (None: the first only). `still_from`: the bar stops there, each
    later frame the same picture as that one. `marked`: encoded as
    interlaced (top field first), so the decoder marks its frames interlaced; else as
    progressive frames, the comb and all. `progressive_first`: that many frames encoded as
    progressive before the interlaced ones (each part its own stream, joined in MPEG-TS;
    `path` then is one). `sound`: with the rising tone (tone_at) from one frame before the
    first frame to the last one's end."""
    parts = [(False, progressive_first), (marked, frames - progressive_first)]
    packets, start = [], 0
    for interlaced, count in parts:
        if not count:
            continue
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "yuv420p"
        encoder.time_base, encoder.framerate = 1 / rate, rate
        params = [*(["tff=1"] if interlaced else [])]
        if keyframe_every is not None:
            params += [f"keyint={keyframe_every}", f"min-keyint={keyframe_every}", "scenecut=0"]
        encoder.options = {"bf": "0", **({"x264-params": ":".join(params)} if params else {})}
        encoder.open()
        for index in range(start, start + count):
            shown = index if still_from is None else min(index, still_from)
            picture = av.VideoFrame.from_ndarray(combed_picture(shown), "rgb24")
            frame = picture.reformat(format="yuv420p")
            frame.pts, frame.time_base = index, 1 / rate
            packets += encoder.encode(top_field_first(frame) if interlaced else frame)
        packets += encoder.encode(None)
        start += count
    _mux_into_ts(path, "h264", packets, rate, float((frames + 1) / rate) if sound else 0.0)


def make_interlaced_file(
    path: Path, frames: int, keyframe_every: int | None = None, still_from: int | None = None
) -> None:
    """make_interlaced_clip's pictures, encoded as interlaced (top field first) at 25 fps,
    muxed straight into the container `path` names (.mp4, .avi: AVI's time base is the
    frame, a field half a tick) rather than joined in MPEG-TS. `keyframe_every` and
    `still_from` as there."""
    params = ["tff=1"]
    if keyframe_every is not None:
        params += [f"keyint={keyframe_every}", f"min-keyint={keyframe_every}"]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"bf": "0", "x264-params": ":".join(params)}
        for index in range(frames):
            shown = index if still_from is None else min(index, still_from)
            frame = av.VideoFrame.from_ndarray(combed_picture(shown), "rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(stream.encode(top_field_first(frame)))
        out.mux(stream.encode(None))


FILM_SIZE = (128, 48)


def film_picture(index: int, width: int = FILM_SIZE[0], height: int = FILM_SIZE[1]) -> np.ndarray:
    """An RGB picture of film frame `index`: a bright bar 12 pixels wide at 8 * index."""
    picture = np.full((height, width, 3), 30, np.uint8)
    picture[:, 8 * index : 8 * index + 12] = 220
    return picture


def video_picture(index: int, width: int = FILM_SIZE[0], height: int = FILM_SIZE[1]) -> np.ndarray:
    """An RGB picture of frame `index` shot interlaced: a bar 24 pixels wide moving 16 pixels
    a frame (from the left again before it leaves the picture), its bottom field (odd rows)
    8 pixels further on than its top one; enough comb in each 16x16 block for fieldmatch to
    call it combed (80 pixels, its default combpel)."""
    picture = np.full((height, width, 3), 30, np.uint8)
    for row in range(height):
        left = 16 * index % (width - 32) + 8 * (row % 2)
        picture[row, left : left + 24] = 220
    return picture


def telecine_fields(film_frames: int) -> list[tuple[int, int]]:
    """The (top, bottom) film frame of each video frame of 3:2 pulldown, top field first:
    AA BB BC CD DD for every 4 film frames (fields A A B B B C C D D D)."""
    fields = [k for k in range(film_frames) for _ in range(2 if k % 2 == 0 else 3)]
    return [(fields[i], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


def make_telecined_clip(
    path: Path,
    film_frames: int = 12,
    video_frames: int = 0,
    codec: str = "libx264",
    sound: bool = False,
) -> list[tuple[int, int]]:
    """Film hard-telecined to 29.97i in MPEG-TS, FILM_SIZE, H.264 (or `codec`, such as
    mpeg2video) coded interlaced, top field first: `film_picture`s woven by
    `telecine_fields`. `video_frames`: that many frames shot interlaced after the film
    (`video_picture`s: each field a moment of its own), as a broadcast's credits. `sound`: the rising tone
    (tone_at) from zero to one frame past the end. Returns each frame's (top, bottom) film
    frame ((-1, -1) for a video frame)."""
    rate = Fraction(30000, 1001)
    width, height = FILM_SIZE
    woven = telecine_fields(film_frames)
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = 1 / rate, rate
    if codec == "libx264":
        encoder.options = {"bf": "0", "x264-params": "tff=1"}
    else:
        encoder.options = {"bf": "0"}
        encoder.max_b_frames = 0
        encoder.flags |= av.codec.context.Flags.interlaced_dct
        encoder.flags |= av.codec.context.Flags.interlaced_me
        encoder.bit_rate = 4_000_000
    encoder.open()
    packets = []
    for index in range(len(woven) + video_frames):
        if index < len(woven):
            top, bottom = woven[index]
            picture = film_picture(top).copy()
            picture[1::2] = film_picture(bottom)[1::2]
        else:
            picture = video_picture(index - len(woven))
        frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index, 1 / rate
        packets += encoder.encode(top_field_first(frame))
    packets += encoder.encode(None)
    frames = len(woven) + video_frames
    seconds = float((frames + 1) / rate) if sound else 0.0
    stream_codec = "h264" if codec == "libx264" else "mpeg2video"
    _mux_into_ts(path, stream_codec, packets, rate, seconds, (width, height))
    return woven + [(-1, -1)] * video_frames


# 3:2 pulldown by flags, per film frame (top_field_first, repeat_first_field): A shows 3
# fields top first, B 2 bottom first, C 3 bottom first, D 2 top first (AAA BB CCC DD).
SOFT_PULLDOWN = ((1, 1), (0, 0), (0, 1), (1, 0))


def make_soft_telecined_clip(path: Path, film_frames: int = 12) -> None:
    """Film soft-telecined in MPEG-TS, as on an NTSC DVD: MPEG-2 `film_picture`s coded as
    progressive frames at 29.97 fps (frame_rate_code 4, progressive_sequence 0) whose
    repeat_first_field and top_field_first flags make the 3:2 pulldown (SOFT_PULLDOWN). The
    decoder gives the film frames, 1001/24000 s apart on average (1.5 and 1 frames of 29.97
    alternately). mpeg2video sets no repeat flag, so the coded headers are changed here.
    A `path` ending in .m2v gets the elementary stream, untimed."""
    rate = Fraction(24000, 1001)
    width, height = FILM_SIZE
    encoder = av.CodecContext.create("mpeg2video", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = 1 / rate, rate
    encoder.max_b_frames = 0
    encoder.flags |= av.codec.context.Flags.interlaced_dct  # progressive_sequence 0
    encoder.bit_rate = 4_000_000
    encoder.open()
    stream = bytearray()
    for index in range(film_frames):
        frame = av.VideoFrame.from_ndarray(film_picture(index), "rgb24").reformat(format="yuv420p")
        frame.pts = index
        stream += b"".join(bytes(packet) for packet in encoder.encode(frame))
    stream += b"".join(bytes(packet) for packet in encoder.encode(None))
    picture, at = -1, stream.find(b"\x00\x00\x01")
    while at >= 0:
        code = stream[at + 3]
        if code == 0xB3:  # sequence header: frame_rate_code (low 4 bits of byte 7) 4, 29.97
            stream[at + 7] = (stream[at + 7] & 0xF0) | 4
        elif code == 0xB5 and stream[at + 4] >> 4 == 1:  # sequence extension
            stream[at + 5] &= ~0x08  # progressive_sequence 0: the field flags count
        elif code == 0xB5 and stream[at + 4] >> 4 == 8:  # picture coding extension
            picture += 1
            top_first, repeat = SOFT_PULLDOWN[picture % 4]
            stream[at + 7] = (stream[at + 7] & ~0x82) | top_first << 7 | repeat << 1
            stream[at + 8] |= 0x80  # progressive_frame
        at = stream.find(b"\x00\x00\x01", at + 4)
    elementary = path.with_suffix(".m2v")
    elementary.write_bytes(bytes(stream))
    if path == elementary:
        return  # the raw stream itself, as a DVD's demuxed film
    # Remuxed, so that the times are the parser's: each frame as long as its fields.
    with av.open(str(elementary)) as source, av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.dts is not None or packet.pts is not None:
                packet.stream = video
                out.mux(packet)
    elementary.unlink()


def raw_stream_level(index: int) -> int:
    """The grey of frame `index` of make_raw_stream: 20 apart, so that each frame is
    told apart after upscaling and lossy coding (which move a flat grey by a step or two)."""
    return 16 + (20 * index) % 220


def make_raw_stream(
    path: str | Path,
    fmt: str = "h264",
    codec: str = "libx264",
    rate: Fraction | int = Fraction(30000, 1001),
    frames: int = 10,
    width: int = 64,
    height: int = 48,
    pix_fmt: str = "yuv420p",
) -> None:
    """A raw elementary video stream (`fmt`: a muxer of one, "h264", "hevc", "mpeg2video",
    "mjpeg", "obu"...; or a container such as "mxf", "dv", "nut"), its frames flat greys
    (raw_stream_level), coded at `rate`: what the stream states, where it can state one."""
    options = {"preset": "ultrafast", "crf": "10"} if codec in ("libx264", "libx265") else {}
    if codec == "libx265":
        options["x265-params"] = "log-level=error"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for index in range(frames):
            grey = np.full((height, width, 3), raw_stream_level(index), np.uint8)
            frame = av.VideoFrame.from_ndarray(grey, format="rgb24").reformat(format=pix_fmt)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def gop_header_timecodes(path: Path) -> list[str]:
    """The time code of every GOP header in the video's packets, read from the bits
    (drop_frame_flag 1, hours 5, minutes 6, marker 1, seconds 6, pictures 6)."""
    found = []
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            data = bytes(packet)
            at = data.find(b"\x00\x00\x01\xb8")
            if at >= 0:
                bits = int.from_bytes(data[at + 4 : at + 8], "big")
                hours, minutes = (bits >> 26) & 31, (bits >> 20) & 63
                seconds, pictures = (bits >> 13) & 63, (bits >> 7) & 63
                mark = ";" if bits >> 31 else ":"
                found.append(f"{hours:02d}:{minutes:02d}:{seconds:02d}{mark}{pictures:02d}")
    return found


def make_gopro_clip(path: Path, frames: int = 12, chapters: bool = False) -> None:
    """An MP4 of 25 fps H.264 with a GoPro-style telemetry track (MP4 writes a data track
    of bin_data as a 'gpmd' track, handler "GoPro MET"): a packet every 4 frames, 160 ms
    long, reading GPMF0000, GPMF0004, ... after the frame it starts at. chapters: a chapter
    where each packet starts, titled "Mark 0", "Mark 4" ... after its frame."""
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "bf": "0"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        telemetry = out.add_data_stream("bin_data")
        telemetry.time_base = Fraction(1, 1000)
        if chapters:
            starts = range(0, frames, 4)
            out.set_chapters(
                [
                    {
                        "id": number + 1,
                        "start": start * 40,
                        "end": min(start + 4, frames) * 40,
                        "time_base": Fraction(1, 1000),
                        "metadata": {"title": f"Mark {start}"},
                    }
                    for number, start in enumerate(starts)
                ]
            )
        for index in range(frames):
            planes = picture_planes(64, 48, index, "yuv420p")
            frame = frame_from_planes(planes, "yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
            if index % 4 == 0:
                packet = av.Packet(f"GPMF{index:04d}".encode())
                packet.stream, packet.time_base = telemetry, Fraction(1, 1000)
                packet.pts = packet.dts = index * 40
                packet.duration = 160
                out.mux(packet)
        out.mux(video.encode(None))


def make_empty_scte35_ts(path: Path, frames: int = 3) -> None:
    """H.264 in MPEG-TS, 64x48, with an SCTE-35 cue track that holds no packets, as
    a broadcast recording's often does: stream type 0x86 under a registration "CUEI" in
    the program (which libav needs to read it as scte_35) and in the track (with which MOV's
    header takes the track). FFmpeg's muxer writes no SCTE-35, so its data track (type 0x06) is
    made one here, the PMT section written anew."""
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "bf": "0"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        out.add_data_stream("bin_data")
        for index in range(frames):
            frame = frame_from_planes(picture_planes(64, 48, index, "yuv420p"), "yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    cuei = b"\x05\x04CUEI"  # registration descriptor
    data = bytearray(Path(path).read_bytes())
    for packet, table, end in _pmt_sections(data):
        entries = b""
        for entry, length in _pmt_entries(data, table, end):
            if data[entry] == 0x06:  # the data track: SCTE-35, its descriptors replaced
                pid_bytes = bytes(data[entry + 1 : entry + 3])
                entries += b"\x86" + pid_bytes + bytes([0xF0, len(cuei)]) + cuei
            else:
                entries += bytes(data[entry : entry + 5 + length])
        head = bytearray(data[table : table + 12])
        head[10:12] = bytes([0xF0, len(cuei)])  # the program's descriptors: CUEI alone
        section = head + cuei + entries
        length = len(section) - 3 + 4  # after the length field, the CRC included
        section[1:3] = bytes([section[1] & 0xF0 | length >> 8, length & 0xFF])
        section += _mpeg_crc32(bytes(section)).to_bytes(4, "big")
        stuffed = bytes(data[packet:table]) + section
        data[packet : packet + 188] = stuffed + b"\xff" * (188 - len(stuffed))
    Path(path).write_bytes(data)


def make_bmp_cover_mp4(path: Path, picture: np.ndarray) -> bytes:
    """An MP4 of 4 frames whose cover (covr atom) is `picture` (RGB, uint8) as a BMP;
    returns the BMP's bytes. libav reads such a cover, but PyAV writes none into MP4: the
    file is written with a PNG cover, whose atom then gets the BMP (data type 27) and its
    enclosing boxes the new sizes (moov comes last, so no chunk offset moves)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "BMP")
    bmp = buffer.getvalue()
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        cover = out.add_stream("png", rate=1)
        cover.width, cover.height, cover.pix_fmt = picture.shape[1], picture.shape[0], "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        png = cover.encode(av.VideoFrame.from_ndarray(picture, format="rgb24"))
        png += cover.encode(None)
        for index in range(4):
            rgb = np.full((48, 64, 3), index * 40, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        out.mux(png)
    data = bytearray(Path(path).read_bytes())
    chain, start, end = [], 0, len(data)
    for kind in (b"moov", b"udta", b"meta", b"ilst", b"covr", b"data"):
        while data[start + 4 : start + 8] != kind:
            start += int.from_bytes(data[start : start + 4], "big")
            assert start < end, f"no {kind!r} box"
        size = int.from_bytes(data[start : start + 4], "big")
        chain.append((start, size))
        start, end = start + 8 + (4 if kind == b"meta" else 0), start + size  # meta: full box
    assert chain[0][0] + chain[0][1] == len(data), "moov is not last"
    box, size = chain[-1]
    data[box + 8 : box + 12] = (27).to_bytes(4, "big")  # the well-known type of BMP
    data[box + 16 : box + size] = bmp  # after the type and the locale
    grow = len(bmp) - (size - 16)
    for box, size in chain:
        data[box : box + 4] = (size + grow).to_bytes(4, "big")
    Path(path).write_bytes(bytes(data))
    return bmp
