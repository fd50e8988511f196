"""Make samples/sample.mp4: a short, deterministic 320x180 H.264 + AAC clip to upscale.

The picture is drawn procedurally with Pillow: a sky gradient, a skyline whose lit
windows form a fine grid, a scrolling line of text, a zone-plate patch of rising
frequency, and shapes that move, so an upscaler has edges, text and texture to work on.
The sound is a short chord progression. Nothing random, nothing downloaded: running the
script again gives the same frames.

    python samples/make_sample.py [--output samples/sample.mp4] [--seconds 3]
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, FPS, SECONDS = 320, 180, 24, 3
SAMPLE_RATE = 48000
# BT.601 tags for SD material (colorspace, primaries, transfer: smpte170m; limited range).
SMPTE170M, TV_RANGE = 6, 1
# One thread, and no macroblock-tree rate control: on a CPU with AVX-512, libx264's mbtree
# reads memory it has not written, so the same frames would not give the same bytes twice.
X264_OPTIONS = {"crf": "18", "preset": "slow", "threads": "1", "x264-params": "mbtree=0"}


def _background() -> Image.Image:
    """Sky gradient and a skyline wider than the frame (the camera pans across it)."""
    width = WIDTH * 2
    sky = np.zeros((HEIGHT, width, 3), np.uint8)
    rows = np.linspace(0.0, 1.0, HEIGHT)[:, None]
    sky[..., 0] = (40 + 150 * rows).astype(np.uint8)
    sky[..., 1] = (60 + 110 * rows).astype(np.uint8)
    sky[..., 2] = (140 + 80 * (1 - rows)).astype(np.uint8)
    image = Image.fromarray(sky)
    draw = ImageDraw.Draw(image)
    x = 0
    building = 0
    while x < width:
        w = 22 + (building * 37) % 30
        h = 50 + (building * 53) % 80
        top = HEIGHT - h
        shade = 35 + (building * 29) % 40
        draw.rectangle([x, top, x + w - 2, HEIGHT], fill=(shade, shade, shade + 15))
        for wy in range(top + 4, HEIGHT - 4, 6):
            for wx in range(x + 3, x + w - 5, 5):
                lit = (wx * 7 + wy * 13 + building) % 5 < 2
                draw.rectangle(
                    [wx, wy, wx + 2, wy + 3], fill=(250, 220, 120) if lit else (20, 20, 30)
                )
        x += w
        building += 1
    return image


def _zone_plate(size: int) -> Image.Image:
    """Concentric rings of rising frequency: detail from coarse to beyond the pixel grid."""
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    rings = 0.5 + 0.5 * np.cos(size * 1.2 * (x * x + y * y))
    grey = (rings * 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey] * 3, axis=-1))


def draw_frame(index: int, background: Image.Image, plate: Image.Image, font) -> np.ndarray:
    """The RGB picture for frame `index`."""
    t = index / FPS
    pan = int(t * 40) % WIDTH
    frame = background.crop((pan, 0, pan + WIDTH, HEIGHT))
    draw = ImageDraw.Draw(frame)
    sun_x = 250 - 20 * t
    draw.ellipse([sun_x - 18, 18, sun_x + 18, 54], fill=(255, 210, 80), outline=(255, 240, 200))
    frame.paste(plate, (12, 12))
    for k in range(3):
        cx = (60 + 90 * k + 70 * t * (1 if k % 2 else -1)) % WIDTH
        cy = 120 + 18 * math.sin(2 * math.pi * (t + k / 3))
        colour = [(220, 60, 60), (60, 200, 90), (70, 120, 230)][k]
        draw.ellipse([cx - 10, cy - 10, cx + 10, cy + 10], fill=colour, outline=(255, 255, 255))
    text = "vsr  IMDN video super-resolution  0123456789  "
    offset = -int(t * 60) % 400
    draw.rectangle([0, HEIGHT - 22, WIDTH, HEIGHT], fill=(10, 10, 20))
    for start in (offset - 400, offset):
        draw.text((start, HEIGHT - 19), text, fill=(240, 240, 240), font=font)
    return np.asarray(frame)


def _font():
    try:
        return ImageFont.load_default(size=13)  # the TrueType font Pillow ships
    except (TypeError, OSError):
        return ImageFont.load_default()  # an older Pillow or no FreeType: bitmap font


def _chord(start: int, count: int) -> np.ndarray:
    """`count` stereo samples of a I-vi-IV-V progression, one chord per 0.75 s."""
    roots = (261.63, 220.00, 174.61, 196.00)
    t = np.arange(start, start + count) / SAMPLE_RATE
    chord = np.asarray([roots[int(s // 0.75) % 4] for s in t])
    tone = sum(np.sin(2 * np.pi * chord * ratio * t) for ratio in (1.0, 1.25, 1.5))
    envelope = np.minimum(1.0, (t % 0.75) * 20) * np.exp(-(t % 0.75) * 2)
    left = 0.12 * tone * envelope
    right = 0.12 * tone * envelope * 0.8
    return np.stack([left, right]).astype(np.float32)


def make_sample(output: Path, seconds: float = SECONDS) -> None:
    container = av.open(str(output), "w", format="mp4")
    container.metadata["title"] = "vsr sample clip (procedurally drawn)"
    video = container.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.codec_context.colorspace = SMPTE170M
    video.codec_context.color_primaries = SMPTE170M
    video.codec_context.color_trc = SMPTE170M
    video.codec_context.color_range = TV_RANGE
    audio = container.add_stream("aac", rate=SAMPLE_RATE)
    audio.layout = "stereo"

    background, plate, font = _background(), _zone_plate(40), _font()
    samples_per_frame = SAMPLE_RATE // FPS
    for index in range(round(FPS * seconds)):
        rgb = draw_frame(index, background, plate, font)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=SMPTE170M, dst_color_range=TV_RANGE
        )
        frame.pts = index
        frame.time_base = Fraction(1, FPS)
        container.mux(video.encode(frame))
        # The sound for the same stretch of time, so the file is interleaved as written.
        start = index * samples_per_frame
        sound = av.AudioFrame.from_ndarray(
            _chord(start, samples_per_frame), format="fltp", layout="stereo"
        )
        sound.sample_rate = SAMPLE_RATE
        sound.pts = start
        sound.time_base = Fraction(1, SAMPLE_RATE)
        container.mux(audio.encode(sound))
    container.mux(video.encode(None))
    container.mux(audio.encode(None))
    container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent / "sample.mp4"
    parser.add_argument("--output", type=Path, default=default)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args()
    make_sample(args.output, args.seconds)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
