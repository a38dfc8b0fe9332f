"""Downloading DAVIS-2017 for DAVIS32: streaming, resumable, verified, extracted atomically. Taught in chapter 7.

:func:`download_davis` fetches the official DAVIS-2017 trainval 480p archive and unpacks it to
``data_dir()/davis/DAVIS-2017-trainval-480p`` (see :mod:`scoretutor.data.davis`), where
:func:`scoretutor.data.davis.davis_root` finds it. It uses only the standard library (``urllib``).

The rules for files left behind:

* While downloading, bytes go to ``<archive>.part``. If the connection fails, the ``.part`` file
  stays so that the next call resumes from where it stopped (an HTTP ``Range`` request); nothing
  else is left. This is the only partial file ever left behind.
* A size or checksum mismatch deletes the ``.part`` file (the bytes are wrong; resuming would
  keep them) and raises ``ValueError``.
* Only a complete, verified archive is renamed to its final name; extraction goes to a temporary
  folder next to the destination, which is renamed into place only once complete (and removed
  otherwise, together with an archive that turns out not to be a valid DAVIS zip).

The archive is pinned: :data:`DAVIS_2017_TRAINVAL_480P_SIZE` bytes with SHA-256
:data:`DAVIS_2017_TRAINVAL_480P_SHA256` (as recorded in TensorFlow Datasets' checksums for its
``davis`` dataset), both verified before anything is extracted; pass ``sha256=`` / ``size=`` to
override them (``None``: not compared, the SHA-256 is then printed). The content is verified once more
while extracting: every member's CRC-32, stored in the zip, is checked.

Only ``https://`` URLs are accepted unless ``allow_insecure=True`` (plain ``http://`` and ``file://``,
e.g. a local mirror or the loopback server of the tests). Extraction refuses an archive whose members
would unpack to more than ``max_bytes`` or number more than ``max_members`` (a zip bomb), and any
member path that leaves the destination.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .. import checks
from ..atomic import DiskFullError
from ..runtime import show_progress
from .davis import DOWNLOAD_NAME, data_dir

__all__ = [
    "DAVIS_2017_TRAINVAL_480P_URL",
    "DAVIS_2017_TRAINVAL_480P_SHA256",
    "DAVIS_2017_TRAINVAL_480P_SIZE",
    "MAX_EXTRACTED_BYTES",
    "MAX_MEMBERS",
    "MANUAL_INSTRUCTIONS",
    "sha256_file",
    "fetch",
    "extract_zip",
    "download_davis",
]

DAVIS_2017_TRAINVAL_480P_URL = "https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip"
# As recorded in TensorFlow Datasets' checksums for its ``davis`` dataset (url_checksums/davis.tsv).
DAVIS_2017_TRAINVAL_480P_SHA256: str | None = "e3d0b5b77c3d031b000a19e0e25e3e2cac65d183755601bc2cf066df1a2aa492"
DAVIS_2017_TRAINVAL_480P_SIZE: int | None = 832_766_765
#: extraction limits against a zip bomb: the official archive unpacks to about 0.9 GB in about 11,000 files
MAX_EXTRACTED_BYTES = 4 * 1024**3
MAX_MEMBERS = 100_000

MANUAL_INSTRUCTIONS = (
    "To install DAVIS by hand: download {url} (see https://davischallenge.org/davis2017/code.html), "
    "unzip it, and set the environment variable SCORETUTOR_DAVIS_ROOT to the unzipped folder that "
    "holds JPEGImages/480p."
)
_NO_ROOM = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)


class _Interrupted(Exception):
    """The connection ended before the announced number of bytes arrived."""


def sha256_file(path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes. Taught in chapter 7."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def _total_from_content_range(value: str | None) -> tuple[int, int | None] | None:
    m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", value or "")
    if not m:
        return None
    return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))


def _attempt(url: str, part: Path, size: int | None, timeout: float, chunk_size: int, bar) -> int | None:
    """One request: append to ``part`` (resuming when it has bytes). Returns the total size the
    server announced (or ``None``); raises ``_Interrupted`` or a network error when cut short."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "scoretutor-download/1"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have and size is not None and have == size:
            return size  # the .part file is already complete
        if err.code == 416 and have:  # the server has nothing past our bytes: start again
            part.unlink()
            raise _Interrupted("range not satisfiable; restarting from the first byte") from None
        raise
    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None else None
        if response.status == 206:
            rng = _total_from_content_range(response.headers.get("Content-Range"))
            if rng is None or rng[0] != have:
                part.unlink()
                raise _Interrupted("the server resumed at the wrong offset; restarting")
            total = rng[1]
            mode = "ab"
        else:  # 200: the whole file (the server ignored or was not sent a Range)
            have, mode = 0, "wb"
            total = length
        if size is not None and total is not None and total != size:
            if part.exists():
                part.unlink()
            raise ValueError(f"size mismatch for {url}: the server offers {total} bytes, expected size={size}")
        bar.reset(total=total)
        bar.update(have)
        received = 0
        with open(part, mode) as fh:
            while True:
                block = response.read(chunk_size)
                if not block:
                    break
                fh.write(block)
                received += len(block)
                bar.update(len(block))
        if length is not None and received < length:
            raise _Interrupted(f"connection closed after {have + received} of {total} bytes")
    return total


