"""libx265 encodes of one or two frames: their decode times are not left to chance
(vsr.video.x265_dts). x265 gave them `pts - m_bframeDelayTime`, a member it never sets for
so few frames. In one process of such writes, 14 of 24 MP4/MOV files failed with
PatchWelcomeError ("pts/dts pair unsupported") and 2 more stored a decode time seconds
before the picture.

What the member reads depends on what the heap held, so the writes run in a fresh child
process, whose heap goes the same way each time, and each follows an encoder that leaves a
delay time of 2**41 behind, as a folder run's earlier clip leaves its own. In this
process, after other tests, a run of two dozen such writes sometimes all read 0."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from conftest import python_child
from media import make_clip, picture_planes

from vsr.video.reader import VideoReader
from vsr.video.writer import EncodeSettings, VideoWriter

W, H = 64, 48
ROUNDS = 6
HEVC = EncodeSettings(codec="libx265", preset="ultrafast")

# Writes ROUNDS x each of FRAMES frame counts x each of SUFFIXES with WRITER, in OUT.
CHILD = """
import sys
from fractions import Fraction
from pathlib import Path
import av
from media import make_clip, picture_planes
from vsr.video.parallel_writer import ParallelVideoWriter
from vsr.video.reader import VideoReader
from vsr.video.writer import EncodeSettings, VideoWriter

W, H = {W}, {H}
folder = Path({folder!r})
make_clip(folder / "in.mkv", W, H, 1, codec="ffv1", audio=False)
with VideoReader(folder / "in.mkv") as reader:
    info = reader.info
step = round(1 / (info.average_rate * info.time_base))  # 40 ticks of 1 ms: 25 fps
hevc = EncodeSettings(codec="libx265", preset="ultrafast")


def leave_a_delay_time_behind():
    context = av.codec.CodecContext.create("libx265", "w")
    context.width, context.height, context.pix_fmt = W, H, "yuv420p"
    context.time_base = Fraction(1, 25)
    context.options = {{"preset": "ultrafast", "x265-params": "log-level=error"}}
    for index in range(3):
        frame = av.VideoFrame(W, H, "yuv420p")
        frame.pts = index << 40
        context.encode(frame)
    context.encode(None)


for round_ in range({rounds}):
    for frames in {frames}:
        for suffix in {suffixes}:
            leave_a_delay_time_behind()
            out = folder / f"out-{{round_}}-{{frames}}{{suffix}}"
            writer = {writer}
            with writer:
                for index in range(frames):
                    writer.write(picture_planes(W, H, index), index * step)
            notes = [note for note in writer.notes if "dts moved" in note]
            if notes:
                sys.exit(f"{{out.name}}: {{notes[0]}}")
"""


def write_in_a_child(folder: Path, frames: tuple[int, ...], suffixes: tuple[str, ...], writer: str):
    script = CHILD.format(
        W=W, H=H, folder=str(folder), rounds=ROUNDS, frames=frames, suffixes=suffixes,
        writer=writer,
    )  # fmt: skip
    done = python_child(script, timeout=60)
    assert done.returncode == 0, done.stderr[-1500:]


def packet_times(path: Path) -> list[tuple[Fraction, Fraction]]:
    """(pts, dts) in seconds of each video packet, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        return [(p.pts * base, p.dts * base) for p in container.demux(stream) if p.size]


def shown_seconds(path: Path) -> list[Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


def test_one_and_two_frame_hevc_in_mp4_and_mov_decode_when_shown(tmp_path):
    writer = "VideoWriter(out, info, W, H, hevc)"
    write_in_a_child(tmp_path, (1, 2), (".mp4", ".mov"), writer)
    for out in sorted(tmp_path.glob("out-*")):
        frames = int(out.stem.split("-")[2])
        seconds = [Fraction(n, 25) for n in range(frames)]
        assert shown_seconds(out) == seconds, out.name
        # Nothing is reordered in so short a stream: decoded when it is shown.
        assert packet_times(out) == [(s, s) for s in seconds], out.name
    assert len(list(tmp_path.glob("out-*"))) == ROUNDS * 4


def test_a_short_chunk_of_parallel_hevc_needs_no_moved_dts(tmp_path):
    # Chunks of 4: the clip's only chunk, or its last one, holds 1 or 2 frames. At a steady
    # frame rate each chunk's decode times follow the one's before it: the child fails on
    # a "dts moved" note.
    writer = "ParallelVideoWriter(out, info, W, H, hevc, encoders=2, chunk_frames=4)"
    write_in_a_child(tmp_path, (1, 2, 5, 6), (".mp4",), writer)
    for out in sorted(tmp_path.glob("out-*")):
        frames = int(out.stem.split("-")[2])
        assert shown_seconds(out) == [Fraction(n, 25) for n in range(frames)], out.name
    assert len(list(tmp_path.glob("out-*"))) == ROUNDS * 4


def test_three_frames_keep_x265s_own_decode_times(tmp_path):
    make_clip(tmp_path / "in.mkv", W, H, 1, codec="ffv1", audio=False)
    with VideoReader(tmp_path / "in.mkv") as reader:
        info = reader.info
    step = round(1 / (info.average_rate * info.time_base))
    out = tmp_path / "out.mp4"
    with VideoWriter(out, info, W, H, HEVC) as writer:
        for index in range(3):
            writer.write(picture_planes(W, H, index), index * step)
    frame = Fraction(1, 25)
    # I0 P2 B1, decoded two frames ahead of the first picture, as x265 gave them.
    assert packet_times(out) == [(0, -2 * frame), (2 * frame, -frame), (frame, 0)]
