"""Matplotlib, imported only when a plot is drawn, and figures as self-contained PNG data.

Matplotlib is an optional extra (``-e '.[report]'`` from the source tree, or ``pip install
'matplotlib>=3.7'``; ``pip install 'vsr[report]'`` would fetch another project of that name
from PyPI): the rest of vsr runs without it. Figures are built with
``matplotlib.figure.Figure`` rather than pyplot so that no global state or GUI backend is
involved.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from vsr.errors import VsrError
from vsr.printable import printable, undecodable_replaced


class PlotsUnavailable(VsrError):
    """Matplotlib is not installed: a page can be written without its plots, a plot file
    (bench --pressure) cannot."""


PLOTS_NEED = "plots need matplotlib: pip install 'matplotlib>=3.7'"


def new_figure(width: float = 7.0, height: float = 3.2) -> Any:
    """An empty matplotlib Figure; PlotsUnavailable (one line) when matplotlib is not
    installed."""
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise PlotsUnavailable(PLOTS_NEED) from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def figure_png(figure: Any) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI that an <img> can show without any other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def plot_label(text: str) -> str:
    """Text as matplotlib shows it literally: a `$` starts its math mode, in which a name
    such as `costs_$5_vs_\\x_$6.mp4` is a syntax error that would end the page; and its
    fonts take no lone surrogate (a name's byte that is not UTF-8) nor control character (a
    tab in a clip's name made matplotlib warn "Glyph 9 missing from font(s)"): escaped as
    vsr prints them (vsr.printable)."""
    return printable(undecodable_replaced(text)).replace("$", r"\$")