def fetch(
    url: str,
    dest,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    retry_wait: float = 2.0,
    chunk_size: int = 1 << 20,
    allow_insecure: bool = False,
) -> Path:
    """Download ``url`` to the file ``dest``, resuming a ``dest.part`` left by an earlier try.

    Verifies the size (``size`` if given, else the one the server announced) and the SHA-256
    (``sha256`` if given; otherwise it is printed). A dropped connection is retried ``retries``
    times (each resuming with an HTTP ``Range`` request); if it still fails, the ``.part`` file is
    kept for the next call and ``ConnectionError`` explains how to download by hand. A size or
    checksum mismatch deletes the ``.part`` file and raises ``ValueError``. An existing ``dest`` is
    verified and returned without downloading (if it fails the check, ``ValueError`` says so and the
    file is left for you to inspect or delete). Only ``https://`` URLs are fetched unless
    ``allow_insecure`` (then also ``http://`` and ``file://``). Returns ``dest`` as a ``Path``. Taught in chapter 7.
    """
    from tqdm.auto import tqdm

    dest = Path(dest).expanduser()
    if sha256 is not None:
        sha256 = str(sha256).lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    if size is not None:
        size = checks.integer(size, "size", 0)
    retries = checks.integer(retries, "retries", 0)
    _check_url(url, allow_insecure)
    if dest.is_file():
        _verify(dest, url, sha256, size, delete=False)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if size is not None and part.exists() and part.stat().st_size > size:
        part.unlink()
    show = show_progress() if progress is None else bool(progress)
    total, last_error = None, None
    with tqdm(desc=dest.name, unit="B", unit_scale=True, unit_divisor=1024, disable=not show) as bar:
        for attempt in range(retries + 1):
            try:
                total = _attempt(url, part, size, timeout, chunk_size, bar)
                last_error = None
                break
            except urllib.error.HTTPError as err:
                if err.code < 500:  # 404 and the like: retrying will not help
                    last_error = err
                    break
                last_error = err
            except (_Interrupted, *_NETWORK_ERRORS) as err:
                last_error = err
            except OSError as err:
                if err.errno in _NO_ROOM:
                    have = part.stat().st_size if part.exists() else 0
                    raise DiskFullError(
                        f"the disk holding {dest.parent} is full: the download stopped after {have:,} bytes, kept in "
                        f"{str(part)!r}; free some space (about {max((size or total or 0) - have, 0) / 1e6:,.0f} MB more "
                        "is needed) and run the command again to resume", f"the disk holding {dest.parent} is full"
                    ) from None
                raise
            if attempt < retries and retry_wait > 0:
                time.sleep(retry_wait * (attempt + 1))
    if last_error is not None:
        if isinstance(last_error, urllib.error.HTTPError):
            reason = f"the server answered HTTP {last_error.code} {last_error.reason}."
        else:
            reason = f"{getattr(last_error, 'reason', None) or last_error}. Are you offline?"
        kept = (f" The {part.stat().st_size} bytes received so far are kept in {str(part)!r}; calling again "
                f"resumes from there." if part.exists() else "")
        raise ConnectionError(f"could not download {url}: {reason}{kept} " + MANUAL_INSTRUCTIONS.format(url=url)) from None
    _verify(part, url, sha256, size if size is not None else total, delete=True)
    os.replace(part, dest)
    return dest


def _check_url(url, allow_insecure: bool) -> None:
    """ValueError unless ``url`` is https (or, with ``allow_insecure``, http or file)."""
    if not isinstance(url, str):
        raise ValueError(f"url must be a str, got {url!r}")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    allowed = ("https", "http", "file") if allow_insecure else ("https",)
    if scheme not in allowed:
        extra = "" if allow_insecure or scheme not in ("http", "file") else (
            f"; {scheme}:// only when asked for (allow_insecure=True, --allow-insecure): nothing protects the "
            "bytes on the way, the pinned checksum aside")
        raise ValueError(f"url must start with {' or '.join(a + '://' for a in allowed)}, got {url!r}{extra}")


def _verify(path: Path, url: str, sha256: str | None, size: int | None, *, delete: bool) -> None:
    actual = path.stat().st_size
    problem = None
    if size is not None and actual != size:
        problem = f"size mismatch for {str(path)!r}: {actual} bytes, expected {size}"
    else:
        digest = sha256_file(path)
        if sha256 is not None and digest != sha256:
            problem = f"checksum mismatch for {str(path)!r}: sha256 {digest}, expected {sha256}"
        elif sha256 is None:
            print(f"{path.name}: {actual} bytes, sha256 {digest} (not compared: no expected checksum given)")
    if problem is not None:
        if delete:
            path.unlink()
            problem += " (the download was deleted; try again, or check the expected value)"
        raise ValueError(f"{problem} when downloading {url}")


