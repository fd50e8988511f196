"""An installed vsr (a wheel, not the source tree) carries the bundled weights and presets."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import av
import pytest
from media import make_clip

from vsr import bundled

REPO = Path(__file__).resolve().parent.parent
# What a copy of the checkout for building a wheel leaves out: history, environments, caches.
UNPACKAGED = (".git", ".venv", ".device-carry", "build", "dist", "*.egg-info", "__pycache__")
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_the_package_list_names_every_subpackage_and_the_two_mapped_folders() -> None:
    # pyproject.toml lists the packages by hand: a new subpackage left out of it would be
    # missing from every wheel while the source tree kept working.
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "vsr").rglob("__init__.py")
    }
    mapped = {"vsr.bundled_weights": "weights", "vsr.bundled_pipelines": "pipelines"}
    # Folders of data inside the mapped ones: setuptools warns that it will leave out any
    # not listed ("Package would be ignored").
    data = {
        ".".join([package, *folder.relative_to(REPO / root).parts])
        for package, root in mapped.items()
        for folder in (REPO / root).rglob("*")
        if folder.is_dir() and folder.name != "__pycache__"
    }
    assert set(SETUPTOOLS["packages"]) == on_disk | set(mapped) | data
    assert SETUPTOOLS["package-dir"] == mapped


def test_the_wheel_patterns_take_every_bundled_file_the_code_reads() -> None:
    def taken(package: str, relative: str) -> bool:
        return any(fnmatch.fnmatch(relative, p) for p in SETUPTOOLS["package-data"][package])

    manifest = json.loads((REPO / "weights" / "manifest.json").read_text())["weights"]
    ours = [entry["file"] for entry in manifest.values() if not entry.get("url")]
    assert ours, "the manifest names no bundled weights"
    for name in ["manifest.json", *ours]:
        assert (REPO / "weights" / name).is_file()
        assert taken("vsr.bundled_weights", name), name
    presets = sorted(p.name for p in (REPO / "pipelines").glob("*.toml"))
    assert "default.toml" in presets
    assert all(taken("vsr.bundled_pipelines", name) for name in presets)


def test_an_install_reads_its_own_folder_and_a_source_tree_the_one_beside_it(
    tmp_path, monkeypatch
) -> None:
    package = tmp_path / "site-packages" / "vsr"
    package.mkdir(parents=True)
    (tmp_path / "site-packages" / "weights").mkdir()  # another distribution's folder
    monkeypatch.setattr(bundled, "PACKAGE_DIR", package)
    (package / "bundled_weights").mkdir()
    assert bundled.bundled_folder("weights") == package / "bundled_weights"
    # The source tree: no bundled_ folder inside the package, so the top-level one.
    assert bundled.bundled_folder("pipelines") == tmp_path / "site-packages" / "pipelines"
    monkeypatch.setattr(bundled, "PACKAGE_DIR", REPO / "vsr")
    assert bundled.bundled_folder("weights") == REPO / "weights"


@pytest.mark.slow
def test_a_built_wheel_upscales_with_its_bundled_weights_outside_the_source_tree(
    tmp_path,
) -> None:
    # Builds the wheel as pip does (setuptools fetched from PyPI), installs it into a bare
    # folder and runs vsr from elsewhere, so nothing can come from the source tree.
    wheels, target, work = tmp_path / "wheels", tmp_path / "target", tmp_path / "work"
    work.mkdir()
    # setuptools builds inside the tree it is given (build/, vsr.egg-info/): give it a copy,
    # so that the test leaves nothing in the checkout.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*UNPACKAGED))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", wheels, source], check=True)
    (wheel,) = wheels.glob("vsr-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", target, wheel], check=True)
    env = {**os.environ, "PYTHONPATH": str(target), "VSR_CACHE": str(tmp_path / "cache")}

    def vsr(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "vsr", *args], cwd=work, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    listing = vsr("weights", "list")
    assert str(target / "vsr" / "bundled_weights" / "imdn_x2.safetensors") in listing
    make_clip(work / "in.mp4", 32, 24, frames=3)
    vsr("run", "in.mp4", "out.mkv", "--pipeline", "archive")  # a preset and the x2 weights
    with av.open(str(work / "out.mkv")) as out:
        stream = out.streams.video[0]
        assert (stream.codec_context.name, stream.format.name) == ("hevc", "yuv420p10le")
        assert [f.width for f in out.decode(stream)] == [64] * 3
