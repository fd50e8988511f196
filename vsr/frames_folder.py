"""A folder of pictures given to `vsr run` for a folder of clips.

Numbered frames in a folder (scans/f_0001.png ...) are the usual first try: `vsr run scans/
out.mp4` was told that a folder INPUT needs a folder OUTPUT, and `vsr run scans/ out/` then
that there were no clips, without a word of the two ways that read them.
"""

from __future__ import annotations

import re
from pathlib import Path

from vsr.hidden_files import visible_files
from vsr.imageio import IMAGE_EXTENSIONS

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def frames_hint(folder: Path) -> str:
    """ "; it holds N pictures: ..." naming the pattern that reads them as one clip and the
    command that upscales them as pictures; "" where the folder holds none."""
    try:
        pictures = sorted(p for p in visible_files(folder, IMAGE_EXTENSIONS) if p.is_file())
    except OSError:
        return ""
    if not pictures:
        return ""
    first = pictures[0]
    found = _LAST_NUMBER.search(first.stem)
    as_clip = ""
    if found is not None and len(pictures) > 1:
        digits = found.group(1)
        width = f"0{len(digits)}" if digits.startswith("0") and len(digits) > 1 else ""
        name = f"{first.stem[: found.start()]}%{width}d{first.stem[found.end() :]}{first.suffix}"
        as_clip = f"`vsr run '{folder / name}' OUT.mp4` reads them as one clip, "
    return (
        f"; it holds {len(pictures)} picture(s): {as_clip}`vsr image {folder} OUT/` upscales "
        "them as pictures"
    )
