"""Named constructors for the IMDN family (a timm-style ``create_model``)."""

from __future__ import annotations

from torch import nn

from vsr.errors import VsrError
from vsr.models.imdn import IMDN, IMDN_AS
from vsr.models.imdn_rt import IMDN_RTC, IMDN_RTE

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "imdn": IMDN,
    "imdn_as": IMDN_AS,
    "imdn_rtc": IMDN_RTC,
    "imdn_rte": IMDN_RTE,
}


def create_model(arch: str, scale: int = 2, **size: int) -> nn.Module:
    """Build a randomly initialised network.

    ``arch`` is one of ``ARCHITECTURES``; ``scale`` applies to imdn (2, 3, 4), imdn_rtc and
    imdn_rte; IMDN_AS is always same-size. ``size`` may set ``features`` and ``blocks`` for
    non-standard widths and depths (checkpoint loading uses this).
    """
    if arch not in ARCHITECTURES:
        raise VsrError(f"unknown model {arch!r}; known: {', '.join(ARCHITECTURES)}")
    if arch == "imdn_as":
        return IMDN_AS(**size)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise VsrError(f"scale must be a positive integer, got {scale!r}")
    return ARCHITECTURES[arch](scale=scale, **size)
