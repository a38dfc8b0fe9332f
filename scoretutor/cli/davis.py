"""``python -m scoretutor davis``: build (or load) the DAVIS32 cache and print its split (chapter 7)."""
from __future__ import annotations

import argparse

__all__ = ["parser", "main"]


def parser() -> argparse.ArgumentParser:
    from ..data.davis import CLIP_LENGTH, ENV_ROOT

    p = argparse.ArgumentParser(
        prog="python -m scoretutor davis",
        description="Build the DAVIS32 cache (or load it when nothing changed) and print the number of clips "
                    "of each split and the test sequences.")
    p.add_argument("--root", default=None, help=f"DAVIS folder (default ${ENV_ROOT})")
    p.add_argument("--cache-dir", default=None, help="cache folder (default $SCORETUTOR_DATA/davis32)")
    p.add_argument("--stride", type=int, default=CLIP_LENGTH)
    p.add_argument("--rebuild", action="store_true")
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
        print(f"error: {err}")
        return 2
    print(f"DAVIS32 from {train.manifest['source']}: {train.manifest['frames']} frames, "
          f"{len(train.manifest['sequences'])} sequences")
    print(split_summary(train, test))
    return 0
