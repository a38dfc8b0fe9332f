"""A training run's record of itself: its folder, exact resume, provenance, log and lineage.

Machinery of :func:`scoretutor.training.train` (chapter 5 teaches the loop; this module keeps the
books). A run folder holds:

* ``checkpoint.pt`` (:data:`CHECKPOINT_NAME`): the whole state after the last finished epoch, what
  ``--resume`` continues from;
* ``best.pt`` (:data:`BEST_NAME`): the same state at the epoch with the lowest validation loss so far;
* ``log.csv`` (:data:`LOG_NAME`): one row per epoch (:data:`LOG_FIELDS`);
* ``run.lock`` (:data:`LOCK_NAME`), while a run writes there: its PID (:class:`RunLock`), so that a
  second run on the same folder is refused.

Both ``.pt`` files are plain dicts that ``torch.load(..., weights_only=True)`` reads, tagged
``"format": TRAIN_FORMAT``, with the keys ``config`` (the :class:`~scoretutor.training.TrainConfig`
as a dict), ``model_config``, ``model``, ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (Python's,
NumPy's and torch's generator states), ``epoch``, ``history`` (the log's rows), ``wall_time_s``,
``commands``, ``hardware``, ``commits`` (provenance, one entry per distinct value over the run's
sessions), ``data`` (a line describing the data source), ``torch_version`` and ``parent`` (the
lineage of a fine-tuned run, :func:`scoretutor.cards.parent_record`). Every file is written
atomically (:mod:`scoretutor.atomic`), so an interrupted run loses at most the epoch in progress;
damaged files are named as such (:func:`load_torch_file`) and, where the other file is intact, worked
around (:meth:`RunRecord.open`).
"""
from __future__ import annotations

import csv
import io
import os
import pickle
import platform
import random
import re
import socket
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from .atomic import DiskFullError, atomic_save, atomic_write_text, remove_stale_temporaries

