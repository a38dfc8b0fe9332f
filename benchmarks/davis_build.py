"""Benchmark: building DAVIS32 from ``$SCORETUTOR_DAVIS_ROOT`` (or ``--root``), then reloading it from the cache.

Builds into a temporary cache folder (deleted afterwards), so every run measures a cold build.
Prints the wall time of the build (reading and reducing the frames, then writing the compressed
cache), the clip counts of each split, the test sequences, and the time to load both splits back
from the cache. Goal (issue 6): the 15 development sequences build in under a minute on 2 CPU cores.

    python benchmarks/davis_build.py [--root /path/to/DAVIS] [--stride 11]
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from scoretutor.data.davis import build_davis32, davis_root, load_davis32, split_summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None, help="DAVIS folder (default $SCORETUTOR_DAVIS_ROOT)")
    parser.add_argument("--stride", type=int, default=11, help="frames between clip starts (default 11)")
    args = parser.parse_args(argv)
    root = davis_root(args.root)
    print(f"DAVIS32 build benchmark | {platform.processor() or platform.machine()} | "
          f"{os.cpu_count()} CPUs visible | root {root}")
    with tempfile.TemporaryDirectory(prefix="davis32-bench-") as cache:
        t0 = time.perf_counter()
        data = build_davis32(root, cache, progress=False)
        build = time.perf_counter() - t0
        size_mb = sum(f.stat().st_size for f in Path(cache).iterdir()) / 2**20
        print(f"build: {build:.1f} s wall ({data.manifest['build_seconds']:.1f} s reading and reducing "
              f"{data.crops.shape[0]} frames of {len(data.sequences)} sequences, the rest writing the "
              f"{size_mb:.1f} MiB compressed cache)")
        t0 = time.perf_counter()
        again = build_davis32(root, cache, progress=False)
        check = time.perf_counter() - t0
        assert not again.built, "the second build should have come from the cache"
        t0 = time.perf_counter()
        train = load_davis32("train", root, cache, stride=args.stride, progress=False)
        test = load_davis32("test", root, cache, stride=args.stride, progress=False)
        reload = time.perf_counter() - t0
    print(f"cached reload: {check:.2f} s for the crops; {reload:.2f} s for both splits as clips "
          f"(stride {args.stride})")
    print(split_summary(train, test))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
