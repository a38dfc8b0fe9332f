"""Speed of the classical next-frame predictors (chapter 7) on the CPU.

    python benchmarks/baselines_speed.py [--n 1000] [--k 2] [--repeats 5] [--threads 1]

Predicts the next frame of ``n`` random clips of ``k`` past 32×32 frames with every predictor in
:data:`scoretutor.baselines.BASELINES` (block matching with its defaults: 4×4 blocks, search ±3),
``repeats`` times after a warm-up, and prints the best and median rates in clips per second.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="clips per run")
    parser.add_argument("--k", type=int, default=2, help="past frames per clip")
    parser.add_argument("--size", type=int, default=32, help="frame side in pixels")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

    import torch

    from scoretutor.baselines import BASELINES

    torch.set_num_threads(args.threads)
    past = torch.rand(args.n, args.k, args.size, args.size, generator=torch.Generator().manual_seed(0))
    print(f"{args.n} clips of {args.k} past {args.size}x{args.size} frames, {args.threads} thread(s):")
    for name, predict in BASELINES.items():
        predict(past[: min(args.n, 100)])  # warm-up
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = predict(past)
            rates.append(args.n / (time.perf_counter() - start))
        assert out.shape == (args.n, 1, args.size, args.size)
        print(f"  {name:<22} best {max(rates):>12,.0f} clips/s, median {statistics.median(rates):>12,.0f} clips/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
