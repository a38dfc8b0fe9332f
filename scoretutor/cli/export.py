"""``python -m scoretutor export RUN_DIR --name NAME``: a training run as a checkpoint with its model
card (chapter 5).

The card is the run's own (:func:`scoretutor.cards.run_card`), completed with the epoch exported (and
what that epoch is: the lowest validation loss, or why not), the parameter count, the stored dtype and
a denoising table on held-out data (scored with the weights as shipped, float16 rounding included),
then rendered by :func:`scoretutor.cards.card_markdown`.

Exports go to your checkpoint folder (:func:`scoretutor.checkpoints.user_dir`), where
:func:`scoretutor.checkpoints.load_pretrained` finds them by name (a shipped checkpoint's name is
refused there: the shipped one would still be found first), or to the folder ``--dest`` names; an
existing file is replaced only with ``--force``, so the package's own checkpoints are never
overwritten unless that folder is named and ``--force`` given.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from . import Parser, fail, in_cli_terms

__all__ = ["parser", "main"]


def parser() -> Parser:
    p = Parser(
        prog="python -m scoretutor export",
        description="Turn a training run's checkpoint into a checkpoint NAME.pt with its model card NAME.md, "
                    "in your checkpoint folder ($SCORETUTOR_CHECKPOINTS, else $SCORETUTOR_DATA/checkpoints, "
                    "default ~/.cache/scoretutor/checkpoints), where load_pretrained('NAME') and "
                    "'evaluate NAME' find it.",
    )
    p.add_argument("run_dir", help="training run folder (holding checkpoint.pt, and best.pt)")
    p.add_argument("--which", choices=("best", "last"), default="best",
                   help="best: the epoch with the lowest validation loss (best.pt; default), last: the last "
                        "finished epoch (checkpoint.pt)")
    p.add_argument("--name", required=True, help="checkpoint name: letters, digits, '_', '-', '.' (e.g. my_leaves_k2)")
    p.add_argument("--dest", default=None,
                   help="destination folder (default: your checkpoint folder, see above; the package's own "
                        "scoretutor/checkpoints only when named here)")
    p.add_argument("--force", action="store_true", help="replace NAME.pt and NAME.md if they exist")
    p.add_argument("--fp32", action="store_true", help="store float32 weights (default float16, half the size)")
    p.add_argument("--eval-sequences", type=int, default=100,
                   help="held-out sequences for the card's denoising table (0: no table; default 100)")
    p.add_argument("--notes", default=None, help="free text for the card (e.g. 'CPU-sized model')")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar over the noise levels of the table (default: in a terminal)")
    return p


class _Refused(Exception):
    """An export that cannot go ahead; the message says why and what to do."""


def main(argv=None) -> int:
    """``python -m scoretutor export RUN_DIR --name NAME``; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return _export(args)
    except _Refused as exc:
        return fail(exc)
    except ValueError as exc:
        return fail(in_cli_terms(exc, replacements=(("pass root=, set", "set"),)))
    except OSError as exc:  # a full disk, no permission to write, ...
        return fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))


def _destination(args) -> Path:
    """The folder to write to, after the checks on ``--name``, ``--dest`` and ``--force``."""
    from ..checkpoints import CHECKPOINT_DIR, available, user_dir

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name) or args.name.startswith("."):
        raise _Refused(f"--name must use letters, digits, '_', '-', '.' (not first), got {args.name!r}")
    dest = Path(args.dest).expanduser() if args.dest else user_dir()
    if dest.exists() and not dest.is_dir():
        raise _Refused(f"--dest {dest} is a file, not a folder")
    in_package = dest.resolve() == CHECKPOINT_DIR.resolve()
    if args.name in available() and dest.resolve() == user_dir().resolve():
        raise _Refused(f"--name {args.name} is the name of a shipped checkpoint, which load_pretrained would "
                       "still find first: choose another name (or name another folder with --dest)")
    existing = [p for p in (dest / f"{args.name}.pt", dest / f"{args.name}.md") if p.exists()]
    if existing and not args.force:
        what = "a shipped checkpoint" if in_package else "an earlier export"
        raise _Refused(f"{existing[0]} exists ({what}): choose another --name, or pass --force to replace it")
    return dest


def _state(args):
    """``(saved state, selected text, notes)``: the run file to export and what it holds."""
    from ..run_record import BEST_NAME, CHECKPOINT_NAME, read_checkpoint

    run = Path(args.run_dir)
    if not run.exists():
        raise _Refused(f"no training run folder at {run}")
    if not run.is_dir():
        raise _Refused(f"{run} is a file, not a training run folder (one holds {CHECKPOINT_NAME}, {BEST_NAME}, log.csv)")
    last, last_problem = _try_read(read_checkpoint, run, "last")
    best, best_problem = _try_read(read_checkpoint, run, "best")
    if last is None and best is None:
        raise _Refused(f"nothing to export in {run}: {last_problem}; {best_problem}")
    if args.which == "last":
        if last is None:
            offer = f"; its {BEST_NAME} is intact (epoch {best['epoch']}): export it with --which best" if best else ""
            raise _Refused(f"{last_problem}{offer}")
        return last, _selected(last, last, "last"), []
    if best is None:
        why = "has no" if best_problem.startswith("no ") else f"has a damaged {BEST_NAME} ({best_problem}), so no"
        note = f"{run} {why} {BEST_NAME if why == 'has no' else 'best epoch'}; exporting its last epoch ({last['epoch']})"
        return last, _selected(last, last, "last"), [note]
    if last is not None and _lowest(last) == int(last["epoch"]) != int(best["epoch"]):
        note = (f"{BEST_NAME} holds epoch {best['epoch']}, but the last epoch, {last['epoch']}, has the lowest "
                f"validation loss ({BEST_NAME}'s write was interrupted): exporting {CHECKPOINT_NAME}")
        return last, _selected(last, last, "best"), [note]
    notes = [f"{last_problem}; exporting the intact {BEST_NAME}"] if last is None else []
    return best, _selected(best, last, "best"), notes


