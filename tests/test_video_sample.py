"""The sample clip the README's main command runs on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av

from vsr.video.reader import VideoReader

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_sample_clip_is_small_h264_with_aac_and_decodes_fully():
    clip = SAMPLES / "sample.mp4"
    assert clip.stat().st_size < 2 * 1024 * 1024
    with av.open(str(clip)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    with VideoReader(clip) as reader:
        frames = sum(1 for _ in reader.frames())
        info = reader.info
    assert (info.codec, info.width, info.height, info.pix_fmt) == ("h264", 320, 180, "yuv420p")
    assert frames == info.frame_count and reader.lost_frames == 0
    assert 1.0 <= info.duration <= 5.0


def test_sample_script_is_deterministic(tmp_path):
    spec = importlib.util.spec_from_file_location("make_sample", SAMPLES / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    module.make_sample(first, seconds=0.25)
    module.make_sample(second, seconds=0.25)
    assert first.read_bytes() == second.read_bytes()
