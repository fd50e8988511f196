"""The files in a folder of pictures read as data (a training folder, a dataset's HR/) that
vsr does not read, and the note that names them: a run that said nothing of them (an
animated GIF, a PPM, notes.txt beside the PNGs) let a user believe they were used."""

from __future__ import annotations

from pathlib import Path

from vsr.hidden_files import is_hidden
from vsr.imageio import IMAGE_EXTENSIONS
from vsr.printable import name_list


def files_left_out(folder: str | Path) -> list[str]:
    """The names of the files directly in ``folder`` whose type is not one of
    IMAGE_EXTENSIONS, sorted. Hidden files are left out of this too: they are not the
    user's (macOS's "._a.png"), and every folder listing drops them alike; so are folders,
    which are no files left out."""
    wanted = {suffix.lower() for suffix in IMAGE_EXTENSIONS}
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []  # the listing of the folder's images has refused it, with its own words
    return sorted(
        p.name
        for p in entries
        if p.suffix.lower() not in wanted and not is_hidden(p) and p.is_file()
    )


def left_out_note(folder: str | Path, reader: str) -> str:
    """ "N file(s) in FOLDER left out (a.gif, ...): READER reads PNG, ..." for the files
    directly in ``folder`` that `reader` ("training", "evaluation") passes over, or ""."""
    left_out = files_left_out(folder)
    if not left_out:
        return ""
    return (
        f"{len(left_out)} file(s) in {folder} left out ({name_list(left_out)}): "
        f"{reader} reads PNG, BMP, WebP, JPEG and TIFF"
    )