def _try_read(read, run: Path, which: str):
    try:
        return read(run, which, mention_other=False), None
    except (FileNotFoundError, ValueError) as exc:
        return None, str(exc)


def _lowest(state: dict) -> int | None:
    """The last epoch with the lowest validation loss in ``state``'s history (what best.pt should hold)."""
    history = state.get("history") or []
    best = None
    for row in history:
        if best is None or row["val_loss"] <= best["val_loss"]:
            best = row
    return int(best["epoch"]) if best else None


def _selected(state: dict, last: dict | None, which: str) -> str:
    """The card's ``selected`` field: which epoch of how long a run, and what that epoch is, truly."""
    epoch = int(state["epoch"])
    if last is None:
        return (f"epoch {epoch}: the lowest validation loss of epochs 1 to {epoch} (best.pt; the run's "
                "checkpoint.pt is damaged, so its later epochs, if any, are not known)")
    total = f"of the {int(last['epoch'])}-epoch run"
    if which == "last":
        lowest = _lowest(state)
        what = "the last one" + (", also the lowest validation loss" if lowest == epoch else "")
        return f"epoch {epoch} {total}: {what}"
    lowest = _lowest(last)
    if lowest == epoch:
        return f"epoch {epoch} {total}: the lowest validation loss"
    return (f"epoch {epoch} {total}: the lowest validation loss up to epoch {epoch} (best.pt as written; epoch "
            f"{lowest} scored lower, but its best.pt write was interrupted)")


def _export(args) -> int:
    from ..atomic import atomic_write_text
    from ..cards import card_markdown, run_card
    from ..checkpoints import save_pretrained
    from ..training import TrainConfig
    from ..unet import UNet

    if args.eval_sequences < 0:
        raise _Refused(f"--eval-sequences must be >= 0 (0: no denoising table), got {args.eval_sequences}")
    dest = _destination(args)
    saved, selected, notes = _state(args)
    for note in notes:
        print(f"note: {note}")
    config = TrainConfig.from_dict(saved["config"])
    model = UNet.from_config(saved["model_config"])
    try:
        model.load_state_dict(saved["model"])
    except (RuntimeError, TypeError) as exc:
        raise _Refused(f"the weights in {args.run_dir} do not fit the architecture they record: "
                       f"{str(exc).splitlines()[0]}") from None
    model.eval()
    card = run_card(saved)
    card["selected"] = selected
    card["parameters"] = sum(p.numel() for p in model.parameters())
    card["stored_dtype"] = "float32" if args.fp32 else "float16"
    if args.notes:
        card["notes"] = args.notes
    if args.eval_sequences > 0:
        _add_table(card, model, config, args)
    path = save_pretrained(model, dest / f"{args.name}.pt", card=card, half=not args.fp32)
    atomic_write_text(card_markdown(args.name, card, model.config), dest / f"{args.name}.md")
    size = path.stat().st_size / 1e6
    print(f"wrote {path} ({size:.2f} MB) and {dest / (args.name + '.md')}")
    return 0


def _add_table(card: dict, model, config, args) -> None:
    """Score the weights as shipped (float16 rounding included) on held-out data; print the table."""
    from ..data.sources import HELD_OUT_SEED, make_source
    from ..metrics import TABLE_SIGMAS, denoising_table, format_table
    from ..runtime import show_progress
    from ..unet import UNet

    source = make_source(config)
    if not hasattr(source, "held_out_frames"):
        return
    frames = source.held_out_frames(args.eval_sequences)
    shipped = UNet.from_config(model.config)
    shipped.load_state_dict({k: (v.half().float() if v.is_floating_point() and not args.fp32 else v)
                             for k, v in model.state_dict().items()})
    shipped.eval()
    show = show_progress() if args.progress is None else args.progress
    rows = denoising_table(shipped, frames, sigmas=TABLE_SIGMAS, seed=0, progress="denoising table" if show else None)
    card["denoising_table"] = rows
    held = (f"{len(frames)} clips of the DAVIS32 test split (sequences never used in training)"
            if config.data == "davis32" else
            f"{args.eval_sequences} held-out sequences (seed {HELD_OUT_SEED}, never used in training)")
    card["evaluation"] = f"{held}, all {frames.shape[1] - config.k} pairs per clip, noise seed 0."
    print(format_table(rows))
