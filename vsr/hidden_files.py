"""Which files in a folder are hidden, and so left out of what vsr takes from it.

A name starting with "." is hidden on Unix. Such files are not the user's pictures or clips:
macOS writes an AppleDouble file ("._a.png", a few kilobytes of metadata) beside every file
copied to a disk that is not Apple's, and ".DS_Store" into each folder it opens; editors and
downloaders keep their temporary files under such names too. Every listing of a folder's
images or clips (folder runs, datasets, training folders) leaves them out alike.
"""

from __future__ import annotations

from pathlib import Path


def is_hidden(path: Path) -> bool:
    """Whether ``path`` names a hidden file ("._a.png", ".DS_Store", ".partial.png")."""
    return path.name.startswith(".")
