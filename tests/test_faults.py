"""Fault scenarios, each a few seconds with a width-4 network: kill -9 (SIGKILL from another process, or
planted in the run's own process) during an epoch and during each write of an epoch's files, a truncated checkpoint, two runs on one folder, a full disk (a real small
tmpfs where this machine lets us mount one, and a simulated ENOSPC everywhere).

Every scenario ends the same way: the run resumes (``train --resume``) and its log is bit for bit the
log of a run that was never interrupted, with no temporary file nor lock left behind.
"""
import csv
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from scoretutor.checkpoints import load
from scoretutor.cli import main
from scoretutor.run_record import BEST_NAME, CHECKPOINT_NAME, LOCK_NAME, LOG_NAME, read_checkpoint

ARGS = ["--width", "4", "--train-sequences", "3", "--val-sequences", "2", "--batch-size", "9", "--threads", "1",
        "--no-progress"]
EPOCHS = 3

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the faults are planted in forked processes")


def _plant(what: str, when: int) -> None:
    """In the child process: plant one fault (what, when) in the training code."""
    import io
    import tempfile

    import scoretutor.run_record as record
    import scoretutor.training as training

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if what == "slow":  # a live run that takes its time: `when` milliseconds per step
        real_step = training.Trainer.step

        def step(self, *a, **k):
            time.sleep(when / 1000)
            return real_step(self, *a, **k)

        training.Trainer.step = step
    elif what in (CHECKPOINT_NAME, BEST_NAME):  # kill -9 half-way through writing that file at epoch `when`
        real_save = torch.save

        def save(obj, f, *a, **k):
            name = os.path.basename(getattr(f, "name", str(f)))
            if name.startswith(f".{what}.") and isinstance(obj, dict) and obj.get("epoch") == when:
                buf = io.BytesIO()
                real_save(obj, buf)
                f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                f.flush()
                die()
            return real_save(obj, f, *a, **k)

        torch.save = save
    elif what == LOG_NAME:  # kill -9 half-way through writing the log of epoch `when`
        real_text = record.atomic_write_text

        def text(content, path):
            path = Path(path)
            if path.name == what and content.count("\n") - 1 == when:
                fd, _ = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                os.write(fd, content[: len(content) // 2].encode())
                die()
            return real_text(content, path)

        record.atomic_write_text = text


def _start(what: str, when: int, out: Path, *extra: str) -> int:
    """Fork a training run of ``out`` with a fault planted; returns the child's PID. (A fork, not a new
    interpreter: the child needs no second import of torch, so each scenario takes seconds.)"""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 99
        try:
            sys.stdout = sys.stderr = open(os.devnull, "w")
            _plant(what, when)
            status = main(["train", "--out", str(out), "--epochs", str(EPOCHS), *ARGS, "--quiet", *extra])
        finally:
            os._exit(status)
    return pid


def _wait(pid: int) -> int:
    """The child's exit status, or minus the signal that killed it."""
    _, code = os.waitpid(pid, 0)
    return -os.WTERMSIG(code) if os.WIFSIGNALED(code) else os.WEXITSTATUS(code)


def _log(run: Path) -> list[dict]:
    with open(run / LOG_NAME) as fh:
        return list(csv.DictReader(fh))


def _same_run(a: list[dict], b: list[dict]) -> bool:
    keys = ("epoch", "train_loss", "val_loss", "val_psnr", "lr")
    return [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]


def _leftovers(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp") or p.name == LOCK_NAME)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The log of the same run, never interrupted."""
    run = tmp_path_factory.mktemp("faults") / "reference"
    assert main(["train", "--out", str(run), "--epochs", str(EPOCHS), *ARGS, "--quiet"]) == 0
    return _log(run)


def _resume(run: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(run), "--epochs", str(EPOCHS), *ARGS]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_kill_during_an_epoch_resumes_exactly(tmp_path, reference, capsys):
    run = tmp_path / "run"
    pid = _start("slow", 100, run)  # 3 steps of 0.1 s an epoch
    deadline = time.monotonic() + 60
    while not (run / LOG_NAME).exists() and time.monotonic() < deadline:  # epoch 1 is written
        time.sleep(0.01)
    time.sleep(0.15)  # into epoch 2
    os.kill(pid, signal.SIGKILL)
    assert _wait(pid) == -signal.SIGKILL
    assert read_checkpoint(run)["epoch"] == 1 and (run / LOCK_NAME).exists()  # the dead run's stale lock
    out = _resume(run, capsys)
    assert "took over a stale lock of PID" in out and "resuming" in out
    assert _same_run(_log(run), reference) and _leftovers(run) == []


@pytest.mark.parametrize("target", [CHECKPOINT_NAME, BEST_NAME, LOG_NAME])
def test_kill_during_each_write_of_an_epoch(tmp_path, reference, capsys, target):
    run = tmp_path / "run"
    assert _wait(_start(target, 2, run)) == -signal.SIGKILL, "the planted kill did not happen"
    assert any(p.name.startswith(f".{target}.") for p in run.iterdir())  # its half-written temporary file
    saved = read_checkpoint(run)  # never half-written: the old or the new epoch, whole
    assert saved["epoch"] == (1 if target == CHECKPOINT_NAME else 2)
    if target == BEST_NAME:  # best.pt still holds epoch 1 although epoch 2 scored lower: the card must say so
        assert read_checkpoint(run, "best")["epoch"] == 1
        capsys.readouterr()
        assert main(["export", str(run), "--name", "after_kill", "--dest", str(tmp_path), "--eval-sequences", "0"]) == 0
        assert "best.pt holds epoch 1, but the last epoch, 2, has the lowest validation loss" in capsys.readouterr().out
        card = load(tmp_path / "after_kill.pt", with_card=True)[1]
        assert card["epochs"] == 2 and card["selected"] == "epoch 2 of the 2-epoch run: the lowest validation loss"
    out = _resume(run, capsys)
    assert "removed 1 half-written file(s) left by an interrupted write" in out
    if target == BEST_NAME:
        assert "rewrote best.pt (it held epoch 1; epoch 2 has the lowest validation loss)" in out
    assert _same_run(_log(run), reference) and _leftovers(run) == []


def test_truncated_checkpoint_resumes_from_the_intact_best(tmp_path, reference, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "2", *ARGS, "--quiet"]) == 0
    path = run / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:1000])
    best_epoch = read_checkpoint(run, "best")["epoch"]
    out = _resume(run, capsys)
    assert f"resuming from the intact best.pt instead (epoch {best_epoch}" in out
    assert (run / "checkpoint.pt.damaged").stat().st_size == 1000  # nothing thrown away
    assert _same_run(_log(run), reference) and _leftovers(run) == []


