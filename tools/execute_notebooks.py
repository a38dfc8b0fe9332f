"""Execute chapter notebooks top to bottom on a fresh kernel and store their outputs in place.

    python tools/execute_notebooks.py                       # every chapter, in order
    python tools/execute_notebooks.py chapters/01_tweedie.ipynb

Runs headless (``SCORETUTOR_HEADLESS=1``: no progress bars, widgets as static figures), from the
``chapters/`` folder, with the current Python environment's kernel, and prints each notebook's
wall time. Stored widget state is dropped. The notebook is replaced atomically, so an interrupted run leaves the old one intact.
This is how chapters are committed; ``pytest`` (strict nbval) then re-runs them and compares.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path, timeout: int = 900) -> float:
    """Execute one notebook in place; return its wall time in seconds."""
    import nbformat
    from nbclient import NotebookClient

    from scoretutor.atomic import atomic_write_text

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    # Widget state the kernel left (ipywidgets, tqdm): the static book never shows it, and storing
    # it makes every page load require.js and a widget manager from the network.
    nb.metadata.pop("widgets", None)
    atomic_write_text(nbformat.writes(nb) + "\n", path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: chapters/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    os.environ["SCORETUTOR_HEADLESS"] = "1"
    paths = args.notebooks or sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
    for path in paths:
        if not path.exists():
            parser.error(f"no such notebook: {path}")
        seconds = execute(path.resolve(), args.timeout)
        print(f"{path}: executed in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
