"""Closed captions (CEA-608/708 as A53_CC frame side data) kept through `vsr run`: each
output frame carries the captions of the source frame shown at its time."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import CEA608_FRAMES, caption_triplets, cea608_cc_data, make_captioned_clip
from test_resume import interrupt_after

import vsr.video.parallel_writer as parallel_writer
from vsr.cli import main
from vsr.runner import upscale_video
from vsr.video.captions import caption_sei, with_sei

FRAMES = 12
CAPTIONED = (0, 2, 3, 5, 8, 9, 11)  # the others carry none
RATE = 25  # make_captioned_clip's frame i is shown at i / 25 s after the first


def vsr(*args: object) -> int:
    return main(["run", *map(str, args), "--quiet"])


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("captions") / "captioned.ts"
    make_captioned_clip(path, FRAMES, CAPTIONED)
    return path


def captions_by_time(path: Path) -> dict[Fraction, bytes | None]:
    """Each frame's A53_CC bytes by its time from the first frame; the decoder must meet no
    damaged frame on the way."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert not any(frame.is_corrupt for frame in frames)
    first = frames[0].pts * frames[0].time_base
    found = {}
    for frame in frames:
        side_data = [bytes(s) for s in frame.side_data if s.type.name == "A53_CC"]
        found[frame.pts * frame.time_base - first] = side_data[0] if side_data else None
    assert len(found) == len(frames)  # one time each
    return found


def expected(start_frame: int = 0) -> dict[Fraction, bytes | None]:
    """What the output's frames carry when its first frame is the source's `start_frame`."""
    return {
        Fraction(index - start_frame, RATE): caption_triplets(index) if index in CAPTIONED else None
        for index in range(start_frame, FRAMES)
    }


def reordered(path: Path) -> bool:
    """Whether the video's packets are stored out of presentation order (B-frames)."""
    with av.open(str(path)) as container:
        pts = [packet.pts for packet in container.demux(video=0) if packet.size]
    return pts != sorted(pts)


def run_notes(*args: object, tmp_path: Path) -> list[str]:
    report = tmp_path / "report.json"
    assert vsr(*args, "--report", report) == 0
    return json.loads(report.read_text())["notes"]


@pytest.mark.parametrize(
    "codec, suffix",
    [("libx264", ".mp4"), ("libx264", ".mkv"), ("libx264", ".mov"), ("libx265", ".mp4"),
     ("libx265", ".mkv")],
)  # fmt: skip
def test_each_output_frame_carries_the_captions_of_its_source_frame(
    source, weights, tmp_path, codec, suffix
):
    assert captions_by_time(source) == expected()  # what the source's decoder hands over
    out = tmp_path / f"out{suffix}"
    notes = run_notes(source, out, "--weights", weights, "--codec", codec, tmp_path=tmp_path)
    assert reordered(out)  # B-frames: packets go out in another order than frames
    assert captions_by_time(out) == expected()  # every frame, at its time, with its captions
    assert not [note for note in notes if "caption" in note]


# A cut delivers from its own first frame on, moved to zero; bwdif makes new frames (the
# captions are taken from the frames as decoded, before it).
@pytest.mark.parametrize(
    "option, first_frame", [(["--start", "0.2"], 5), (["--deinterlace", "all"], 0)]
)
def test_a_cut_or_deinterlaced_run_keeps_the_captions_of_the_frames_it_keeps(
    source, weights, tmp_path, option, first_frame
):
    out = tmp_path / "out.mkv"
    notes = run_notes(source, out, "--weights", weights, *option, tmp_path=tmp_path)
    assert captions_by_time(out) == expected(start_frame=first_frame)
    if option[0] == "--deinterlace":
        assert any(note.startswith(f"{FRAMES} frames were deinterlaced") for note in notes)


