"""Moving Leaves generation speed on one CPU core (issue 3: at least 5,000 sequences/s of 11×32×32).

    python benchmarks/leaves_generation.py [--n 5000] [--repeats 5]

Pins NumPy/BLAS and torch to one thread, generates ``n`` sequences (default options: 11 frames of
32×32, two disks, the half-occlusion constraint included) ``repeats`` times after a warm-up, and
prints the best and median rates.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy is imported

import argparse
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="sequences per run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from scoretutor.data.leaves import generate

    generate(min(args.n, 500), seed=123)  # warm-up
    rates = []
    for r in range(args.repeats):
        start = time.perf_counter()
        frames, meta = generate(args.n, seed=r)
        rates.append(args.n / (time.perf_counter() - start))
    assert (meta["hidden_fraction"].max(axis=1) >= 0.5).all()
    print(f"Moving Leaves, {args.n} sequences of {frames.shape[1]}x{frames.shape[2]}x{frames.shape[3]}, one thread:")
    print(f"  best {max(rates):,.0f} seq/s, median {statistics.median(rates):,.0f} seq/s over {args.repeats} runs "
          f"(goal: 5,000 seq/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
