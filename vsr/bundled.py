"""Where the bundled weights and pipeline presets live.

In the source tree they are the top-level folders ``weights/`` and ``pipelines/``, beside the
package; an editable install reads them there. A wheel cannot hold folders beside the
package, so pyproject.toml maps them into it as ``vsr/bundled_weights`` and
``vsr/bundled_pipelines``. Looking inside the package first matters: in site-packages the
folder beside ``vsr/`` would be any other distribution's ``weights/``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_folder(name: str) -> Path:
    """The folder ``name`` ("weights" or "pipelines") of this install."""
    installed = PACKAGE_DIR / f"bundled_{name}"
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name