def test_several_encoders_keep_the_captions_in_every_chunk(source, weights, tmp_path, monkeypatch):
    # Chunks of 5 frames: three encoders' worth of chunks, each flushed at its end.
    monkeypatch.setattr(parallel_writer, "CHUNK_SECONDS", 0.2)
    monkeypatch.setattr(parallel_writer, "MIN_CHUNK_FRAMES", 5)
    out = tmp_path / "out.mp4"
    report = upscale_video(source, out, weights=weights, progress=False, encoders=2)
    assert not [note for note in report.notes if "one encoder" in note]  # no fallback
    assert captions_by_time(out) == expected()


def test_a_resumed_run_keeps_the_captions_of_the_chunks_it_replays(
    source, weights, tmp_path, monkeypatch
):
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 0.2)
    monkeypatch.setattr(parallel_writer, "MIN_CHUNK_FRAMES", 5)
    out = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, out, on_frames=interrupt_after(7, out, 1), **options)
    report = upscale_video(source, out, **options)
    assert (report.resumed_frames, report.frames) == (5, FRAMES)
    assert captions_by_time(out) == expected()


def test_an_output_that_cannot_hold_captions_says_so(source, weights, tmp_path):
    out = tmp_path / "out.mkv"
    notes = run_notes(source, out, "--weights", weights, "--codec", "ffv1", tmp_path=tmp_path)
    assert (
        "the video carries closed captions (CEA-608/708) in 7 frame(s), which the output does "
        "not keep: vsr puts them into H.264 and HEVC streams only, not ffv1's (libx264 and "
        "libx265 in .mp4, .mkv or .mov keep them)" in notes
    )


def _one_packet(codec: str) -> bytes:
    """The Annex B access unit of one 64x48 grey keyframe."""
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"x265-params": "log-level=none"} if codec == "libx265" else {}
    encoder.open()
    frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), "rgb24")
    frame = frame.reformat(format="yuv420p")
    frame.pts = 0
    return b"".join(bytes(p) for p in [*encoder.encode(frame), *encoder.encode(None)])


def _decoded_captions(decoder_name: str, data: bytes) -> bytes | None:
    decoder = av.CodecContext.create(decoder_name, "r")
    frames = [*decoder.decode(av.Packet(data)), *decoder.decode(None)]
    assert len(frames) == 1 and not frames[0].is_corrupt
    side_data = [bytes(s) for s in frames[0].side_data if s.type.name == "A53_CC"]
    return side_data[0] if side_data else None


def _length_prefixed(annex_b: bytes) -> bytes:
    """The same NAL units, each after its length in 4 bytes instead of a start code."""
    units = [unit.strip(b"\x00") for unit in annex_b.split(b"\x00\x00\x01")]
    return b"".join(len(unit).to_bytes(4, "big") + unit for unit in units if unit)


def _annex_b(prefixed: bytes) -> bytes:
    out, at = b"", 0
    while at < len(prefixed):
        length = int.from_bytes(prefixed[at : at + 4], "big")
        out += b"\x00\x00\x00\x01" + prefixed[at + 4 : at + 4 + length]
        at += 4 + length
    return out


