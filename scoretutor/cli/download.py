"""``python -m scoretutor download``: download and unpack DAVIS-2017 and print where it is (chapter 7)."""
from __future__ import annotations

from . import Parser, fail

__all__ = ["parser", "main"]


def parser() -> Parser:
    from ..data.download import (DAVIS_2017_TRAINVAL_480P_SHA256, DAVIS_2017_TRAINVAL_480P_SIZE,
                                 DAVIS_2017_TRAINVAL_480P_URL)

    p = Parser(
        prog="python -m scoretutor download",
        description="Download DAVIS-2017 (480p trainval, about 830 MB; CC BY-NC 4.0), check its size and "
                    "SHA-256, unpack it and print where it is. An interrupted download resumes where it "
                    "stopped when you run the command again.")
    p.add_argument("--dest", default=None, help="destination folder (default $SCORETUTOR_DATA/davis, "
                                                "$SCORETUTOR_DATA defaulting to ~/.cache/scoretutor)")
    p.add_argument("--url", default=DAVIS_2017_TRAINVAL_480P_URL,
                   help=f"where to download the archive from; https only unless --allow-insecure "
                        f"(default {DAVIS_2017_TRAINVAL_480P_URL})")
    p.add_argument("--sha256", default=DAVIS_2017_TRAINVAL_480P_SHA256,
                   help=f"expected SHA-256 of the archive, checked before unpacking (default: the official "
                        f"archive's, {DAVIS_2017_TRAINVAL_480P_SHA256[:8]}...{DAVIS_2017_TRAINVAL_480P_SHA256[-6:]})")
    p.add_argument("--size", type=int, default=DAVIS_2017_TRAINVAL_480P_SIZE,
                   help=f"expected size of the archive in bytes (default: the official archive's, "
                        f"{DAVIS_2017_TRAINVAL_480P_SIZE:,})")
    p.add_argument("--allow-insecure", action="store_true",
                   help="also accept http:// and file:// URLs (a local mirror); the checksum is still checked")
    p.add_argument("--keep-archive", action="store_true", help="keep the .zip after unpacking it (default: delete it)")
    p.add_argument("--retry-wait", type=float, default=2.0,
                   help="seconds before the first retry of a dropped connection (default 2; doubled, tripled, ...)")
    return p


def main(argv=None) -> int:
    """``python -m scoretutor download [--dest D] [--url U] [--sha256 H] [--size N] [--allow-insecure]
    [--keep-archive] [--retry-wait S]``; returns the exit status."""
    from ..data.download import download_davis

    args = parser().parse_args(argv)
    if args.retry_wait < 0 or args.retry_wait != args.retry_wait:
        return fail(f"--retry-wait must be a number of seconds >= 0, got {args.retry_wait}")
    try:
        root = download_davis(
            args.dest, url=args.url, sha256=args.sha256, size=args.size, keep_archive=args.keep_archive,
            retry_wait=args.retry_wait, allow_insecure=args.allow_insecure,
        )
    except (ValueError, ConnectionError) as err:
        return fail(str(err).replace("allow_insecure=True, ", "").replace("size=", "--size "), 1)
    except OSError as err:  # a full disk (the message says what is kept), no permission, ...
        return fail(f"{err.strerror or err}" + (f": {err.filename}" if err.filename else ""), 1)
    print(f"DAVIS is in {root}")
    print(f"use it with: export SCORETUTOR_DAVIS_ROOT={root}")
    return 0
