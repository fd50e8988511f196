"""An input given as a URL (https://, rtsp://), which vsr does not read.

vsr seeks in its input and reads it more than once (a clip's streams are copied in a pass
of their own), so it takes local files only. A URL was looked up as a file, and its "//"
folded into one by pathlib: "https:/example.com/a.mp4: no such file", a name the user
never typed.
"""

from __future__ import annotations

import re
from pathlib import Path

from vsr.errors import VsrError

# A scheme of two letters or more (not a Windows drive, C:/), then ":/", pathlib having
# folded its "//".
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(?=[^/])")


def refuse_a_url(path: str | Path) -> None:
    """Refuse `path` where it is a URL that does not name an existing local file."""
    text = str(path)
    found = _URL.match(text)
    if found is None or Path(text).exists():
        return
    url = f"{found.group(1)}://{text[found.end() :]}"
    raise VsrError(f"{url}: vsr reads local files, not URLs; download it first")
