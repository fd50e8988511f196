"""An animation's timing as each output type stores it: how many times it plays, and each
frame's duration in the type's own steps.

The loop count does not mean the same in every type. A GIF's NETSCAPE count is how many
times the animation is repeated after it has been shown once (browsers show a count of n
n + 1 times, and libwebp's gif2webp adds 1 to it for the same reason); with none it is shown
once. A WebP's loop count and an APNG's num_plays are how many times it is shown. Both
take 0 for forever. So a GIF of loop 2 is an APNG or WebP of 3, and an APNG shown once is a
GIF without a count (one of 1 would be shown twice).

A GIF stores durations in hundredths of a second, and Pillow truncates the milliseconds it
is given (33 ms became 30: a 30 fps APNG played 10% fast). Each frame here ends at its
source end time rounded to the step instead, so the total stays within half a step; and a
GIF frame is given at least 20 ms where its source had more than 10, as browsers show a
frame of 10 ms or less for 100 ms (Chromium's and Firefox's rule for ad GIFs).
"""

from __future__ import annotations

from collections.abc import Sequence

FOREVER = 0  # the plays (and every type's loop count) of an animation that never stops
# WebP stores the count in 16 bits (Pillow fails on 65536); APNG's holds 32, but one cap
# keeps a WebP and an APNG of the same source shown as many times.
_MOST_PLAYS = 65535
GIF_STEP_MS = 10
_GIF_SHORTEST_SHOWN_MS = 20  # browsers show 10 ms or less as 100 ms


def plays_of(image_format: str, loop: int | None) -> int:
    """How many times a viewer shows an animation (FOREVER: 0) whose loop count Pillow
    read as `loop` from a file of `image_format` ("GIF", "PNG", "WEBP")."""
    if loop is None:
        return 1
    if image_format == "GIF" and loop != FOREVER:
        return loop + 1
    return loop


def loop_option(plays: int, extension: str) -> int | None:
    """The loop count Pillow writes for `plays` into a file of `extension`; None: write
    none (a GIF shown once)."""
    if extension != ".gif":
        return min(plays, _MOST_PLAYS)
    if plays == 1:
        return None
    return FOREVER if plays == FOREVER else min(plays - 1, _MOST_PLAYS)


def stored_durations(durations: Sequence[float], step_ms: int) -> list[int]:
    """Each frame's duration (ms) in whole `step_ms` steps (a GIF's 10, a WebP's 1), each
    frame ending at its source end time rounded to the step."""
    stored: list[int] = []
    elapsed = 0.0
    written = 0
    for duration in durations:
        elapsed += duration
        length = round((elapsed - written) / step_ms) * step_ms
        if step_ms == GIF_STEP_MS and duration > GIF_STEP_MS:
            length = max(length, _GIF_SHORTEST_SHOWN_MS)
        length = max(length, 0)
        stored.append(length)
        written += length
    return stored
