"""Lines for a terminal or a log that hold names from anywhere (clip and file names).

A file name may hold any character but "/" and NUL: an escape sequence that retitles the
terminal or clears it, or a newline followed by a forged "vsr: ..." line. Printed as they
are, such names act on the terminal or lie in the log. Control characters are shown as
Python escapes instead (\\n, \\x1b); the JSON reports keep names exactly.
"""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """`text` with every control character written as its escape."""
    if text.isprintable():
        return text  # the usual case, and it costs nothing
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) == "Cc"
        else char
        for char in text
    )
