"""What stands at a folder run's output name and is no finished output: a folder, a link
to nothing, an empty file, a FIFO.

A folder run skips an input whose output exists, and each of these counted as one: `vsr
image src out/` over an out/ holding a folder alpha.png, a dangling link grey8.png and an
empty bmp.bmp said "3 skipped (their outputs exist)", and those images were never
upscaled, with no word of why. Each is no picture or clip vsr made (vsr writes an output
whole or not at all), so its input fails instead, named with what is in the way.
`vsr image` and `vsr run` (its folder, watch and cluster modes) ask the same question.
"""

from __future__ import annotations

import os
from pathlib import Path

from vsr.broken_links import broken_link
from vsr.errors import option


def in_the_way(output: Path, overwrite: bool) -> str | None:
    """Why an input cannot be written to ``output``, where something stands that is no
    finished output: a folder (no output replaces one); unless ``overwrite``, which
    replaces them as it replaces any output, a link to nothing, what is no regular file,
    or an empty file. None where nothing is there, or a finished output (a file that holds
    something, or a link to one), which the caller skips or replaces."""
    if output.is_dir():  # a link to a folder too: the output would be written into it
        return f"{output} is a folder"
    if overwrite or not os.path.lexists(output):
        return None
    replace = f"remove it, or use {option('--overwrite', True)}"
    if why := broken_link(output):
        return f"{output} {why} ({replace})"
    if not output.is_file():
        return f"{output} is not a regular file ({replace})"
    if output.stat().st_size == 0:
        return f"{output} is an empty file, no finished output ({replace})"
    return None


def finished_output(output: Path, overwrite: bool) -> bool:
    """Whether a folder run skips the input of ``output``: an output is there, not replaced
    (no ``overwrite``), and it is no folder, broken link, empty file... (in_the_way), whose
    input fails with why instead."""
    return not overwrite and os.path.lexists(output) and in_the_way(output, overwrite) is None
