"""The frame sizes in `vsr profile --json`, width first as in every other report of vsr's.

Until 2026-11-29 a profile recorded its input_size and output_size as (height, width), the
network's tensor order, where run and bench reports write (width, height) under the same
keys. Profiles now write width first and say so ("sizes": "width, height"); a file without
that key is an older one, read height first.
"""

from __future__ import annotations

from typing import Any

SIZE_ORDER = "width, height"


def width_first(profile: dict[str, Any], key: str) -> list[Any] | None:
    """`profile[key]` (input_size or output_size) as [width, height], from a profile of any
    age; None where it holds no pair."""
    value = profile.get(key)
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    return list(value) if profile.get("sizes") == SIZE_ORDER else [value[1], value[0]]
