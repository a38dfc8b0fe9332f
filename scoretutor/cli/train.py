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

from ..atomic import DiskFullError
from ..run_record import RunFolderBusy, saved_config
from ..training import TrainConfig, TrainingDiverged, train
from . import Parser, fail, in_cli_terms

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
    p = Parser(
        prog="python -m scoretutor train",
        description=(
            "Train a conditional bias-free U-net as a blind universal denoiser of the next frame "
            "(sqrt(sigma) ~ U(0,1), Adam, learning rate halved on a validation plateau). Writes OUT/checkpoint.pt "
            "and OUT/log.csv after every epoch. With --resume the same command continues the run exactly "
            "(options left out are taken from the saved run; only --epochs, --time-limit, --threads, --device, "
            "--compile and --patience may differ from it). A run folder is used by one run at a time "
            "(OUT/run.lock); an interrupted run (Ctrl-C, kill, power cut) resumes from its last epoch."
        ),
    )
    _add_config_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt if it exists (otherwise start a new run)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar over each epoch's steps, with the loss (default: in a terminal or "
                        "notebook, never when SCORETUTOR_HEADLESS=1)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch line and no summary")
    return p


_OPTIONS = tuple(f.name for f in fields(TrainConfig))
#: library phrases that have no command-line spelling, and what the command line says instead
_PHRASES = (("pass root=, set", "set"), ("pass root=", "set $SCORETUTOR_DAVIS_ROOT"))


def main(argv=None) -> int:
    """``python -m scoretutor train ...``; returns the exit status."""
    args = parser().parse_args(argv)
    values = {f.name: f.default for f in fields(TrainConfig)}
    try:
        saved = saved_config(args.out) if args.resume else None
        if saved:
            values.update({key: value for key, value in saved.items()
                           if key in values and key not in TrainConfig.SESSION})
        values.update({f.name: getattr(args, f.name) for f in fields(TrainConfig)
                       if getattr(args, f.name, None) is not None})
        config = TrainConfig(**values)
        command = "python -m scoretutor train " + " ".join(sys.argv[2:] if argv is None else argv)
        result = train(config, resume=args.resume, command=command, progress=args.progress, verbose=not args.quiet)
    except (ValueError, FileNotFoundError, RunFolderBusy, DiskFullError) as exc:
        return fail(in_cli_terms(exc, _OPTIONS, _PHRASES))
    except TrainingDiverged as exc:
        return fail(exc, 3)
    except OSError as exc:  # permissions, a read-only disk, ...
        return fail(f"{exc.strerror or exc}: {exc.filename or args.out} (the last finished epoch's checkpoint "
                    "is intact; fix the cause and resume with --resume)")
    except KeyboardInterrupt:
        return fail(f"interrupted: {args.out} keeps the last finished epoch; continue with --resume", 130)
    last = result["history"][-1] if result["history"] else None
    summary = f"stopped ({result['stopped']}) after epoch {result['epoch']} of {config.epochs}"
    if last:
        summary += f"; val loss {last['val_loss']:.5f}, val PSNR {last['val_psnr']:.2f} dB"
    if not args.quiet:
        print(summary)
    return 0
