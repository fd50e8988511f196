"""How a page `vsr report` wrote is told from any other HTML file, so that a page is
replaced only where it is vsr's own: `-o index.html` replaced a hand-written page.

Pages carry a generator tag at the head; those written before it are known by the style
block every one of them had, just after the title.
"""

from __future__ import annotations

GENERATOR_TAG = '<meta name="generator" content="vsr report">'
# The first rule of the style block of every page from before the tag.
_EARLIER_STYLE = b"<style>\nbody { font-family: system-ui, sans-serif; margin: 2em; color: #222;"


def is_vsr_page(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first few kilobytes) is a page of vsr's."""
    return GENERATOR_TAG.encode() in head or _EARLIER_STYLE in head
