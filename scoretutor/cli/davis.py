"""``python -m scoretutor davis``: build (or load) the DAVIS32 cache and print its split (chapter 7)."""
from __future__ import annotations

from . import Parser, fail, in_cli_terms

__all__ = ["parser", "main"]


def parser() -> Parser:
    from ..data.davis import CLIP_LENGTH, ENV_ROOT

    p = Parser(
        prog="python -m scoretutor davis",
        description="Build the DAVIS32 cache (or load it when nothing changed) and print the number of clips "
                    "of each split and the test sequences.")
    p.add_argument("--root", default=None,
                   help=f"DAVIS folder, the one holding JPEGImages/480p (default ${ENV_ROOT}, else the folder "
                        "that 'python -m scoretutor download' fills)")
    p.add_argument("--cache-dir", default=None, help="cache folder (default $SCORETUTOR_DATA/davis32)")
    p.add_argument("--stride", type=int, default=CLIP_LENGTH,
                   help=f"frames between the starts of consecutive clips of a sequence (default {CLIP_LENGTH}: "
                        "clips do not overlap)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the cache even when it is up to date")
    return p


def main(argv=None) -> int:
    """``python -m scoretutor davis [--root R] [--cache-dir C] [--stride S] [--rebuild]``; returns the
    exit status."""
    from ..data.davis import load_davis32, split_summary

    args = parser().parse_args(argv)
    try:
        train = load_davis32("train", args.root, args.cache_dir, stride=args.stride, rebuild=args.rebuild)
        test = load_davis32("test", args.root, args.cache_dir, stride=args.stride)
    except ValueError as err:
        return fail(in_cli_terms(err, ("stride", "root"), (("pass root=,", "pass --root,"),)))
    except OSError as err:  # a full disk while writing the cache, no permission, ...
        return fail(f"{err.strerror or err}" + (f": {err.filename}" if err.filename else ""))
    print(f"DAVIS32 from {train.manifest['source']}: {train.manifest['frames']} frames, "
          f"{len(train.manifest['sequences'])} sequences")
    print(split_summary(train, test))
    return 0
