"""A PNG's colour chunks other than its profile: gAMA (the gamma its samples are encoded
with), cHRM (its primaries and white point) and sRGB (sRGB, and a rendering intent).

A PNG that states a gamma of 1/1.8 (old Mac pictures) and no profile is shown lighter in
the midtones by the viewers that honour gAMA (browsers) than an untagged one is; without
the chunk the upscaled copy was shown as sRGB. Another PNG keeps them as stored. Other
types have no such fields: a profile could be made up from them, but it would change the
picture in the many programs that ignore gAMA and honour profiles, where the source looks
as sRGB; so the pixels stay as they are and a note says what went, unless the chunks only
restate sRGB (an sRGB chunk, or a gamma of 1/2.2 with sRGB's primaries or none).
"""

from __future__ import annotations

import struct

# A chunk kind and its data, as the PNG stores it.
Chunks = tuple[tuple[bytes, bytes], ...]

_SCALE = 100000  # gAMA and cHRM store their numbers times 100 000
# sRGB's white point and primaries (x, y of white, red, green, blue), as cHRM stores them.
_SRGB_CHROMATICITIES = (31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)


def colour_chunks(info: dict) -> Chunks:
    """The gAMA, cHRM and sRGB chunks of a PNG Pillow has opened (its `info`)."""
    chunks = []
    gamma = info.get("gamma")
    if isinstance(gamma, float) and gamma > 0:  # 0 means nothing (PNG: to be ignored)
        chunks.append((b"gAMA", struct.pack(">I", round(gamma * _SCALE))))
    chromaticity = info.get("chromaticity")
    if isinstance(chromaticity, tuple) and len(chromaticity) == 8:
        values = (round(v * _SCALE) for v in chromaticity)
        chunks.append((b"cHRM", struct.pack(">8I", *values)))
    if isinstance(info.get("srgb"), int):
        chunks.append((b"sRGB", bytes([info["srgb"]])))
    return tuple(chunks)


def chunks_to_write(chunks: Chunks, with_profile: bool) -> Chunks:
    """The chunks a PNG with (or without) a colour profile takes: a PNG holds a profile or
    an sRGB chunk, not both; gAMA and cHRM go along for viewers that know no profiles."""
    return tuple((kind, data) for kind, data in chunks if not (with_profile and kind == b"sRGB"))


def not_kept_meaning(chunks: Chunks) -> str | None:
    """In words, what a file of another type loses of these chunks, where viewers show
    the picture otherwise without them; None where they say no more than sRGB."""
    stated = dict(chunks)
    if b"sRGB" in stated:
        return None  # viewers that know sRGB take the chunk over gAMA and cHRM
    lost = []
    gamma = struct.unpack(">I", stated[b"gAMA"])[0] / _SCALE if b"gAMA" in stated else None
    # Within libpng's 5 % of 1/2.2, a gamma is sRGB's; beyond, viewers show it otherwise.
    if gamma is not None and abs(gamma * 2.2 - 1) > 0.05:
        lost.append(("the gamma", "gAMA"))
    if b"cHRM" in stated:
        values = struct.unpack(">8I", stated[b"cHRM"])
        # Within 0.001 of sRGB's, as libpng's own check: writers round them differently.
        if any(abs(a - b) > 100 for a, b in zip(values, _SRGB_CHROMATICITIES, strict=True)):
            lost.append(("the primaries", "cHRM"))
    if not lost:
        return None
    what, chunk_names = (" and ".join(part) for part in zip(*lost, strict=True))
    them = "them" if len(lost) > 1 else "it"
    return (
        f"{what} (PNG's {chunk_names}): viewers that honour {them} will show the colours "
        f"otherwise (.png keeps {them})"
    )
