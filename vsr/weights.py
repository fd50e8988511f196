"""Which weights to load: our own defaults, the manifest's names, or a file the user gives.

``weights/manifest.json`` (see vsr.bundled for where an install keeps it) lists two kinds of
entry:
  - weights this project trained, shipped in ``weights/`` (``"file"`` with no ``"url"``);
  - the official IMDN checkpoints, which are downloaded on request into a user cache
    (``$VSR_CACHE`` or ``~/.cache/vsr``) and checked against their sha256 before use.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vsr.argument_types import given, is_number, is_str_path
from vsr.atomic_file import atomic_output
from vsr.bundled import bundled_folder
from vsr.caller_warning import warn_the_caller
from vsr.errors import VsrError, VsrTypeError, empty_value, option
from vsr.private_folder import make_private_folder, why_code_folder_is_unsafe

WEIGHTS_DIR = bundled_folder("weights")
MANIFEST_PATH = WEIGHTS_DIR / "manifest.json"
_CHUNK = 1 << 20
# The official checkpoints are 0.1-3 MB. A server that sends more (a wrong or hostile URL,
# a body without end) is cut off here instead of filling the disk before the sha256 check.
MAX_DOWNLOAD_BYTES = 64 << 20


def load_manifest() -> dict[str, dict[str, Any]]:
    """The manifest's entries by name."""
    if not MANIFEST_PATH.is_file():
        # Only a package built without pyproject.toml's mapping (a bare copy of vsr/) lacks it.
        raise VsrError(
            f"no weights manifest at {MANIFEST_PATH}: this install of vsr holds no bundled "
            f"weights (install it from the source tree with pip); a file ({option('--weights')}) "
            "still works"
        )
    try:
        return json.loads(MANIFEST_PATH.read_text())["weights"]
    except (ValueError, KeyError) as error:
        raise VsrError(f"{MANIFEST_PATH} is damaged ({error})") from None


def cache_dir() -> Path:
    """vsr's cache (downloaded weights, compiled networks): $VSR_CACHE, else ~/.cache/vsr."""
    chosen = os.environ.get("VSR_CACHE")
    if chosen:
        return Path(chosen).expanduser()
    own = _own_cache()
    if own is None:
        raise VsrError("vsr has no cache folder: no home folder is known; set VSR_CACHE")
    return own


# The warnings made_cache_folder gave in this process.
_TOLD: set[str] = set()


def _own_cache() -> Path | None:
    """The cache of the user running vsr when VSR_CACHE is not set; None when the user has
    no home folder (a container's uid without a passwd entry, HOME unset)."""
    try:
        return Path.home() / ".cache" / "vsr"
    except RuntimeError:
        return None


def _private_folder_in(
    top: Path, name: str, top_is_vsrs: bool
) -> tuple[Path, tuple[Path, str] | None]:
    """``name`` made inside the cache ``top``, and why others could change it: the folder
    to blame and the reason (None when nobody can). ``top_is_vsrs``: the cache is vsr's
    default (~/.cache/vsr), whose group and world write access vsr may take away, not a
    folder the user chose. OSError when the folder cannot be made."""
    folder = top / name
    own = [folder, top] if top_is_vsrs else [folder]
    if top.is_dir():  # a cache others can write gets no folder of this user's
        blamed = why_code_folder_is_unsafe(top, top, own)
        if blamed is not None:
            return folder, blamed
    make_private_folder(folder)
    return folder, why_code_folder_is_unsafe(folder, top, own)


def _private_folder_in_own_cache(name: str) -> Path | None:
    """``name`` in the user's own cache, when VSR_CACHE names another and that one is only
    the user's to change; else None."""
    own = _own_cache()
    if own is None or not os.environ.get("VSR_CACHE") or own == cache_dir():
        return None
    try:
        folder, blamed = _private_folder_in(own, name, top_is_vsrs=True)
    except OSError:
        return None
    return folder if blamed is None else None


def _unusable_cache(use: str, reason: str) -> VsrError:
    return VsrError(
        f"cannot use the vsr cache {cache_dir()} for {use} ({reason}); "
        "set VSR_CACHE to a writable folder"
    )


