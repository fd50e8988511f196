"""The subfolders a folder run leaves alone. `vsr run` and `vsr image` take only the files
directly inside a folder; a user who dropped a folder of clips or pictures into it should
hear why nothing happened to them, rather than that the folder holds nothing."""

from __future__ import annotations

from pathlib import Path

from vsr.hidden_files import is_hidden
from vsr.printable import name_list


def subfolders_left_alone(folder: Path, out_dir: Path, what: str) -> list[str]:
    """A note naming the subfolders of ``folder`` (hidden ones and the output folder
    ``out_dir`` aside) whose ``what`` ("clips", "images") are not upscaled; [] for none."""
    try:
        names = sorted(
            p.name
            for p in folder.iterdir()
            if p.is_dir() and not is_hidden(p) and p.resolve() != out_dir.resolve()
        )
    except OSError:
        return []  # the listing that follows says what is wrong with the folder
    if not names:
        return []
    return [
        f"{len(names)} subfolder(s) of {folder} left alone ({name_list(names)}): only the "
        f"{what} directly inside are upscaled"
    ]
