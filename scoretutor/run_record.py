"""A training run's record of itself: its folder, exact resume, provenance, log and lineage.

Machinery of :func:`scoretutor.training.train` (chapter 5 teaches the loop; this module keeps the
books). A run folder holds:

* ``checkpoint.pt`` (:data:`CHECKPOINT_NAME`): the whole state after the last finished epoch, what
  ``--resume`` continues from;
* ``best.pt`` (:data:`BEST_NAME`): the same state at the epoch with the lowest validation loss so far;
* ``log.csv`` (:data:`LOG_NAME`): one row per epoch (:data:`LOG_FIELDS`).

Both ``.pt`` files are plain dicts that ``torch.load(..., weights_only=True)`` reads, tagged
``"format": TRAIN_FORMAT``, with the keys ``config`` (the :class:`~scoretutor.training.TrainConfig`
as a dict), ``model_config``, ``model``, ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (Python's,
NumPy's and torch's generator states), ``epoch``, ``history`` (the log's rows), ``wall_time_s``,
``commands``, ``hardware``, ``commits`` (provenance, one entry per distinct value over the run's
sessions), ``data`` (a line describing the data source), ``torch_version`` and ``parent`` (the
lineage of a fine-tuned run, :func:`scoretutor.cards.parent_record`). Every file is written
atomically (:mod:`scoretutor.atomic`), so an interrupted run loses at most the epoch in progress.
"""
from __future__ import annotations

import csv
import io
import os
import platform
import random
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_save, atomic_write_text

__all__ = [
    "TRAIN_FORMAT",
    "CHECKPOINT_NAME",
    "BEST_NAME",
    "LOG_NAME",
    "LOG_FIELDS",
    "read_checkpoint",
    "RunRecord",
    "git_commit",
    "hardware",
    "rng_state",
    "set_rng_state",
    "write_log",
    "diverged_message",
]

TRAIN_FORMAT = "scoretutor-train-v1"
CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"  # the state of the epoch with the lowest validation loss so far
LOG_NAME = "log.csv"
LOG_FIELDS = ("epoch", "train_loss", "val_loss", "val_psnr", "lr", "seconds")


def read_checkpoint(run_dir, which: str = "last") -> dict:
    """Read a run folder's ``checkpoint.pt`` (``which="last"``, what resuming continues from) or
    ``best.pt`` (``which="best"``, the epoch with the lowest validation loss) as a dict (weights_only)."""
    if which not in ("last", "best"):
        raise ValueError(f"which must be 'last' or 'best', got {which!r}")
    path = Path(run_dir) / (CHECKPOINT_NAME if which == "last" else BEST_NAME)
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} cannot be read as a scoretutor training checkpoint: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("format") != TRAIN_FORMAT:
        raise ValueError(f"{path} is not a scoretutor training checkpoint (format {TRAIN_FORMAT!r})")
    return obj


# --------------------------------------------------------------------------- provenance


def git_commit() -> str:
    """The code's git commit (``HEAD``, with ``+dirty`` when tracked files differ from it). Outside a
    git checkout (a copy of the tree sent to a GPU machine): ``$SCORETUTOR_COMMIT`` if set, marked as
    such, else ``"unknown"``."""
    outside = os.environ.get("SCORETUTOR_COMMIT")
    outside = f"{outside} (from $SCORETUTOR_COMMIT)" if outside else "unknown"

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=here)
        if head.returncode != 0 or not head.stdout.strip():
            return outside
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, cwd=here)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return outside