def _warn_once(note: str) -> None:
    if note not in _TOLD:  # once a process, though each private folder may find it
        _TOLD.add(note)
        warn_the_caller(note)


def made_cache_folder(name: str, use: str, private_only: bool = False) -> Path:
    """``name`` inside the vsr cache, made if need be (private to this user); a clear error
    naming ``use`` (what needed it) when the cache cannot hold it.

    A ``private_only`` folder must be one that only this user can change (see
    vsr.private_folder): compiled networks, which are loaded and run, and weights whose
    sha256 is checked once when they are written rather than at each load. A VSR_CACHE
    that a team shares (its group may write it), or that this user may only read, still
    serves downloaded weights, whose sha256 is checked on every use; the private folders go
    to the user's own cache (~/.cache/vsr) instead, with a warning.
    """
    top = cache_dir()
    if not private_only:
        try:
            make_private_folder(top / name)
        except OSError as error:
            raise _unusable_cache(use, error.strerror) from None
        return top / name
    try:
        # The default cache is vsr's to tighten, whether or not VSR_CACHE names it.
        folder, blamed = _private_folder_in(top, name, top_is_vsrs=top == _own_cache())
    except OSError as error:
        blamed, why = None, error.strerror
    else:
        if blamed is None:
            return folder
        why = blamed[1]
    fallback = _private_folder_in_own_cache(name)
    if fallback is not None:
        if blamed is not None and blamed[0] == top:  # the whole cache: every private folder
            _warn_once(f"{use} are kept in {fallback.parent}, not in the vsr cache {top}: {why}")
        else:
            _warn_once(f"{use}: {fallback} is used, not {top / name}: {why}")
        return fallback
    if blamed is None:
        raise _unusable_cache(use, why)
    # Only the owner of a folder can take its group's write access away.
    remedy = (
        "take their write access away (chmod go-w) or set VSR_CACHE to a folder of your own"
        if blamed[0].stat().st_uid == os.geteuid()
        else "set VSR_CACHE to a folder of your own"
    )
    raise VsrError(
        f"will not keep {use} in {folder}: {why}, so what is loaded from there could be "
        f"anyone's; {remedy}"
    )


def default_weights_path(scale: int) -> Path:
    """Where the project's own weights for a scale live (they may not exist)."""
    return WEIGHTS_DIR / f"imdn_x{scale}.safetensors"


def local_path(entry: dict[str, Any]) -> Path:
    """Where an entry's file is (or will be): weights/ for ours, the cache for downloads."""
    return (cache_dir() if entry.get("url") else WEIGHTS_DIR) / entry["file"]


def check_scale(scale: object) -> int | None:
    """A requested scale as an int (None stays None). 0, -2, 2.5 or "2" are one clear error
    here, before they turn into "no default weights for x0" or "upscales by 2, not by 2"."""
    if scale is None:
        return None
    if not is_number(scale):
        raise VsrTypeError(f"scale must be a whole number >= 1, not {given(scale)}")
    if not (float(scale).is_integer() and scale >= 1):
        raise VsrError(f"{option('--scale')} must be a whole number >= 1, not {scale!r}")
    return int(scale)


def _not_a_weights_file(path: Path) -> str:
    if path.is_dir():
        return f"{path} is a folder; give a weights file in it"
    return f"weights file not found: {path}"


