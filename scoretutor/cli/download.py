"""``python -m scoretutor download``: download and unpack DAVIS-2017 and print where it is (chapter 7)."""
from __future__ import annotations

import argparse

__all__ = ["parser", "main"]


def parser() -> argparse.ArgumentParser:
    from ..data.download import (DAVIS_2017_TRAINVAL_480P_SHA256, DAVIS_2017_TRAINVAL_480P_SIZE,
                                 DAVIS_2017_TRAINVAL_480P_URL)

    p = argparse.ArgumentParser(
        prog="python -m scoretutor download",
        description="Download and unpack DAVIS-2017 (480p trainval) and print where it is.")
    p.add_argument("--dest", default=None, help="destination folder (default $SCORETUTOR_DATA/davis)")
    p.add_argument("--url", default=DAVIS_2017_TRAINVAL_480P_URL)
    p.add_argument("--sha256", default=DAVIS_2017_TRAINVAL_480P_SHA256)
    p.add_argument("--size", type=int, default=DAVIS_2017_TRAINVAL_480P_SIZE)
    p.add_argument("--keep-archive", action="store_true")
    p.add_argument("--retry-wait", type=float, default=2.0, help="seconds before the first retry")
    return p


def main(argv=None) -> int:
    """``python -m scoretutor download [--dest D] [--url U] [--sha256 H] [--size N] [--keep-archive]``;
    returns the exit status."""
    from ..data.download import download_davis

    args = parser().parse_args(argv)
    try:
        root = download_davis(
            args.dest, url=args.url, sha256=args.sha256, size=args.size, keep_archive=args.keep_archive,
            retry_wait=args.retry_wait,
        )
    except (ValueError, ConnectionError) as err:
        print(f"error: {err}")
        return 1
    print(f"DAVIS is in {root}")
    print(f"use it with: export SCORETUTOR_DAVIS_ROOT={root}")
    return 0