@pytest.mark.parametrize("encoder, decoder", [("libx264", "h264"), ("libx265", "hevc")])
def test_the_sei_reads_back_as_the_captions_it_was_made_of(encoder, decoder):
    # 40 triplets (more than one cc_data holds), with 708 padding (FA 00 00) whose zeros
    # need emulation prevention.
    cc_data = (caption_triplets(1) + bytes([0xFA, 0, 0]) * 3) * 5
    cc_data += bytes([0xFA, 0, 0]) * (40 - len(cc_data) // 3)
    sei = caption_sei(decoder, cc_data)
    assert b"\x00\x00\x00" not in sei and b"\x00\x00\x01" not in sei
    packet = _one_packet(encoder)
    assert _decoded_captions(decoder, packet) is None
    assert _decoded_captions(decoder, _inserted(decoder, packet, sei)) == cc_data
    prefixed = _inserted(decoder, _length_prefixed(packet), sei)
    assert _decoded_captions(decoder, _annex_b(prefixed)) == cc_data


@pytest.mark.parametrize("encoder, decoder", [("libx264", "h264"), ("libx265", "hevc")])
def test_caption_bytes_that_would_read_as_a_start_code_or_an_escape_read_back_unchanged(
    encoder, decoder
):
    # After two zeros, 00 and 02 end a NAL unit, 01 starts one and 03 is an escape that the
    # decoder drops: each needs an emulation prevention byte before it in the SEI. (Marker
    # bits of 0 in a triplet's first byte are what a careless source writes.)
    cc_data = bytes([0xFC, 0, 0, 0x03, 0, 0, 0x01, 0, 0, 0x00, 0, 0x02, 0xFA, 0, 0])
    sei = caption_sei(decoder, cc_data)
    assert _decoded_captions(decoder, _inserted(decoder, _one_packet(encoder), sei)) == cc_data


def _after_a_long_sei(decoder: str, annex_b: bytes) -> bytes:
    """`annex_b` after an SEI of 5 kB of unregistered user data (an encoder's own, a
    source's metadata), so that its first slice lies past the first 4096 bytes."""
    header = b"\x06" if decoder == "h264" else b"\x4e\x01"
    payload = bytes(range(16)) + b"\x55" * 5000  # a UUID, then the data
    size = bytes([0xFF] * (len(payload) // 255) + [len(payload) % 255])
    return b"\x00\x00\x00\x01" + header + b"\x05" + size + payload + b"\x80" + annex_b


@pytest.mark.parametrize("encoder, decoder", [("libx264", "h264"), ("libx265", "hevc")])
def test_the_captions_go_into_a_packet_whose_first_slice_lies_far_in(encoder, decoder):
    cc_data = caption_triplets(3)
    packet = _after_a_long_sei(decoder, _one_packet(encoder))
    assert _decoded_captions(decoder, packet) is None
    sei = caption_sei(decoder, cc_data)
    assert _decoded_captions(decoder, _inserted(decoder, packet, sei)) == cc_data


def _inserted(codec: str, data: bytes, sei: bytes) -> bytes:
    """`data` as a packet of the encoder's, with `sei` put in: its bytes, once the packet is
    seen to keep its timing and keyframe flag."""
    packet = av.Packet(data)
    packet.time_base, packet.pts, packet.dts, packet.duration = Fraction(1, 25), 7, 6, 1
    packet.is_keyframe = True
    rebuilt = with_sei(codec, packet, sei)
    assert (rebuilt.time_base, rebuilt.pts, rebuilt.dts, rebuilt.duration) == (
        Fraction(1, 25),
        7,
        6,
        1,
    )
    assert rebuilt.is_keyframe
    return bytes(rebuilt)


def test_a_packet_without_a_picture_is_left_alone():
    sei = caption_sei("h264", caption_triplets(0))
    delimiter = av.Packet(b"\x00\x00\x00\x01\x09\xf0")  # an access unit delimiter
    assert with_sei("h264", delimiter, sei) is None
    untiled = av.Packet(b"\x00\x00\x00\x09\x09\xf0")  # lengths that do not tile
    assert with_sei("h264", untiled, sei) is None
    left_over = av.Packet(b"\x00\x00\x00\x02\x65\x88\x00")  # a slice, and a byte over
    assert with_sei("h264", left_over, sei) is None


def captions_in_order(path: Path) -> list[bytes | None]:
    """Each frame's A53_CC bytes, in the order the frames are shown."""
    with av.open(str(path)) as container:
        return [
            next((bytes(s) for s in frame.side_data if s.type.name == "A53_CC"), None)
            for frame in container.decode(video=0)
        ]


def _elementary_stream(source: Path, target: Path) -> None:
    """The H.264 of `source` as a raw Annex B file: no container, so no timestamps."""
    with av.open(str(source)) as container, target.open("wb") as out:
        for packet in container.demux(video=0):
            out.write(bytes(packet))


def _with_a_repeated_pts(source: Path, target: Path, repeated: int) -> None:
    """`source`'s H.264 in Matroska, frame `repeated` given the pts of the frame before."""
    with av.open(str(source)) as container, av.open(str(target), "w") as out:
        stream = out.add_stream("h264", rate=RATE)
        stream.width, stream.height, stream.time_base = 64, 48, Fraction(1, 1000)
        packets = [packet for packet in container.demux(video=0) if packet.size]
        for index, packet in enumerate(packets):
            remuxed = av.Packet(bytes(packet))
            remuxed.stream, remuxed.time_base = stream, Fraction(1, RATE)
            remuxed.pts = remuxed.dts = index - (index == repeated)
            out.mux(remuxed)


# Where the pts cannot tell the frames apart, each keeps its own captions by its place: a
# raw elementary stream has no timestamps at all (all 7 frames' captions were dropped), and
# where a damaged file gives frame 2 the pts of frame 1, which has none, frame 1 showed
# frame 2's captions and frame 2 none.
@pytest.mark.parametrize("remux", ["elementary stream", "repeated pts"])
def test_frames_that_their_pts_cannot_tell_apart_keep_their_own_captions(
    source, weights, tmp_path, remux
):
    if remux == "elementary stream":
        timeless = tmp_path / "captioned.h264"
        _elementary_stream(source, timeless)
    else:
        timeless = tmp_path / "captioned.mkv"
        _with_a_repeated_pts(source, timeless, repeated=2)
    in_order = [caption_triplets(i) if i in CAPTIONED else None for i in range(FRAMES)]
    assert captions_in_order(timeless) == in_order
    out = tmp_path / "out.mp4"
    notes = run_notes(timeless, out, "--weights", weights, tmp_path=tmp_path)
    assert captions_in_order(out) == in_order
    assert not [note for note in notes if "caption" in note]


def caption_text(path: Path) -> list[tuple[int, str]]:
    """What a caption decoder shows (libavcodec's cc_dec, fed each frame's A53_CC in
    display order, as players feed it): each change of the text on screen, as (the frame it
    happens at, the text in ASS)."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    decoder = av.CodecContext.create("cc_dec", "r")
    # Every change as it happens, rather than each caption once it is taken down.
    decoder.options = {"real_time": "1", "real_time_latency_msec": "0"}
    first = frames[0].pts * frames[0].time_base
    changes = []
    for frame in frames:
        cc_data = next((bytes(s) for s in frame.side_data if s.type.name == "A53_CC"), None)
        if cc_data is None:
            continue
        number = round((frame.pts * frame.time_base - first) * RATE)
        packet = av.Packet(cc_data)
        packet.pts, packet.time_base = number, Fraction(1, RATE)
        shown = decoder.decode2(packet)
        if shown is not None:
            text = "".join(rect.ass.decode() for rect in shown.rects)
            changes.append((number, text.split(",", 8)[-1]))  # the ASS event's text field
    return changes


@pytest.mark.parametrize("codec, suffix", [("libx264", ".mp4"), ("libx265", ".mkv")])
def test_a_caption_decoder_shows_the_same_text_at_the_same_frames(weights, tmp_path, codec, suffix):
    # A pop-on caption, cleared, then a roll-up one, in a source with B-frames of its own.
    source = tmp_path / "cea608.ts"
    make_captioned_clip(source, CEA608_FRAMES + 3, cc_data=cea608_cc_data, b_frames=2)
    shown = caption_text(source)
    text_alone = [(number, re.sub(r"{[^}]*}", "", text)) for number, text in shown]
    assert text_alone == [
        (10, "HELLO WORLD "),  # shown at the end of caption (EOC)
        (12, ""),  # erased (EDM)
        (20, "RO"),  # rolling up, as it comes
        (21, "ROLL"),
        (24, "ROLL\\NUP"),  # a carriage return rolled it up a row
    ]
    out = tmp_path / f"out{suffix}"
    assert vsr(source, out, "--weights", weights, "--codec", codec) == 0
    assert reordered(out)
    assert caption_text(out) == shown