def resolve_weights(weights: str | os.PathLike | None, scale: int | None = None) -> Path:
    """A weights file from a path, a manifest name, or None (our default for the scale).

    ``scale`` picks the default weights (None: 2) and, when given, must be a named entry's
    own; None lets a name stand for whatever scale it is (the file decides, as for a path).
    Manifest names of downloadable checkpoints are fetched into the cache when missing.
    A string may be either; a Path is always a file (``Path("./IMDN_x2")`` prints as
    ``IMDN_x2``, so only its type says which was meant).
    """
    scale = check_scale(scale)
    if isinstance(weights, str) and not weights.strip():
        # `--weights "$W"` with W unset: Path("") is the working folder, "a folder".
        raise VsrError(
            empty_value(
                option("--weights"),
                "give a file or a name such as IMDN_x2, or leave it out for the default weights",
            )
        )
    if isinstance(weights, os.PathLike):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise VsrError(_not_a_weights_file(path))
        return path
    path = Path(weights).expanduser() if weights is not None else None
    # A known name means its entry: a file of that name in the working folder, put there by
    # anyone, does not stand in for it (./NAME loads the file).
    if path is not None and path.is_file() and not _known_name(weights):
        return path
    manifest = load_manifest()
    if weights is None:
        scale = 2 if scale is None else scale
        path = default_weights_path(scale)
        if path.is_file():
            return path
        ours = sorted(p.name for p in WEIGHTS_DIR.glob("imdn_x*.safetensors"))
        official = [n for n, e in manifest.items() if e.get("url") and e.get("scale") == scale]
        hint = (
            f", e.g. {official[0]} (the authors' checkpoint, fetched on first use "
            f"or with `vsr weights download {official[0]}`)"
            if official
            else ""
        )
        raise VsrError(
            f"no default weights for x{scale} (this project ships: "
            f"{', '.join(ours) or 'none'}); give {option('--weights')} a file or a name "
            f"from `vsr weights list`{hint}"
        )
    if weights in manifest:
        entry = manifest[weights]
        if scale is not None and entry.get("scale") not in (None, scale):
            raise VsrError(scale_mismatch(weights, entry["scale"], scale))
        if entry.get("url"):
            return download(weights)
        return _shipped(weights, entry)
    if path.suffix or os.sep in weights or path.is_dir():
        raise VsrError(_not_a_weights_file(path))
    raise VsrError(f"unknown weights {weights!r}: not a file; known names: {', '.join(manifest)}")


def is_weights_name(weights: str | os.PathLike) -> bool:
    """Whether `weights` names weights: a file, or a name in the manifest (which a Ray
    worker resolves, fetching it where it must)."""
    return Path(weights).expanduser().is_file() or (
        isinstance(weights, str) and _known_name(weights)
    )


def _known_name(weights: str) -> bool:
    """Whether ``weights`` is a name in the manifest (False where there is no manifest)."""
    try:
        return weights in load_manifest()
    except VsrError:
        return False


def _shipped(name: str, entry: dict[str, Any]) -> Path:
    path = local_path(entry)
    if not path.is_file():
        raise VsrError(f"{name} should ship with vsr at {path}, but the file is missing")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(name: str) -> Path:
    """Fetch a manifest entry into the cache (verified by sha256) and return its path.

    A file already there with the right sum is reused. The download goes to a temporary
    file that is renamed only once its sum matches; on a mismatch it is deleted.
    """
    manifest = load_manifest()
    entry = manifest.get(name)
    if entry is None:
        raise VsrError(f"unknown weights {name!r}; known names: {', '.join(manifest)}")
    if not entry.get("url"):
        return _shipped(name, entry)  # nothing to fetch
    target = local_path(entry)
    damaged = target.is_file()
    if damaged and sha256_of(target) == entry["sha256"]:
        return target
    try:
        return fetch(entry["url"], entry["sha256"], target)
    except VsrError as error:
        if not damaged:
            raise
        # Without a word on the cached copy, an offline user reads "cannot download" and
        # cannot tell why the file listed as downloaded was not used.
        raise VsrError(
            f"{target} fails its sha256 check (damaged or replaced), and fetching it again "
            f"failed: {error}"
        ) from None


