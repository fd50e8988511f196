"""Weights: the shipped default matches its manifest entry; downloads verify their sha256."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path

import vsr.weights as weights
from vsr import weights as weights_module
from vsr.cli import main
from vsr.errors import VsrError
from vsr.models import load_weights

OFFICIAL_X2_SHA = "740b39653592bd3f49955a21cd9e16f2d37f2c413368cc09327601b8fbe42ce1"


def test_shipped_x2_weights_match_the_manifest() -> None:
    entry = weights.load_manifest()["vsr_imdn_x2"]
    path = weights.WEIGHTS_DIR / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert weights.resolve_weights(None, 2) == path
    assert weights.resolve_weights("vsr_imdn_x2", 2) == path
    model = load_weights(path)
    assert (model.arch, model.scale) == (entry["arch"], entry["scale"]) == ("imdn", 2)
    assert "url" not in entry  # ours: shipped, never downloaded


def test_official_entries_point_upstream_with_the_known_sums() -> None:
    manifest = weights.load_manifest()
    entry = manifest["IMDN_x2"]
    assert entry["url"] == "https://github.com/Zheng222/IMDN/raw/master/checkpoints/IMDN_x2.pth"
    assert entry["sha256"] == OFFICIAL_X2_SHA
    for name in ("IMDN_x3", "IMDN_x4", "IMDN_AS", "model_RTC", "model_RTE"):
        assert len(manifest[name]["sha256"]) == 64 and manifest[name]["url"].endswith(".pth")


@pytest.fixture
def local_manifest(tmp_path, monkeypatch):
    """A manifest whose one downloadable entry is a local file:// URL; an empty cache."""
    source = tmp_path / "upstream" / "tiny.pth"
    source.parent.mkdir()
    source.write_bytes(b"pretend checkpoint bytes")
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    entries = {
        "good": {"file": "tiny.pth", "url": source.as_uri(), "sha256": good, "scale": 2},
        "bad": {"file": "bad.pth", "url": source.as_uri(), "sha256": "0" * 64, "scale": 2},
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"weights": entries}))
    monkeypatch.setattr(weights, "MANIFEST_PATH", manifest)
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "no-weights")
    monkeypatch.setenv("VSR_CACHE", str(tmp_path / "cache"))
    return source


def test_download_verifies_and_caches(local_manifest, tmp_path) -> None:
    path = weights.download("good")
    assert path == tmp_path / "cache" / "tiny.pth"
    assert path.read_bytes() == local_manifest.read_bytes()
    local_manifest.write_bytes(b"changed upstream")  # the cached, verified copy is reused
    assert weights.download("good").read_bytes() == b"pretend checkpoint bytes"
    assert weights.resolve_weights("good", 2) == path
    assert weights.resolve_weights("good") == path  # no scale asked: the name decides
    with pytest.raises(VsrError, match=r"good upscales by 2, not by 4 \(scale=4\)"):
        weights.resolve_weights("good", 4)


def test_download_refuses_a_wrong_sum(local_manifest, tmp_path) -> None:
    with pytest.raises(VsrError, match="does not match"):
        weights.download("bad")
    assert list((tmp_path / "cache").iterdir()) == []  # nothing kept, not even a temp file


def test_missing_defaults_and_unknown_names_are_clear_errors(local_manifest, tmp_path) -> None:
    with pytest.raises(VsrError, match="no default weights for x2.*vsr weights download good"):
        weights.resolve_weights(None, 2)
    with pytest.raises(VsrError, match="unknown weights 'nope'.*good"):
        weights.resolve_weights("nope", 2)
    with pytest.raises(VsrError, match="not found"):
        weights.resolve_weights(str(tmp_path / "absent.safetensors"), 2)
    existing = tmp_path / "mine.pth"
    existing.write_bytes(b"x")
    assert weights.resolve_weights(str(existing), 2) == existing


