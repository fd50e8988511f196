"""Counts in words, as every message gives them: "1 frame", "0 frames", "3 clips"."""

from __future__ import annotations


def counted(count: object, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, in the plural (`plural`, else `noun` + "s") unless it is one.
    A count that is not a number (None from an old report) is shown as it is, plural."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def were(count: int, noun: str) -> str:
    """The count as the subject of "were": "1 frame was", "2 frames were"."""
    return f"{counted(count, noun)} {'was' if count == 1 else 'were'}"
