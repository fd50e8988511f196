"""The largest frame an encoder opens with, found by trial opens, for a refusal that names
it.

libav's words for a frame too large name no limit: x264 gives "Generic error in an
external library" (and logs "invalid width x height"), SVT-AV1 "Invalid argument". The
limit is measured instead of kept in a table, so it is the one of the encoder this libav
was built with (x264 and SVT-AV1: 16384 a side here, libvpx-vp9: 65536).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from vsr.native_stderr import native_stderr_silenced
from vsr.video.encoder_trial import trial_open

# A side every encoder opens with, for the side that is not being measured.
_SMALL_SIDE = 64


def opens_at(codec: str, width: int, height: int, pix_fmt: str, options: dict) -> bool:
    """Whether `codec` opens for `width` x `height` frames in `pix_fmt` with `options`.
    What the encoder prints itself on a refusal is kept off the terminal: SVT-AV1 writes
    two "Svt[error]" lines to stderr for each one (its SVT_LOG level is read once, at the
    first open), 18 of them over a bisection, above the one line that names the limit."""
    with native_stderr_silenced():
        return trial_open(codec, width, height, pix_fmt, Fraction(1, 25), None, options, []) is None


def largest_side(refused: int, opens: Callable[[int], bool]) -> int:
    """The largest even side below `refused` that `opens`, by bisection (17 trial opens for
    a side of 100,000); sides are even, as 4:2:0 needs."""
    good, bad = 2, refused
    while bad - good > 2:
        # Halfway, rounded down to even, but past `good`: for an odd `refused` the plain
        # rounding could give `good` again (10 and 13 gave 10) and loop for ever.
        middle = good + max(2, (bad - good) // 4 * 2)
        if opens(middle):
            good = middle
        else:
            bad = middle
    return good


def too_large(
    codec: str, width: int, height: int, scale: int, pix_fmt: str, options: dict
) -> str | None:
    """Why `codec` refuses the bench's output of a `width` x `height` clip upscaled x`scale`
    when its size is the reason, naming the limit and the flag to change; None when a small
    frame is refused too (the size is not the reason)."""
    out_w, out_h = width * scale, height * scale
    small_w, small_h = min(out_w, _SMALL_SIDE), min(out_h, _SMALL_SIDE)
    if not opens_at(codec, small_w, small_h, pix_fmt, options):
        return None
    output = f"the bench's output would be {out_w}x{out_h} (x{scale})"
    refusals = []
    if not opens_at(codec, out_w, small_h, pix_fmt, options):
        most = largest_side(out_w, lambda w: opens_at(codec, w, small_h, pix_fmt, options))
        refusals.append(("--width", width, f"{most} pixels wide", most))
    if not opens_at(codec, small_w, out_h, pix_fmt, options):
        most = largest_side(out_h, lambda h: opens_at(codec, small_w, h, pix_fmt, options))
        refusals.append(("--height", height, f"{most} pixels high", most))
    if not refusals:
        return (
            f"{codec} takes each side of {out_w}x{out_h} alone but not the whole frame, and "
            f"{output}; use a smaller --width or --height"
        )
    flags = " ".join(f"{flag} {given}" for flag, given, _, _ in refusals)
    limits = " and ".join(limit for _, _, limit, _ in refusals)
    advice = " and ".join(f"{flag} {most // scale // 2 * 2}" for flag, _, _, most in refusals)
    return f"{flags}: {codec} encodes frames up to {limits}, and {output}; use {advice} or less"
