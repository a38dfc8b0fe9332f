"""``python -m scoretutor train``: train (or resume) a conditional bias-free U-net (chapter 5).

The options and their defaults come from the fields of :class:`scoretutor.training.TrainConfig`
(its ``metadata["help"]``), so the command line and the library cannot disagree. With ``--resume``
the options left out are read from the saved run, except this session's settings
(``TrainConfig.SESSION``).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from ..run_record import CHECKPOINT_NAME, read_checkpoint
from ..training import TrainConfig, TrainingDiverged, train

__all__ = ["parser", "main"]

_TYPES = {"int": int, "float": float, "str": str}


def _add_config_options(p: argparse.ArgumentParser) -> None:
    """One option per :class:`TrainConfig` field (``--out`` required; ``channels_last`` only in the
    library), each defaulting to None so that ``--resume`` can tell what was given."""
    for f in fields(TrainConfig):
        if f.name == "channels_last":
            continue
        flag, help_ = "--" + f.name.replace("_", "-"), f.metadata["help"]
        kind = f.type.split("|")[0].strip()
        if f.name == "out":
            p.add_argument(flag, required=True, help=help_)
        elif kind == "bool" and f.default is True:
            p.add_argument(f"--no-{flag[2:]}", dest=f.name, action="store_const", const=False, default=None,
                           help=f"turn off: {help_}")
        elif kind == "bool":
            p.add_argument(flag, action="store_const", const=True, default=None, help=help_)
        else:
            default = "" if f.default in (None, MISSING) else f" (default {f.default:g})" \
                if isinstance(f.default, float) else f" (default {f.default})"
            p.add_argument(flag, type=_TYPES[kind], choices=f.metadata.get("choices"), default=None,
                           help=help_ + default)


def parser() -> argparse.ArgumentParser:
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
    _add_config_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt if it exists (otherwise start a new run)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="tqdm progress bar (default: when interactive)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch line")
    return p


def main(argv=None) -> int:
    """``python -m scoretutor train ...``; returns the exit status."""
    args = parser().parse_args(argv)
    values = {f.name: f.default for f in fields(TrainConfig)}
    if args.resume and (Path(args.out) / CHECKPOINT_NAME).exists():
        saved = read_checkpoint(args.out)["config"]
        values.update({key: value for key, value in saved.items() if key in values and key not in TrainConfig.SESSION})
    values.update({f.name: getattr(args, f.name) for f in fields(TrainConfig)
                   if getattr(args, f.name, None) is not None})
    try:
        config = TrainConfig(**values)
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