def test_two_runs_on_one_folder(tmp_path, reference, capsys):
    run = tmp_path / "run"
    first = _start("slow", 150, run)  # about 1.5 s in all
    deadline = time.monotonic() + 60
    lock = run / LOCK_NAME
    while not (lock.exists() and lock.stat().st_size) and time.monotonic() < deadline:  # its PID is written
        time.sleep(0.01)
    assert os.waitpid(first, os.WNOHANG) == (0, 0), "the first run ended before the second started"
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--epochs", str(EPOCHS), *ARGS]) == 2  # a second fresh run
    assert "is in use by another training run (PID" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(run), "--epochs", str(EPOCHS), *ARGS]) == 2  # or a resume
    assert f"PID {first} " in capsys.readouterr().err
    assert _wait(first) == 0
    assert _same_run(_log(run), reference) and _leftovers(run) == []  # the first run's files, all of them


def _fill_disk_at_second_checkpoint(monkeypatch):
    """torch.save raises ENOSPC from the second checkpoint.pt write on, as a full disk would."""
    real, calls = torch.save, []

    def save(obj, f, *a, **k):
        if os.path.basename(getattr(f, "name", "")).startswith(f".{CHECKPOINT_NAME}."):
            calls.append(obj.get("epoch"))
            if len(calls) >= 2:
                f.write(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)


def _check_full_disk_outcome(run: Path, err: str) -> None:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "is full" in err and "the checkpoint of epoch 2 was not written; the checkpoint of epoch 1 is intact" in err
    assert read_checkpoint(run)["epoch"] == 1 and not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_full_disk_simulated(tmp_path, reference, capsys, monkeypatch):
    run = tmp_path / "run"
    _fill_disk_at_second_checkpoint(monkeypatch)
    assert main(["train", "--out", str(run), "--epochs", str(EPOCHS), *ARGS, "--quiet"]) == 2
    _check_full_disk_outcome(run, capsys.readouterr().err)
    monkeypatch.undo()  # space freed
    _resume(run, capsys)
    assert _same_run(_log(run), reference) and _leftovers(run) == []


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def test_full_disk_on_a_small_tmpfs(tmp_path, reference, capsys):
    """A real full disk: a tmpfs just big enough for the first epoch's files (where mounting is allowed)."""
    size = _first_epoch_bytes(tmp_path / "probe")
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, f"{(size + 8192) // 1024}k"):
        pytest.skip("cannot mount a tmpfs here (needs root); test_full_disk_simulated covers the same path")
    try:
        run = disk / "run"
        assert main(["train", "--out", str(run), "--epochs", str(EPOCHS), *ARGS, "--quiet"]) == 2
        _check_full_disk_outcome(run, capsys.readouterr().err)
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True, timeout=10)  # space freed
        _resume(run, capsys)
        assert _same_run(_log(run), reference) and _leftovers(run) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=10)


def _first_epoch_bytes(run: Path) -> int:
    """What the first epoch writes (checkpoint.pt, best.pt, log.csv), rounded up to 4 KiB pages."""
    assert main(["train", "--out", str(run), "--epochs", "1", *ARGS, "--quiet"]) == 0
    total = sum(-(-p.stat().st_size // 4096) * 4096 for p in run.iterdir())
    shutil.rmtree(run)
    return total