def hardware(device: torch.device) -> str:
    """One line naming the device, its thread count on a CPU, and the torch version."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA), torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    threads = torch.get_num_threads()
    return f"CPU {cpu}, {threads} thread{'' if threads == 1 else 's'}, torch {torch.__version__}"


# --------------------------------------------------------------------------- random states


def rng_state() -> dict:
    """Python's, NumPy's (legacy global) and torch's generator states, as tensors and plain values
    that ``torch.load(..., weights_only=True)`` reads back."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the generator states that :func:`rng_state` returned."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state({
        "bit_generator": n["bit_generator"],
        "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
        "has_gauss": n["has_gauss"],
        "gauss": n["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- log and messages


def write_log(path: Path, history: list[dict]) -> None:
    """Write the epochs' rows as ``log.csv`` (:data:`LOG_FIELDS`), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({key: row[key] for key in LOG_FIELDS})
    atomic_write_text(buf.getvalue(), path)


def diverged_message(epoch, step, steps, value, lr, batch_size, amp_dtype, last_epoch) -> str:
    """What to say when the loss became NaN or infinite: where, what is kept, and what to try."""
    kept = f"the checkpoint of epoch {last_epoch} is kept" if last_epoch else "no checkpoint was written"
    tips = [f"a lower learning rate (e.g. --lr {lr / 4:g})", f"a smaller batch size than {batch_size}"]
    if amp_dtype is not None:
        tips.append("full precision (--no-amp)")
    return (
        f"training stopped: the loss became {value} at epoch {epoch}, step {step} of {steps}; {kept}. "
        f"Try {', or '.join(tips)}, then resume (--resume) or start a fresh run folder."
    )


# --------------------------------------------------------------------------- the record


class RunRecord:
    """The books of one run: where it lives, what it has done, and how it was made.

    :meth:`open` starts a new run or reads the one to resume; :meth:`restore` puts a resumed run's
    weights, optimiser, schedule and random states back; :meth:`save_epoch` writes ``checkpoint.pt``,
    ``best.pt`` (when the epoch is the best so far) and ``log.csv`` after every epoch.
    """

    def __init__(self, config, saved: dict | None, command: str):
        self.config = config
        self.run_dir = Path(config.out)
        self.saved = saved
        self.history: list[dict] = list(saved["history"]) if saved else []
        self.wall_before = float(saved.get("wall_time_s", 0.0)) if saved else 0.0
        self.parent = saved.get("parent") if saved else None
        self.commands = list(saved.get("commands", [])) if saved else []
        self.hardware = list(saved.get("hardware", [])) if saved else []
        self.commits = list(saved.get("commits", [])) if saved else []
        self.commands.append(command)
        commit = git_commit()
        if commit not in self.commits:
            self.commits.append(commit)
        self.data = None

    @classmethod
    def open(cls, config, *, resume: bool, command: str | None = None) -> "RunRecord":
        """The record of the run in ``config.out``: a fresh one, or, with ``resume=True`` and a
        ``checkpoint.pt`` there, the saved one, whose architecture and data fields must match ``config``
        (only ``config.RUNTIME`` fields may change). An existing run without ``resume`` is refused."""
        run_dir = Path(config.out)
        saved = None
        if (run_dir / CHECKPOINT_NAME).exists():
            if not resume:
                raise ValueError(
                    f"{run_dir / CHECKPOINT_NAME} exists: pass resume=True (--resume) to continue that run, "
                    "or choose another output folder"
                )
            saved = read_checkpoint(run_dir)
            old = type(config).from_dict(saved["config"])
            diffs = [
                f"{f.name}: saved {getattr(old, f.name)!r}, given {getattr(config, f.name)!r}"
                for f in fields(config)
                if f.name not in config.RUNTIME and getattr(old, f.name) != getattr(config, f.name)
            ]
            if diffs:
                raise ValueError(f"cannot resume {run_dir}: the configuration differs from the saved run "
                                 f"({'; '.join(diffs)})")
        run_dir.mkdir(parents=True, exist_ok=True)
        return cls(config, saved, command or " ".join(sys.argv))

    @property
    def epoch(self) -> int:
        """Epochs finished so far (0 for a new run)."""
        return int(self.saved["epoch"]) if self.saved else 0

    def note_device(self, device: torch.device) -> None:
        """Add the device this session trains on to the run's hardware list."""
        line = hardware(device)
        if line not in self.hardware:
            self.hardware.append(line)

    def restore(self, model, optimizer, scheduler, scaler, *, patience: int) -> None:
        """Put a resumed run's weights, optimiser, schedule, gradient scaler and random states back
        (nothing for a new run). ``patience``: the one schedule setting a resumed run may change."""
        saved = self.saved
        if saved is None:
            return
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scheduler.patience = patience
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        set_rng_state(saved["rng"])

    def save_epoch(self, row: dict, model, optimizer, scheduler, scaler, elapsed: float) -> None:
        """Append ``row`` (:data:`LOG_FIELDS`) to the history and write the run's files for it."""
        self.history.append(row)
        state = {
            "format": TRAIN_FORMAT,
            "config": self.config.to_dict(),
            "model_config": model.config,
            "model": {key: v.detach().to("cpu") for key, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else {},
            "rng": rng_state(),
            "epoch": row["epoch"],
            "history": self.history,
            "wall_time_s": self.wall_before + elapsed,
            "commands": self.commands,
            "hardware": self.hardware,
            "commits": self.commits,
            "data": self.data,
            "torch_version": str(torch.__version__),
            "parent": self.parent,
        }
        atomic_save(state, self.run_dir / CHECKPOINT_NAME)
        if row["val_loss"] <= min(r["val_loss"] for r in self.history):
            atomic_save(state, self.run_dir / BEST_NAME)
        write_log(self.run_dir / LOG_NAME, self.history)