__all__ = [
    "TRAIN_FORMAT",
    "CHECKPOINT_NAME",
    "BEST_NAME",
    "LOG_NAME",
    "LOG_FIELDS",
    "LOCK_NAME",
    "load_torch_file",
    "read_checkpoint",
    "saved_config",
    "RunFolderBusy",
    "RunLock",
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
LOCK_NAME = "run.lock"  # held by the live run that writes the folder (see RunLock)
LOG_FIELDS = ("epoch", "train_loss", "val_loss", "val_psnr", "lr", "seconds")
_ZIP_MAGIC = b"PK\x03\x04"  # how every file that torch.save writes begins
_REQUIRED = ("config", "model_config", "model", "optimizer", "scheduler", "rng", "epoch", "history")


def load_torch_file(path, what: str = "checkpoint"):
    """``torch.load(path, weights_only=True)`` on the CPU, with a ValueError that says what is wrong
    with a file it cannot read: empty, not a file that ``torch.save`` writes, truncated or damaged,
    or holding Python objects that unpickling could run (refused). ``what`` names the file's role."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not a {what}: a write was interrupted or the file "
                         "was truncated")
    with open(path, "rb") as fh:
        head = fh.read(4)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if head != _ZIP_MAGIC:
            raise ValueError(f"{path} is not a {what}: its {size} bytes are not a file that torch.save "
                             "writes") from None
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        kind = f" ({found.group(1)})" if found else ""
        raise ValueError(f"{path} cannot be read safely: it holds Python objects other than tensors and "
                         f"plain values{kind}, and unpickling them could run arbitrary code; scoretutor "
                         "refuses it") from None
    except Exception:  # noqa: BLE001 - torch reports a damaged zip as RuntimeError, EOFError, ...
        if head != _ZIP_MAGIC:
            raise ValueError(f"{path} is not a {what}: its {size} bytes are not a file that torch.save "
                             "writes") from None
        raise ValueError(f"{path} is truncated or damaged ({size} bytes, an incomplete torch file): "
                         "its write was probably interrupted") from None


def read_checkpoint(run_dir, which: str = "last", *, mention_other: bool = True) -> dict:
    """Read a run folder's ``checkpoint.pt`` (``which="last"``, what resuming continues from) or
    ``best.pt`` (``which="best"``, the epoch with the lowest validation loss) as a dict (weights_only).

    A missing file is a FileNotFoundError; an empty, damaged or foreign one a ValueError that says
    which, and (``mention_other``) names the run's other file when that one is intact."""
    if which not in ("last", "best"):
        raise ValueError(f"which must be 'last' or 'best', got {which!r}")
    run_dir = Path(run_dir)
    path = run_dir / (CHECKPOINT_NAME if which == "last" else BEST_NAME)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{run_dir} is a file, not a training run folder")
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {path}")
    try:
        return _read_state(path)
    except ValueError as exc:
        other = "best" if which == "last" else "last"
        intact = _intact_epoch(run_dir, other) if mention_other else None
        if intact is None:
            raise
        name = BEST_NAME if other == "best" else CHECKPOINT_NAME
        raise ValueError(f"{exc}; {run_dir / name} is intact (epoch {intact})") from None


def _read_state(path: Path) -> dict:
    obj = load_torch_file(path, "training checkpoint")
    if not isinstance(obj, dict) or obj.get("format") != TRAIN_FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{path} is not a scoretutor training checkpoint (format {TRAIN_FORMAT!r}; "
                         f"it holds {found!r})")
    missing = [key for key in _REQUIRED if key not in obj]
    if missing:
        raise ValueError(f"{path} is an incomplete training checkpoint: it lacks {', '.join(missing)}")
    return obj


def _intact_epoch(run_dir: Path, which: str) -> int | None:
    """The epoch that the run's other file holds when it is intact, else None."""
    path = run_dir / (CHECKPOINT_NAME if which == "last" else BEST_NAME)
    try:
        return int(_read_state(path)["epoch"]) if path.is_file() else None
    except ValueError:
        return None


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


# --------------------------------------------------------------------------- the folder's lock


class RunFolderBusy(RuntimeError):
    """Another live process holds the run folder's lock: a second writer (or a resume) is refused."""


def _describe_owner(text: str) -> str:
    parts = text.split()
    if len(parts) >= 3:
        return f"PID {parts[0]} on {parts[1]}, since {parts[2]}"
    return f"PID {parts[0]}" if parts else "a process that left no PID"


class RunLock:
    """An advisory lock on a run folder: the file :data:`LOCK_NAME` holding the owner's PID, host and
    start time, locked with ``flock`` (``msvcrt.locking`` on Windows) for as long as the owner runs.

    The operating system drops that lock when its owner dies (even by ``kill -9``), so a lock file
    whose lock can be taken is stale: it is taken over, and :attr:`stale` names the previous owner.
    """

    def __init__(self, run_dir: Path, fd: int, stale: str | None):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = fd
        self.stale = stale

    @classmethod
    def acquire(cls, run_dir) -> "RunLock":
        """Take the lock of ``run_dir`` (an existing folder) or raise :class:`RunFolderBusy`."""
        path = Path(run_dir) / LOCK_NAME
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                owner = _read_fd(fd)
                os.close(fd)
                raise RunFolderBusy(
                    f"{run_dir} is in use by another training run ({_describe_owner(owner)}): a second run "
                    "(or a resume) there would mix the two runs' files. Wait for it to finish or stop it, "
                    "or choose another output folder (--out)")
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:  # its owner released it between our open and our lock
                same = False
            if same:
                break
            os.close(fd)
        previous = _read_fd(fd).strip()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {socket.gethostname()} {stamp}\n".encode())
        stale = _describe_owner(previous) if previous else None
        return cls(run_dir, fd, stale)

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _read_fd(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace")


def saved_config(run_dir) -> dict | None:
    """The training configuration saved in ``run_dir`` (from ``checkpoint.pt``, or from ``best.pt`` when
    that one is damaged), None when the folder holds no run; ValueError when neither file is readable."""
    run_dir = Path(run_dir)
    paths = [run_dir / CHECKPOINT_NAME, run_dir / BEST_NAME]
    if not any(p.is_file() for p in paths):
        return None
    problems = []
    for path in paths:
        try:
            return _read_state(path)["config"]
        except FileNotFoundError:
            problems.append(f"{path} is missing")
        except ValueError as exc:
            problems.append(str(exc))
    raise ValueError(f"cannot resume {run_dir}: {', and '.join(problems)}; start a fresh run folder (--out)")


def _best_epoch(history: list[dict]) -> int | None:
    """The epoch that ``best.pt`` should hold: the last one with the lowest validation loss."""
    best = None
    for row in history:
        if best is None or row["val_loss"] <= best["val_loss"]:
            best = row
    return int(best["epoch"]) if best else None


# --------------------------------------------------------------------------- the record


class RunRecord:
    """The books of one run: where it lives, what it has done, and how it was made.

    :meth:`open` takes the run folder's lock and starts a new run or reads the one to resume;
    :meth:`restore` puts a resumed run's weights, optimiser, schedule and random states back;
    :meth:`save_epoch` writes ``checkpoint.pt``, ``best.pt`` (when the epoch is the best so far) and
    ``log.csv`` after every epoch; :meth:`close` releases the lock (and removes the folder again if it
    made it and nothing was written). :attr:`notes` says what opening repaired.
    """

    def __init__(self, config, saved: dict | None, command: str, *, lock: RunLock | None = None,
                 created: bool = False, notes: list[str] | None = None):
        self.config = config
        self.run_dir = Path(config.out)
        self.saved = saved
        self.lock, self.created, self.notes = lock, created, list(notes or [])
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
        self.data_fields = dict(saved.get("data_fields") or {}) if saved else {}

    @classmethod
    def open(cls, config, *, resume: bool, command: str | None = None) -> "RunRecord":
        """The record of the run in ``config.out``: a fresh one, or, with ``resume=True`` and a
        ``checkpoint.pt`` there, the saved one, whose architecture and data fields must match ``config``
        (only ``config.RUNTIME`` fields may change). An existing run without ``resume`` is refused, and
        so is a folder that another live run holds (:class:`RunFolderBusy`).

        Opening takes the folder's lock, deletes the temporary files of interrupted writes, resumes from
        an intact ``best.pt`` when ``checkpoint.pt`` is damaged (keeping the damaged file as
        ``checkpoint.pt.damaged``), and rewrites a ``best.pt`` whose write was interrupted."""
        run_dir = Path(config.out)
        if run_dir.exists() and not run_dir.is_dir():
            raise ValueError(f"the run folder {run_dir} is an existing file, not a folder: choose another "
                             "output folder (--out)")
        created = not run_dir.exists()
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot make the run folder {run_dir}: {exc.strerror or exc}") from None
        try:
            lock = RunLock.acquire(run_dir)
        except BaseException:
            _remove_if_empty(run_dir, created)
            raise
        try:
            notes = [f"took over a stale lock of {lock.stale} (that process is gone)"] if lock.stale else []
            removed = remove_stale_temporaries(run_dir, (CHECKPOINT_NAME, BEST_NAME, LOG_NAME))
            if removed:
                notes.append(f"removed {len(removed)} half-written file(s) left by an interrupted write: "
                             + ", ".join(p.name for p in removed))
            saved = _saved_state(config, run_dir, resume, notes)
        except BaseException:
            lock.release()
            _remove_if_empty(run_dir, created)
            raise
        return cls(config, saved, command or " ".join(sys.argv), lock=lock, created=created, notes=notes)

    def close(self) -> None:
        """Release the folder's lock; remove the folder if this record made it and nothing was written."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        _remove_if_empty(self.run_dir, self.created)

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
            "data_fields": self.data_fields,
            "torch_version": str(torch.__version__),
            "parent": self.parent,
        }
        kept = self.history[-2]["epoch"] if len(self.history) > 1 else 0
        try:
            atomic_save(state, self.run_dir / CHECKPOINT_NAME)
        except DiskFullError as exc:
            self.history.pop()
            previous = f"the checkpoint of epoch {kept} is intact" if kept else "no checkpoint was written yet"
            raise DiskFullError(f"{exc.where}: the checkpoint of epoch {row['epoch']} was not written; "
                                f"{previous}. Free some space and resume (--resume)", exc.where) from None
        try:
            if row["val_loss"] <= min(r["val_loss"] for r in self.history):
                atomic_save(state, self.run_dir / BEST_NAME)
            write_log(self.run_dir / LOG_NAME, self.history)
        except DiskFullError as exc:
            raise DiskFullError(f"{exc.where}: the checkpoint of epoch {row['epoch']} is written, but not all "
                                "of best.pt and log.csv; resuming (--resume) rewrites them. Free some space "
                                "first", exc.where) from None


def _remove_if_empty(run_dir: Path, created: bool) -> None:
    """Remove ``run_dir`` if this session made it and it is (still) empty: a failed start leaves nothing."""
    if created:
        try:
            run_dir.rmdir()
        except OSError:
            pass


def _saved_state(config, run_dir: Path, resume: bool, notes: list[str]) -> dict | None:
    """The saved state to resume from (None for a new run), after the checks and repairs of
    :meth:`RunRecord.open`."""
    last, best = run_dir / CHECKPOINT_NAME, run_dir / BEST_NAME
    present = [p for p in (last, best) if p.exists()]
    if not present:
        return None
    if not resume:
        raise ValueError(f"{present[0]} exists: pass resume=True (--resume) to continue that run, "
                         "or choose another output folder")
    try:
        saved, problem = _read_state(last), None
    except FileNotFoundError:
        saved, problem = None, f"{last} is missing"
    except ValueError as exc:
        saved, problem = None, str(exc)
    if saved is None:
        try:
            saved = _read_state(best)
        except (FileNotFoundError, ValueError) as exc:
            why = f"{best} is missing" if isinstance(exc, FileNotFoundError) else str(exc)
            raise ValueError(f"cannot resume {run_dir}: {problem}, and {why}; start a fresh run folder "
                             "(--out)") from None
        if last.exists():
            os.replace(last, last.with_name(last.name + ".damaged"))
            problem += f" (kept as {last.name}.damaged)"
        notes.append(f"{problem}; resuming from the intact {BEST_NAME} instead (epoch {saved['epoch']}; "
                     "the epochs after it are trained again)")
    old = type(config).from_dict(saved["config"])
    diffs = [
        f"{f.name}: saved {getattr(old, f.name)!r}, given {getattr(config, f.name)!r}"
        for f in fields(config)
        if f.name not in config.RUNTIME and getattr(old, f.name) != getattr(config, f.name)
    ]
    if diffs:
        raise ValueError(f"cannot resume {run_dir}: the configuration differs from the saved run "
                         f"({'; '.join(diffs)})")
    _repair_best(saved, best, notes)
    return saved


def _repair_best(saved: dict, best: Path, notes: list[str]) -> None:
    """Rewrite ``best.pt`` from the saved state when that state is the best epoch but ``best.pt``
    (missing, damaged or older: its write was interrupted) does not hold it."""
    epoch = int(saved["epoch"])
    if _best_epoch(saved["history"]) != epoch:
        return
    try:
        held = int(_read_state(best)["epoch"])
    except (FileNotFoundError, ValueError):
        held = None
    if held != epoch:
        atomic_save(saved, best)
        what = f"held epoch {held}" if held is not None else "was missing or damaged"
        notes.append(f"rewrote {best.name} (it {what}; epoch {epoch} has the lowest validation loss)")
