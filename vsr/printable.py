"""Lines for a terminal or a log that hold names from anywhere (clip and file names).

A file name may hold any character but "/" and NUL: an escape sequence that retitles the
terminal or clears it, or a newline followed by a forged "vsr: ..." line. Printed as they
are, such names act on the terminal or lie in the log. Control characters are shown as
Python escapes instead (\\n, \\x1b); the JSON reports keep names exactly. On the HTML
report and its plots, a name's bytes that are not UTF-8 are shown as U+FFFD.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Control characters, and the line and paragraph separators that some log viewers break at.
_ESCAPED_CATEGORIES = {"Cc", "Zl", "Zp"}
# Bidirectional overrides and isolates: they reorder the rest of a line as it is shown, so
# that a name can display as another ("clip\u202ekm.mp4" shows as "clip4pm.mk").
_BIDI_CONTROLS = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """`text` with every control character written as its escape."""
    if text.isprintable():
        return text  # the usual case, and it costs nothing
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in _ESCAPED_CATEGORIES or char in _BIDI_CONTROLS
        else char
        for char in text
    )


def name_list(names: Sequence[str], shown: int = 3) -> str:
    """The first `shown` names, printable and comma-separated, with ", ..." for the rest."""
    listed = ", ".join(printable(name) for name in names[:shown])
    return listed + (", ..." if len(names) > shown else "")


# A file name that is not valid UTF-8 reaches Python with each undecodable byte as a lone
# surrogate (U+DC80-U+DCFF, PEP 383), and a JSON report may hold any lone surrogate.
_SURROGATE = re.compile("[\ud800-\udfff]")


def undecodable_replaced(text: str) -> str:
    """`text` with each lone surrogate shown as U+FFFD, as a browser shows a byte that is
    not UTF-8: a UTF-8 page and matplotlib's text refuse surrogates, so a name such as
    b"bad\\xff.mkv" ended the HTML report. The JSON reports keep such names exactly."""
    return _SURROGATE.sub("\ufffd", text)
