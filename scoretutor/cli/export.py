"""``python -m scoretutor export RUN_DIR --name NAME``: a training run as a shipped checkpoint with its
model card (chapter 5).

The card is the run's own (:func:`scoretutor.cards.run_card`), completed with the epoch exported, the
parameter count, the stored dtype and a denoising table on held-out data (scored with the weights as
shipped, float16 rounding included), then rendered by :func:`scoretutor.cards.card_markdown`.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["parser", "main"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scoretutor export",
        description="Turn a training run's checkpoint into a shipped checkpoint NAME.pt with its model card NAME.md.",
    )
    p.add_argument("run_dir", help="training run folder (holding checkpoint.pt, and best.pt)")
    p.add_argument("--which", choices=("best", "last"), default="best",
                   help="export the epoch with the lowest validation loss (best.pt, default; the last epoch "
                        "when the run has none) or the last epoch (checkpoint.pt)")
    p.add_argument("--name", required=True, help="checkpoint name, e.g. leaves_k2")
    p.add_argument("--dest", default=None, help="destination folder (default: the package's scoretutor/checkpoints)")
    p.add_argument("--fp32", action="store_true", help="store float32 weights (default float16, half the size)")
    p.add_argument("--eval-sequences", type=int, default=100,
                   help="held-out sequences for the card's denoising table (0: no table; default 100)")
    p.add_argument("--notes", default=None, help="free text for the card (e.g. 'CPU-sized model')")
    return p


def main(argv=None) -> int:
    """``python -m scoretutor export RUN_DIR --name NAME``; returns the exit status."""
    from ..atomic import atomic_write_text
    from ..cards import card_markdown, run_card
    from ..checkpoints import CHECKPOINT_DIR, save_pretrained
    from ..data.sources import HELD_OUT_SEED, make_source
    from ..metrics import TABLE_SIGMAS, denoising_table, format_table
    from ..run_record import BEST_NAME, read_checkpoint
    from ..training import TrainConfig
    from ..unet import UNet

    args = parser().parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        print(f"error: --name must use letters, digits, '_', '-', '.', got {args.name!r}", file=sys.stderr)
        return 2
    try:
        which = args.which
        if which == "best" and not (Path(args.run_dir) / BEST_NAME).is_file():
            print(f"note: {args.run_dir} has no {BEST_NAME}; exporting its last epoch")
            which = "last"
        saved = read_checkpoint(args.run_dir, which)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = TrainConfig.from_dict(saved["config"])
    model = UNet.from_config(saved["model_config"])
    model.load_state_dict(saved["model"])
    model.eval()
    card = run_card(saved)
    card["selected"] = (f"epoch {card['epochs']} of the {int(read_checkpoint(args.run_dir)['epoch'])} run: "
                        + ("the lowest validation loss" if which == "best" else "the last one"))
    card["parameters"] = sum(p.numel() for p in model.parameters())
    card["stored_dtype"] = "float32" if args.fp32 else "float16"
    if args.notes:
        card["notes"] = args.notes
    if args.eval_sequences > 0:
        source = make_source(config)
        if hasattr(source, "held_out_frames"):
            frames = source.held_out_frames(args.eval_sequences)
            # evaluate the weights as shipped (float16 rounding included)
            shipped = UNet.from_config(model.config)
            shipped.load_state_dict({k: (v.half().float() if v.is_floating_point() and not args.fp32 else v)
                                     for k, v in model.state_dict().items()})
            shipped.eval()
            rows = denoising_table(shipped, frames, sigmas=TABLE_SIGMAS, seed=0)
            card["denoising_table"] = rows
            held = (f"{len(frames)} clips of the DAVIS32 test split (sequences never used in training)"
                    if config.data == "davis32" else
                    f"{args.eval_sequences} held-out sequences (seed {HELD_OUT_SEED}, never used in training)")
            card["evaluation"] = f"{held}, all {frames.shape[1] - config.k} pairs per clip, noise seed 0."
            print(format_table(rows))
    dest = Path(args.dest) if args.dest else CHECKPOINT_DIR
    path = save_pretrained(model, dest / f"{args.name}.pt", card=card, half=not args.fp32)
    atomic_write_text(card_markdown(args.name, card, model.config), dest / f"{args.name}.md")
    size = path.stat().st_size / 1e6
    print(f"wrote {path} ({size:.2f} MB) and {dest / (args.name + '.md')}")
    return 0
