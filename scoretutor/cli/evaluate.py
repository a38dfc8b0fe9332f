"""``python -m scoretutor evaluate NAME_OR_PATH``: input and output PSNR per noise level of a checkpoint
on held-out data (chapter 5)."""
from __future__ import annotations

import argparse
import math
import sys

__all__ = ["parser", "main"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scoretutor evaluate",
        description="Print input and output PSNR per noise level of a checkpoint on held-out sequences "
                    "(Moving Leaves from a seed training never uses, or the DAVIS32 test split).",
    )
    p.add_argument("checkpoint", help="a shipped checkpoint name, a .pt file, or a training run folder")
    p.add_argument("--data", choices=("leaves", "davis32"), default="leaves",
                   help="held-out data: leaves (default) or davis32 (test split, $SCORETUTOR_DAVIS_ROOT)")
    p.add_argument("--sequences", type=int, default=200, help="held-out sequences or clips (default 200)")
    p.add_argument("--sigmas", type=float, nargs="+", default=None,
                   help="noise levels (default 0.02 0.05 0.1 0.2 0.5 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--data-seed", type=int, default=None, help="seed of the held-out sequences (default: the held-out seed)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default cpu)")
    return p


def main(argv=None) -> int:
    """``python -m scoretutor evaluate NAME_OR_PATH``; returns the exit status."""
    from ..checkpoints import load, resolve
    from ..data.sources import HELD_OUT_SEED, DavisSource, LeavesSource
    from ..metrics import TABLE_SIGMAS, denoising_table, format_table

    args = parser().parse_args(argv)
    if args.sequences < 1:
        print("error: --sequences must be at least 1", file=sys.stderr)
        return 2
    bad = [s for s in args.sigmas or () if not (s >= 0 and math.isfinite(s))]
    if bad:
        print(f"error: --sigmas must be finite noise levels >= 0, got {bad[0]}", file=sys.stderr)
        return 2
    try:
        model = load(resolve(args.checkpoint), device=args.device)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seed = HELD_OUT_SEED if args.data_seed is None else args.data_seed
    try:
        if args.data == "davis32":
            frames = DavisSource().held_out_frames(args.sequences)
            what = f"{len(frames)} DAVIS32 test clips"
        else:
            frames = LeavesSource().held_out_frames(args.sequences, seed=seed)
            what = f"{args.sequences} held-out Moving Leaves sequences (seed {seed})"
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = denoising_table(model, frames, sigmas=args.sigmas or TABLE_SIGMAS, seed=args.seed)
    c = model.config
    print(f"{args.checkpoint}: k={c['k']}, width={c['width']}, prediction_only={c['prediction_only']}; {what}")
    print(format_table(rows))
    return 0
