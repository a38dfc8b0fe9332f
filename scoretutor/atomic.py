"""Atomic file writes: a file is either its old self or its complete new self, never half-written
(machinery, not taught in a chapter).

Used by everything that writes (training checkpoints, shipped checkpoints, model cards, data caches),
so an interrupted run loses nothing and can resume. The new bytes go to a temporary file beside the
target (``.NAME.XXXXXXXX.tmp``), are flushed to the disk (``fsync``), and only then renamed onto the
target; the folder is synced too where the platform allows, so that a power cut cannot leave a renamed
but empty file. A write killed before its rename leaves only such a temporary file, which
:func:`remove_stale_temporaries` deletes (the run record does so when it takes its folder's lock).
A full disk raises :class:`DiskFullError`, which says so and that the old file is intact.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["DiskFullError", "atomic_write", "atomic_save", "atomic_write_text", "remove_stale_temporaries"]

#: ``errno`` values that mean "no room left": a full disk, an exceeded quota, a file too large
_NO_ROOM = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


class DiskFullError(OSError):
    """The disk (or the quota) is full: the file was not written and its previous version is intact.
    ``where`` says which disk and how much room is left, for callers that word their own message."""

    def __init__(self, message: str, where: str):
        super().__init__(errno.ENOSPC, message)
        self.where = where

    def __str__(self) -> str:
        return self.strerror


def _temporary(path: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return tmp


def _sync_file(tmp: str) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())


def _sync_folder(folder: Path) -> None:
    """fsync a folder so that a rename in it is on the disk (not possible on Windows: skipped)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _disk_full(path: Path, exc: BaseException) -> DiskFullError:
    free = _free_bytes(path.parent)
    room = f" ({free / 1e6:.1f} MB free)" if free is not None else ""
    where = f"the disk holding {path.parent} is full{room}"
    kept = "its previous version is intact" if path.exists() else "nothing was written"
    return DiskFullError(f"{where}: {path.name} was not written and {kept}. Free some space (or write "
                         "elsewhere) and run the command again", where)


def _is_no_room(exc: BaseException, folder: Path) -> bool:
    """Whether a failed write ran out of room: an ``OSError`` saying so, or (torch's own writer reports
    ``RuntimeError``s) any error while the folder's disk has next to nothing free."""
    if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
        return True
    if isinstance(exc, (OSError, RuntimeError)):
        free = _free_bytes(folder)
        return free is not None and free < 1 << 16
    return False


def atomic_write(path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it to the disk, then rename it onto
    ``path``.

    The rename (``os.replace``) is atomic on one file system; on any error the temporary file is
    removed and ``path`` is left untouched. Running out of disk space raises :class:`DiskFullError`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        tmp = _temporary(path)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        _sync_file(tmp)
        os.replace(tmp, path)
        tmp = None
        _sync_folder(path.parent)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        if _is_no_room(exc, path.parent):
            raise _disk_full(path, exc) from exc
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(obj, path) -> None:
    """``torch.save(obj, path)``, atomically (through a Python file, so a full disk is an ``OSError``)."""
    import torch

    def write(tmp):
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)

    atomic_write(path, write)


def atomic_write_text(text: str, path) -> None:
    """Write a UTF-8 text file atomically."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    atomic_write(path, write)


def remove_stale_temporaries(folder, names=None) -> list[Path]:
    """Delete the temporary files that killed :func:`atomic_write` calls left in ``folder``
    (``.NAME.*.tmp``, only for the given file ``names`` when given); returns what was removed. Call
    it only when no other process can be writing there (e.g. holding the folder's lock)."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.glob(".*.tmp"):
        owner = entry.name[1:].rsplit(".", 2)[0]  # ".checkpoint.pt.abc123.tmp" -> "checkpoint.pt"
        if entry.is_file() and (names is None or owner in names):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
