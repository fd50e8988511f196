"""Names that tell files apart on a page: each path's shortest ending (its file name, then
its folder and file name, and so on) that no other path given with it shares.

Two reports called run.json from different folders (A/run.json, B/run.json) were both
"run.json" on `vsr report`'s page, their rows and plot lines told apart by nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath


def distinguishing_names(paths: Sequence[str | PurePath]) -> list[str]:
    """For each path, as given, the fewest of its last parts that no other path ends in; the
    whole path where none do (the same path given twice)."""
    parts = [Path(path).parts for path in paths]
    names = []
    for index, own in enumerate(parts):
        others = [p for i, p in enumerate(parts) if i != index]
        name = str(paths[index])
        for length in range(1, len(own) + 1):
            ending = own[-length:]
            if all(other[-length:] != ending for other in others):
                name = str(PurePath(*ending))
                break
        names.append(name)
    return names
