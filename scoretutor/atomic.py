"""Atomic file writes: a file is either its old self or its complete new self, never half-written
(machinery, not taught in a chapter).

Used by everything that writes (training checkpoints, shipped checkpoints, model cards, data caches),
so an interrupted run loses nothing and can resume.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "atomic_save", "atomic_write_text"]


def atomic_write(path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The rename (``os.replace``) is atomic on one file system; on any error the temporary file is
    removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(obj, path) -> None:
    """``torch.save(obj, path)``, atomically."""
    import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(text: str, path) -> None:
    """Write a UTF-8 text file atomically."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    atomic_write(path, write)