def _davis_folder(top: Path) -> Path | None:
    """The folder holding ``JPEGImages/480p``: ``top`` itself or one folder below it."""
    if (top / "JPEGImages" / "480p").is_dir():
        return top
    inside = [p for p in top.iterdir() if p.is_dir() and (p / "JPEGImages" / "480p").is_dir()]
    return inside[0] if len(inside) == 1 else None


def _check_members(zf: zipfile.ZipFile, archive, max_bytes: int, max_members: int) -> None:
    """ValueError for an unsafe member path, or an archive that would unpack to too much (zip bomb).

    The sizes are the ones the zip declares; extraction reads no more than that per member (and
    checks the CRC), so the declared total bounds what lands on the disk."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise ValueError(f"archive {str(archive)!r} has {len(infos):,} members, more than the {max_members:,} "
                         "allowed (a zip bomb, or not the DAVIS archive); nothing was extracted")
    total = 0
    for info in infos:
        member = info.filename
        parts = Path(member).parts
        if member.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise ValueError(f"archive {str(archive)!r} has an unsafe member path {member!r}")
        total += info.file_size
    if total > max_bytes:
        raise ValueError(f"archive {str(archive)!r} would unpack to {total / 1e9:.2f} GB, more than the "
                         f"{max_bytes / 1e9:.2f} GB allowed (a zip bomb, or not the DAVIS archive); nothing "
                         "was extracted")


def extract_zip(archive, dest_dir, name: str = DOWNLOAD_NAME, *, max_bytes: int = MAX_EXTRACTED_BYTES,
                max_members: int = MAX_MEMBERS) -> Path:
    """Unpack a DAVIS zip into ``dest_dir/name`` atomically and return that folder.

    Extracts into a temporary folder inside ``dest_dir``, finds the folder that holds
    ``JPEGImages/480p`` (the archive's top level or one folder below, e.g. ``DAVIS/``) and renames it
    to ``dest_dir/name``; on any failure the temporary folder is removed and ``ValueError`` names the
    problem. An existing ``dest_dir/name`` is an error (remove it first). An archive that would unpack
    to more than ``max_bytes`` or holds more than ``max_members`` members is refused before anything is
    written. Taught in chapter 7.
    """
    max_bytes = checks.integer(max_bytes, "max_bytes", 1)
    max_members = checks.integer(max_members, "max_members", 1)
    archive, dest_dir = Path(archive), Path(dest_dir).expanduser()
    target = dest_dir / name
    if target.exists():
        raise ValueError(f"{str(target)!r} exists already; remove it to extract again")
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.extract-", dir=dest_dir))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                _check_members(zf, archive, max_bytes, max_members)
                zf.extractall(tmp)
        except OSError as err:
            if err.errno in _NO_ROOM:
                raise DiskFullError(
                    f"the disk holding {dest_dir} is full while extracting {str(archive)!r}: nothing was left "
                    "behind and the archive is kept; free some space and run the command again",
                    f"the disk holding {dest_dir} is full") from None
            raise ValueError(f"archive {str(archive)!r} is not a readable zip file: {err}") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
            raise ValueError(f"archive {str(archive)!r} is not a readable zip file: {err}") from None
        found = _davis_folder(tmp)
        if found is None:
            raise ValueError(f"archive {str(archive)!r} holds no JPEGImages/480p folder (not a DAVIS archive)")
        os.rename(found, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def download_davis(
    dest_dir=None,
    *,
    url: str = DAVIS_2017_TRAINVAL_480P_URL,
    sha256: str | None = DAVIS_2017_TRAINVAL_480P_SHA256,
    size: int | None = DAVIS_2017_TRAINVAL_480P_SIZE,
    keep_archive: bool = False,
    progress: bool | None = None,
    **fetch_options,
) -> Path:
    """Download and unpack DAVIS-2017 trainval 480p; return the folder that holds ``JPEGImages/480p``.

    ``dest_dir`` defaults to ``data_dir()/davis``; the data end up in ``dest_dir/DAVIS-2017-trainval-480p``
    (returned at once, with no network access, when it is already there). The archive is deleted
    after a successful extraction unless ``keep_archive``; an archive that is not a valid DAVIS zip
    is deleted too (a full disk keeps it). The archive's size and SHA-256 are pinned by default (see the
    module notes) and verified before extraction. ``fetch_options`` go to :func:`fetch` (``timeout``,
    ``retries``, ``retry_wait``, ``allow_insecure``). Taught in chapter 7.
    """
    dest_dir = Path(dest_dir).expanduser() if dest_dir is not None else data_dir() / "davis"
    if dest_dir.exists() and not dest_dir.is_dir():
        raise ValueError(f"destination {str(dest_dir)!r} is a file, not a folder")
    target = dest_dir / DOWNLOAD_NAME
    if (target / "JPEGImages" / "480p").is_dir():
        return target
    archive = dest_dir / (url.rstrip("/").rsplit("/", 1)[-1] or f"{DOWNLOAD_NAME}.zip")
    fetch(url, archive, sha256=sha256, size=size, progress=progress, **fetch_options)
    try:
        extract_zip(archive, dest_dir, DOWNLOAD_NAME)
    except ValueError:
        archive.unlink(missing_ok=True)
        raise
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return target
