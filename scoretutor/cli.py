"""Command line: ``python -m scoretutor train | export | evaluate``. Taught in chapter 5.

* ``train``: train (or resume) a conditional bias-free U-net; writes ``OUT/checkpoint.pt`` and
  ``OUT/log.csv`` after every epoch.
* ``export RUN_DIR --name NAME``: turn a run's checkpoint into a shipped checkpoint
  ``scoretutor/checkpoints/NAME.pt`` (float16 weights) with its model card ``NAME.md``.
* ``evaluate NAME_OR_PATH``: print input and output PSNR per noise level on held-out sequences.

Each sub-command is a ``main(argv=None)`` function that tests call; ``main`` dispatches.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main", "train_main", "export_main", "evaluate_main"]

_TRAIN_DEFAULTS = {
    "data": "leaves", "k": 2, "width": 64, "scales": 3, "prediction_only": False, "batch_size": 32,
    "lr": 1e-3, "patience": 5, "min_lr": 1e-6, "train_sequences": 2000, "val_sequences": 200, "seed": 0, "p_larger_front": None,
    "contact_boost": 1, "init": None, "freeze_bn": False,
}


def _train_parser() -> argparse.ArgumentParser:
    from .training import DATA_SOURCES

    p = argparse.ArgumentParser(
        prog="python -m scoretutor train",
        description=(
            "Train a conditional bias-free U-net as a blind universal denoiser of the next frame "
            "(sqrt(sigma) ~ U(0,1), Adam, learning rate halved on a validation plateau). Writes OUT/checkpoint.pt "
            "and OUT/log.csv after every epoch. With --resume the same command continues the run exactly "
            "(options left out are taken from the saved run; only --epochs, --time-limit, --threads, --device, "
            "--compile and --patience may differ from it)."
        ),
    )
    d = _TRAIN_DEFAULTS
    p.add_argument("--data", choices=sorted(DATA_SOURCES), default=None, help=f"training data (default {d['data']})")
    p.add_argument("--k", type=int, default=None, help=f"number of past frames (default {d['k']})")
    p.add_argument("--width", type=int, default=None, help=f"channels at the first scale (default {d['width']})")
    p.add_argument("--scales", type=int, default=None, help=f"spatial scales of the U-net (default {d['scales']})")
    p.add_argument("--prediction-only", action="store_const", const=True, default=None,
                   help="no noisy observation channel: predict from the past alone")
    p.add_argument("--epochs", type=int, default=100, help="total number of epochs of the run (default 100)")
    p.add_argument("--batch-size", type=int, default=None, help=f"batch size (default {d['batch_size']}; the paper: 4)")
    p.add_argument("--lr", type=float, default=None, help=f"initial learning rate of Adam (default {d['lr']:g})")
    p.add_argument("--patience", type=int, default=None,
                   help=f"epochs without validation improvement before halving the learning rate (default {d['patience']})")
    p.add_argument("--min-lr", type=float, default=None, help=f"lowest learning rate (default {d['min_lr']:g})")
    p.add_argument("--train-sequences", type=int, default=None,
                   help=f"fresh training sequences per epoch (default {d['train_sequences']})")
    p.add_argument("--val-sequences", type=int, default=None,
                   help=f"fixed validation sequences (default {d['val_sequences']})")
    p.add_argument("--seed", type=int, default=None, help=f"seed of the initialisation and the data (default {d['seed']})")
    p.add_argument("--p-larger-front", type=float, default=None,
                   help="leaves only: the stochastic occlusion rule, larger disk in front with this probability "
                        "(default: the larger disk is always in front)")
    p.add_argument("--contact-boost", type=int, default=None,
                   help="leaves, k >= 2: repeat the pairs predicted from the past to be a first contact of the two "
                        "disks this many times per epoch (default 1: no oversampling; chapter 6)")
    p.add_argument("--init", default=None,
                   help="start a new run from the weights of this checkpoint (a shipped name, a .pt file or a run "
                        "folder of the same architecture), with a fresh optimiser: fine-tuning")
    p.add_argument("--freeze-bn", action="store_const", const=True, default=None,
                   help="train with batch normalisation in eval mode (its running scales fixed): for fine-tuning "
                        "with --init, where small batches would otherwise re-estimate those scales noisily")
    p.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt if it exists (otherwise start a new run)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="minutes: stop cleanly after the epoch that would overrun this budget (resumable)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: automatic)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (worth it on GPU)")
    p.add_argument("--no-amp", action="store_true", help="full precision on CUDA (default: bf16/fp16 autocast)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="tqdm progress bar (default: when interactive)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch line")
    return p


def train_main(argv=None) -> int:
    """``python -m scoretutor train ...``; returns the exit status."""
    from .training import TrainConfig, TrainingDiverged, read_checkpoint, train, CHECKPOINT_NAME

    args = _train_parser().parse_args(argv)
    values = dict(_TRAIN_DEFAULTS)
    ckpt = Path(args.out) / CHECKPOINT_NAME
    if args.resume and ckpt.exists():
        saved = read_checkpoint(args.out)["config"]
        values.update({key: saved[key] for key in _TRAIN_DEFAULTS if key in saved})
    for key in _TRAIN_DEFAULTS:
        given = getattr(args, key)
        if given is not None:
            values[key] = given
    try:
        config = TrainConfig(
            **values, epochs=args.epochs, out=args.out, device=args.device, amp=not args.no_amp,
            compile=args.compile, time_limit=args.time_limit, threads=args.threads,
        )
        command = "python -m scoretutor train " + " ".join(sys.argv[2:] if argv is None else argv)
        result = train(config, resume=args.resume, command=command, progress=args.progress, verbose=not args.quiet)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    last = result["history"][-1] if result["history"] else None
    summary = f"stopped ({result['stopped']}) after epoch {result['epoch']} of {config.epochs}"
    if last:
        summary += f"; val loss {last['val_loss']:.5f}, val PSNR {last['val_psnr']:.2f} dB"
    if not args.quiet:
        print(summary)
    return 0


def _export_parser() -> argparse.ArgumentParser:
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


def export_main(argv=None) -> int:
    """``python -m scoretutor export RUN_DIR --name NAME``; returns the exit status."""
    import re

    import torch

    from .checkpoints import CHECKPOINT_DIR, card_markdown, save_pretrained
    from .files import atomic_write_text
    from .metrics import ACCEPTANCE_SIGMAS, denoising_table, format_table
    from .training import BEST_NAME, HELD_OUT_SEED, TrainConfig, make_source, read_checkpoint
    from .unet import UNet

    args = _export_parser().parse_args(argv)
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
    history = saved["history"]
    last = history[-1]
    card = {
        "command": list(saved.get("commands", [])),
        "commit": list(saved.get("commits", [])) or ["unknown (the run did not record it)"],
        "data": saved.get("data", config.data),
        "seed": config.seed,
        "epochs": int(saved["epoch"]),
        "selected": (f"epoch {int(saved['epoch'])} of the {int(read_checkpoint(args.run_dir)['epoch'])} run: "
                     + ("the lowest validation loss" if which == "best" else "the last one")),
        "batch_size": config.batch_size,
        "wall_time_s": round(float(saved.get("wall_time_s", 0.0)), 1),
        "hardware": list(saved.get("hardware", [])),
        "parameters": sum(p.numel() for p in model.parameters()),
        "stored_dtype": "float32" if args.fp32 else "float16",
        "final_metrics": {key: last[key] for key in ("train_loss", "val_loss", "val_psnr", "lr")},
        **({"parent": saved["parent"]} if saved.get("parent") else {}),
        "torch_version": saved.get("torch_version", torch.__version__),
    }
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
            rows = denoising_table(shipped, frames, sigmas=ACCEPTANCE_SIGMAS, seed=0)
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


def _evaluate_parser() -> argparse.ArgumentParser:
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


def evaluate_main(argv=None) -> int:
    """``python -m scoretutor evaluate NAME_OR_PATH``; returns the exit status."""
    from .checkpoints import load, resolve
    from .metrics import ACCEPTANCE_SIGMAS, denoising_table, format_table
    from .training import HELD_OUT_SEED, Davis32Source, LeavesSource

    args = _evaluate_parser().parse_args(argv)
    if args.sequences < 1:
        print("error: --sequences must be at least 1", file=sys.stderr)
        return 2
    try:
        model = load(resolve(args.checkpoint), device=args.device)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seed = HELD_OUT_SEED if args.data_seed is None else args.data_seed
    try:
        if args.data == "davis32":
            frames = Davis32Source().held_out_frames(args.sequences)
            what = f"{len(frames)} DAVIS32 test clips"
        else:
            frames = LeavesSource().held_out_frames(args.sequences, seed=seed)
            what = f"{args.sequences} held-out Moving Leaves sequences (seed {seed})"
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = denoising_table(model, frames, sigmas=args.sigmas or ACCEPTANCE_SIGMAS, seed=args.seed)
    c = model.config
    print(f"{args.checkpoint}: k={c['k']}, width={c['width']}, prediction_only={c['prediction_only']}; {what}")
    print(format_table(rows))
    return 0


COMMANDS = {"train": train_main, "export": export_main, "evaluate": evaluate_main}


def main(argv=None) -> int:
    """Dispatch ``python -m scoretutor COMMAND ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m scoretutor {train,export,evaluate} ...\n\n"
              "  train     train or resume a conditional bias-free U-net\n"
              "  export    turn a run into a shipped checkpoint with a model card\n"
              "  evaluate  print input/output PSNR per noise level on held-out sequences\n\n"
              "Each command has --help.")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return COMMANDS[command](rest)
