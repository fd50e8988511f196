"""Which files in a folder are hidden, and so left out of what vsr takes from it.

A name starting with "." is hidden on Unix. Such files are not the user's pictures or clips:
macOS writes an AppleDouble file ("._a.png", a few kilobytes of metadata) beside every file
copied to a disk that is not Apple's, and ".DS_Store" into each folder it opens; editors and
downloaders keep their temporary files under such names too. Every listing of a folder's
images or clips (folder runs, datasets, training folders) leaves them out alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def is_hidden(path: Path) -> bool:
    """Whether ``path`` names a hidden file ("._a.png", ".DS_Store", ".partial.png")."""
    return path.name.startswith(".")


def visible_files(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    """The entries directly in ``folder`` whose suffix (any case) is one of ``suffixes``,
    hidden ones left out, by name: the one listing every folder mode, dataset and training
    folder takes its files from."""
    wanted = {suffix.lower() for suffix in suffixes}
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in wanted and not is_hidden(p))


def hidden_left_out(folder: Path, suffixes: Iterable[str]) -> str:
    """ " (N hidden file(s) left out: ...)" for the hidden files in ``folder`` that a listing
    of these suffixes would otherwise have taken, or "" where there are none: said when the
    listing comes out empty, since a folder of "._a.png" files alone (or of pictures that
    someone renamed ".a.png") would otherwise be called a folder without images."""
    from vsr.printable import name_list

    wanted = {suffix.lower() for suffix in suffixes}
    try:
        hidden = sorted(
            p.name for p in folder.iterdir() if p.suffix.lower() in wanted and is_hidden(p)
        )
    except OSError:
        return ""  # the refusal it adds to still stands on its own
    if not hidden:
        return ""
    return f" ({len(hidden)} hidden file(s) left out: {name_list(hidden)})"