def test_a_file_named_like_a_known_name_does_not_stand_in_for_it(
    local_manifest, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good").write_bytes(b"planted by anyone who can write here")
    assert weights.resolve_weights("good", 2) == tmp_path / "cache" / "tiny.pth"
    assert weights.resolve_weights("./good", 2) == Path("good")  # a path: the file itself
    # A Path is a file whatever it prints as (str(Path("./good")) is "good").
    assert weights.resolve_weights(Path("./good"), 2) == Path("good")
    with pytest.raises(VsrError, match="weights file not found: IMDN_x2"):
        weights.resolve_weights(Path("IMDN_x2"), 2)


def test_cli_lists_and_downloads(local_manifest, tmp_path, capsys) -> None:
    assert main(["weights", "download", "good"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cache" / "tiny.pth")
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "good" in listing and "(downloaded)" in listing
    assert main(["weights", "download", "bad"]) == 2
    assert "does not match" in capsys.readouterr().err


def test_a_damaged_cached_copy_is_named_when_it_cannot_be_fetched_again(
    local_manifest, tmp_path, capsys
) -> None:
    cached = weights.download("good")
    cached.chmod(0o644)
    cached.write_bytes(b"pretend checkpoint bytez")  # one byte changed on disk
    upstream = local_manifest.read_bytes()
    local_manifest.unlink()  # offline: the URL cannot be read
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "fails its sha256 check" in listing and "(downloaded)" not in listing
    assert main(["weights", "download", "good"]) == 2
    error = capsys.readouterr().err
    assert f"{cached} fails its sha256 check" in error and "cannot download" in error
    assert len(error.strip().splitlines()) == 1
    local_manifest.write_bytes(upstream)  # online again: the copy is replaced
    assert weights.download("good").read_bytes() == upstream


def test_a_cached_copy_that_cannot_be_read_is_listed_as_such(
    local_manifest, monkeypatch, capsys
) -> None:
    # Summing each cached copy (to tell a damaged one) made an unreadable one a traceback.
    weights.download("good")

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(weights, "sha256_of", unreadable)
    assert main(["weights", "list"]) == 0
    assert "(cannot be read: Permission denied)" in capsys.readouterr().out


def test_the_listing_says_where_shipped_weights_are_missing(tmp_path, monkeypatch, capsys):
    # Weights of the project's own (no URL) live in weights/: one deleted there, or left
    # out of an install, would otherwise be listed at its path as if it were there.
    shipped = tmp_path / "weights"
    shipped.mkdir()
    (shipped / "kept.safetensors").write_bytes(b"x")
    entries = {
        "kept": {"file": "kept.safetensors", "sha256": "0" * 64, "scale": 2},
        "gone": {"file": "gone.safetensors", "sha256": "0" * 64, "scale": 2},
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"weights": entries}))
    monkeypatch.setattr(weights, "MANIFEST_PATH", manifest)
    monkeypatch.setattr(weights, "WEIGHTS_DIR", shipped)
    assert main(["weights", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["kept"].endswith(f" {shipped / 'kept.safetensors'}")
    assert rows["gone"].endswith(f" {shipped / 'gone.safetensors'} (missing)")


def test_a_cache_folder_that_cannot_exist_is_a_clear_error(
    local_manifest, tmp_path, monkeypatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("VSR_CACHE", str(blocker / "cache"))
    with pytest.raises(VsrError, match="cannot use the weights cache.*VSR_CACHE"):
        weights.download("good")
    # VSR_CACHE naming a file: was "cannot download URL: Not a directory", blaming the URL.
    monkeypatch.setenv("VSR_CACHE", str(blocker))
    with pytest.raises(VsrError, match=r"weights cache .*a-file \(Not a directory\); set VSR"):
        weights.download("good")


def test_an_install_without_the_checkout_folders_says_so(tmp_path, monkeypatch) -> None:
    from vsr import pipelines

    monkeypatch.setattr(weights, "MANIFEST_PATH", tmp_path / "weights" / "manifest.json")
    monkeypatch.setattr(pipelines, "PIPELINES_DIR", tmp_path / "pipelines")
    with pytest.raises(VsrError, match="holds no bundled.*install it from the source tree"):
        weights.resolve_weights(None, 2)
    with pytest.raises(VsrError, match="holds no bundled.*install it from the source tree"):
        pipelines.load_preset("fast")
    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"x")
    assert weights.resolve_weights(str(mine)) == mine  # a file needs no manifest


@pytest.mark.parametrize(("scale", "shown"), [(0, "0"), (-2, "-2"), (2.5, "2.5"), ("2", "str '2'")])
def test_a_scale_that_is_not_a_whole_number_is_refused_as_such(scale, shown) -> None:
    # Was "no default weights for x0", or "a x2 model, not x2" for "2".
    with pytest.raises(VsrError, match=f"^scale must be a whole number >= 1, not {shown}$"):
        weights.resolve_weights(None, scale)
    with pytest.raises(VsrError, match="whole number"):
        weights.resolve_weights("vsr_imdn_x2", scale)
    assert weights.check_scale(3.0) == 3 and weights.check_scale(None) is None


def test_a_listing_piped_into_a_reader_that_stops_early_ends_quietly() -> None:
    # `vsr weights list | head -1`: the reader is gone before vsr writes (it is closed here
    # while vsr still imports torch). Python's traceback was the whole output.
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    process = subprocess.Popen(
        [sys.executable, "-m", "vsr", "weights", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait() == 128 + signal.SIGPIPE
    assert stderr == ""


@pytest.mark.parametrize(
    "name", ["IMDN_x2", "IMDN_x3", "IMDN_x4", "IMDN_AS", "model_RTC", "model_RTE"]
)
def test_manifest_sums_are_those_of_the_official_checkpoints(name):
    import hashlib

    import vsr.weights as weights

    entry = weights.load_manifest()[name]
    official = shared_path("imdn-official", "checkpoints", entry["file"])
    assert hashlib.sha256(official.read_bytes()).hexdigest() == entry["sha256"]


def test_a_download_larger_than_the_cap_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    source = tmp_path / "served.bin"
    source.write_bytes(b"\0" * (3 << 20))
    monkeypatch.setattr(weights_module, "MAX_DOWNLOAD_BYTES", 2 << 20)
    cache = tmp_path / "cache"
    with pytest.raises(VsrError, match="more than 2 MiB"):
        weights_module.fetch(source.as_uri(), "0" * 64, cache / "IMDN_x2.pth")
    assert list(cache.iterdir()) == []
    # The cap itself is allowed: "more than" it is refused.
    source.write_bytes(b"\0" * (2 << 20))
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    kept = weights_module.fetch(source.as_uri(), sha, cache / "IMDN_x2.pth")
    assert kept.stat().st_size == 2 << 20


def test_the_listing_gives_the_official_checkpoints_measured_set5_psnr(capsys) -> None:
    assert main(["weights", "list"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    # IMDN_x2/x3/x4 measured through vsr eval: 37.9960, 34.3597, 32.2096 dB.
    assert [rows[f"IMDN_x{scale}"][3] for scale in (2, 3, 4)] == ["38.00", "34.36", "32.21"]
    # Not measured on Set5 (IMDN_AS keeps its input's size; RTC and RTE were not scored).
    assert [rows[name][3] for name in ("IMDN_AS", "model_RTC", "model_RTE")] == ["-"] * 3
    assert rows["vsr_imdn_x2"][3] == "37.39"


def test_the_listing_gives_each_checkpoint_s_scale_and_any_for_the_same_size_one(capsys) -> None:
    # IMDN_AS has no scale of its own (null in the manifest): listed as "any", not blank.
    assert main(["weights", "list"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert rows["NAME"][2] == "SCALE"
    assert [rows[f"IMDN_x{scale}"][2] for scale in (2, 3, 4)] == ["x2", "x3", "x4"]
    assert rows["IMDN_AS"][2] == "any"


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_metrics_in_the_manifest_are_the_measured_ones(scale) -> None:
    """The manifest's figures for the official checkpoints are vsr eval's (test_eval checks
    that vsr eval still gives the reference's), not the paper's rounded table."""
    reference = json.loads(shared_path("reference", "paper_table.json").read_text())
    measured = reference["official_checkpoint_measured"][f"x{scale}"]
    metrics = weights.load_manifest()[f"IMDN_x{scale}"]["metrics"]
    assert metrics and set(metrics) <= set(measured)
    for dataset, figures in metrics.items():
        assert [figures["psnr"], figures["ssim"]] == pytest.approx(measured[dataset], abs=1e-4)


def _cut_off_server(head: bytes) -> tuple[str, object]:
    """A one-request HTTP server on localhost that sends `head`, 100 bytes of body, then
    closes the connection; its URL and thread."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener, listener.accept()[0] as connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n" + b"x" * 100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/IMDN_x2.pth", thread


@pytest.mark.parametrize(
    ("head", "said"),
    [
        # It was "sha256 ... does not match the expected ...; refusing it", read as tampering.
        (b"Content-Length: 5000\r\n", "the connection closed after 100 of 5000 bytes; try again"),
        (b"Content-Length: 101\r\n", "the connection closed after 100 of 101 bytes; try again"),
        # It was http.client's IncompleteRead, in a traceback.
        (b"Transfer-Encoding: chunked\r\n\r\n1000", "closed before the file's end"),
    ],
)
def test_a_download_cut_off_is_said_to_be_cut_off(tmp_path, head, said):
    url, server = _cut_off_server(head)
    cache = tmp_path / "cache"
    with pytest.raises(VsrError, match=rf"^cannot download {url}: .*{said}"):
        weights_module.fetch(url, OFFICIAL_X2_SHA, cache / "IMDN_x2.pth")
    server.join(5)
    assert list(cache.iterdir()) == []


def test_a_folder_where_the_download_goes_is_said_before_it(tmp_path, local_manifest):
    # The download ran, then failed at its rename with "Is a directory" of a hidden name.
    (tmp_path / "cache" / "tiny.pth").mkdir(parents=True)
    with pytest.raises(VsrError, match=r"tiny\.pth: a folder is there; remove it$"):
        weights.download("good")