def fetch(url: str, sha256: str, target: Path) -> Path:
    """Download url to target atomically, refusing content whose sha256 differs."""
    try:
        make_private_folder(target.parent)
        if not target.parent.is_dir():  # a file by that name, which is not made again
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    except OSError as error:
        raise VsrError(
            f"cannot use the weights cache {target.parent} ({error.strerror}); set VSR_CACHE"
        ) from None
    if target.is_dir():
        # Found only at the rename, once downloaded, as "Is a directory" of a hidden name.
        raise VsrError(f"cannot keep the weights at {target}: a folder is there; remove it")
    # atomic_output's temporary file is unique to the call: two threads of a service fetching
    # the same weights on first use do not write or rename away each other's file.
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_output(target) as out:
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise VsrError(
                        f"{url}: more than {MAX_DOWNLOAD_BYTES >> 20} MiB, far larger than any "
                        "IMDN checkpoint; refusing it"
                    )
                digest.update(chunk)
                out.write(chunk)
            # A connection closed before the length the server stated ends the reads as the
            # end of the file would: said as such, not as a sha256 that does not match.
            stated = _stated_length(response)
            if stated is not None and received < stated:
                raise VsrError(
                    f"cannot download {url}: the connection closed after {received} of "
                    f"{stated} bytes; try again"
                )
            if digest.hexdigest() != sha256:  # inside: the temporary file is dropped
                raise VsrError(
                    f"{url}: sha256 {digest.hexdigest()} does not match the expected {sha256}; "
                    "refusing it"
                )
    except http.client.HTTPException as error:  # IncompleteRead: a chunked reply cut off
        raise VsrError(
            f"cannot download {url}: the connection closed before the file's end "
            f"({type(error).__name__}); try again"
        ) from None
    except OSError as error:  # URLError is an OSError
        raise VsrError(f"cannot download {url}: {error}") from None
    return target


def _stated_length(response: object) -> int | None:
    """The Content-Length an HTTP reply states, None for another URL (file:) or none."""
    headers = getattr(response, "headers", None)
    length = headers.get("Content-Length") if headers is not None else None
    try:
        return int(length) if length is not None else None
    except ValueError:
        return None


def scale_mismatch(name: str, network_scale: int, asked: int) -> str:
    """What every command and the API say of weights asked to upscale by another factor
    than their own (`name`: the file, the manifest name or the network's type)."""
    return (
        f"{name} upscales by {network_scale}, not by {asked} ({option('--scale', asked)}); "
        f"give {option('--scale', network_scale)} or leave it out"
    )


def same_size_refusal(name: str) -> str:
    """What is said of a same-size network (IMDN_AS) given a scale where the network runs
    alone, at its input's size (vsr viz, vsr profile, vsr bench --model-only)."""
    return f"{name} keeps its input's size: {option('--scale')} does not apply to it; leave it out"


@dataclass(frozen=True)
class LoadedNetwork:
    """A network and the weights file it came from (None for a module given as is)."""

    model: torch.nn.Module
    path: Path | None


def load_network(
    weights: str | Path | torch.nn.Module | None,
    scale: int | None = None,
    *,
    same_size_serves_any_scale: bool = True,
) -> LoadedNetwork:
    """The network for ``weights`` (a built module, a file, a manifest name, or None for our
    default weights for ``scale``): the one way every command and the API load weights.

    A given ``scale`` must be the network's own. A same-size network (IMDN_AS) serves any
    where the caller enlarges its input first (the API, vsr image, vsr eval, the engine);
    with ``same_size_serves_any_scale`` False, where it runs alone, the scale is refused.
    """
    from vsr.models import load_weights

    scale = check_scale(scale)
    if isinstance(weights, torch.nn.Module):
        if not isinstance(getattr(weights, "scale", None), int):
            raise VsrError(
                f"a {type(weights).__name__} is not an upscaling network: a module given as "
                "weights needs an int .scale (use vsr.models.create_model or load_weights)"
            )
        network = LoadedNetwork(weights, None)
    elif weights is not None and not is_str_path(weights):
        hint = ""
        if hasattr(weights, "model") and hasattr(weights, "plan_for"):  # a vsr.Upscaler
            hint = " (an Upscaler is made from weights; pass its weights, or upscaler.model)"
        elif isinstance(weights, int):
            hint = f" (for our own weights of a scale, write scale={weights})"
        raise VsrTypeError(
            "weights must be a file path (str or os.PathLike), a name from `vsr weights list` "
            f"or a network, not {given(weights)}{hint}"
        )
    else:
        from vsr.weights_origin import remember_origin

        path = resolve_weights(weights, scale)
        network = LoadedNetwork(load_weights(path), path)
        remember_origin(network.model, path)  # for the run report
    own = network.model.scale
    if scale is None or own == scale:
        return network
    name = network.path.name if network.path is not None else type(network.model).__name__
    if own != 1:
        raise VsrError(scale_mismatch(name, own, scale))
    if not same_size_serves_any_scale:
        raise VsrError(same_size_refusal(name))
    return network
