"""Lossless audio the output container cannot copy is re-encoded losslessly where the
container holds a lossless codec (vsr.video.lossless_audio), and a track made lossy says so."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vsr import EncodeSettings, upscale_video

RATE = 48000
SECONDS = 0.3


def _clip_with_sound(
    path: Path, codec: str, layout: str, sample_format: str, bits: int = 24
) -> None:
    """64x36, 3 frames, and 0.3 s of noise in every channel, using every bit the codec
    stores (24-bit noise in 24-bit PCM; `bits` of an s32 sample): a re-encode that drops a
    bit shows."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        sound = out.add_stream(codec, rate=RATE)
        sound.layout, sound.format = layout, sample_format
        channels = av.AudioLayout(layout).nb_channels
        for index in range(3):
            picture = np.full((36, 64, 3), 60 * index, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(video.encode(None))
        total, step = int(RATE * SECONDS), 1024
        for start in range(0, total, step):
            shape = (channels, step) if sample_format.endswith("p") else (1, step * channels)
            if sample_format.startswith("flt"):
                samples = rng.uniform(-0.5, 0.5, shape).astype(np.float32)
            elif sample_format.startswith("s16"):
                samples = rng.integers(-(2**15), 2**15, shape).astype(np.int16)
            else:  # in the top of an s32, where libav keeps 24-bit samples
                noise = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), shape)
                samples = (noise << (32 - bits)).astype(np.int32)
            frame = av.AudioFrame.from_ndarray(samples, format=sample_format, layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))


def _sound(path: Path) -> tuple[str, str, float, np.ndarray]:
    """The audio track's codec, sample format, first time (s) and decoded samples (one row
    a channel)."""
    rows = []
    with av.open(str(path)) as container:  # read while open: the frames' buffers are its
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if not rows:
                first, sample_format = float(frame.pts * frame.time_base), frame.format.name
            samples = frame.to_ndarray()
            channels = len(frame.layout.channels)
            rows.append(samples if frame.format.is_planar else samples.reshape(-1, channels).T)
        codec = stream.codec_context.name
    return codec, sample_format, first, np.concatenate(rows, axis=1)


@pytest.mark.parametrize(
    ("source_codec", "layout", "sample_format", "suffix", "expected_codec"),
    [
        # The audit's cases: AAC each time before.
        ("pcm_s24le", "stereo", "s32", ".mp4", "flac"),
        ("pcm_f32le", "stereo", "flt", ".mp4", "pcm_f32le"),  # FLAC and ALAC hold no floats
        ("pcm_s16le", "stereo", "s16", ".mp4", "flac"),  # FLAC before ALAC, which MP4 holds too
        ("flac", "7.1", "s32", ".mov", "pcm_s24le"),  # MOV refuses FLAC, ALAC 7.1
    ],
)
def test_lossless_audio_is_reencoded_losslessly_where_the_container_holds_a_lossless_codec(
    tmp_path, weights, source_codec, layout, sample_format, suffix, expected_codec
):
    source = tmp_path / "in.mkv"
    _clip_with_sound(source, source_codec, layout, sample_format)
    out = tmp_path / f"out{suffix}"
    report = upscale_video(source, out, weights=weights, progress=False)
    with av.open(str(out)) as container:  # before decoding: PyAV crashed on the old AAC 7.1
        assert container.streams.audio[0].codec_context.name == expected_codec, report.notes
    _, _, first, samples = _sound(out)
    _, _, source_first, source_samples = _sound(source)
    assert any(f"re-encoded to {expected_codec}" in n and "lossless" in n for n in report.notes)
    assert samples.shape == source_samples.shape  # every channel, every sample
    assert np.array_equal(samples.astype(source_samples.dtype), source_samples)  # bit-exact
    assert first == source_first  # in sync


def test_lossless_audio_of_a_depth_the_source_does_not_state_keeps_all_32_bits(tmp_path, weights):
    # WavPack's depth is not read (only PCM's, FLAC's and ALAC's are): its s32 samples are
    # taken as 32 bits, which FLAC, storing 24 of them, would cut.
    source = tmp_path / "in.mkv"
    _clip_with_sound(source, "wavpack", "stereo", "s32p", bits=32)
    out = tmp_path / "out.mp4"
    report = upscale_video(source, out, weights=weights, progress=False)
    codec, _, _, samples = _sound(out)
    assert codec == "pcm_s32le", report.notes
    assert np.array_equal(samples, _sound(source)[3])  # bit-exact


def test_lossless_audio_the_container_can_only_hold_lossy_says_it_is_now_lossy(tmp_path, weights):
    source = tmp_path / "in.mkv"
    _clip_with_sound(source, "pcm_s24le", "stereo", "s32")
    out = tmp_path / "out.webm"
    settings = EncodeSettings(codec="libvpx-vp9", options={"deadline": "realtime"})
    report = upscale_video(source, out, weights=weights, progress=False, settings=settings)
    assert _sound(out)[0] == "opus"
    said = [n for n in report.notes if "re-encoded to libopus" in n]
    assert said and "at 96 kb/s" in said[0] and "now lossy" in said[0], report.notes
