"""The catalogue of bad inputs: each row is one thing a user (or an adversary) may give the library or
the command line, with the message it must produce. A regression is one failing row.

Command-line rows must end with exactly one ``error: ...`` line on stderr, a non-zero status, no
traceback and not the dispatcher's last-resort "failed unexpectedly" message; library rows name the
exception and a pattern of its message. ``{run}`` is a tiny trained run folder, ``{file}`` an existing
plain file, ``{tmp}`` a fresh temporary folder, ``{dup}`` a DAVIS folder with two files for one frame.
"""
import io
import os
import shutil
import zipfile
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from scoretutor import checkpoints, checks
from scoretutor.atomic import DiskFullError, atomic_save
from scoretutor.cli import main as cli_main
from scoretutor.data import download
from scoretutor.data.probes import blend_coefficient, collision_probes, read_occlusion
from scoretutor.data.sources import LeavesSource
from scoretutor.exercises import verify
from scoretutor.run_record import RunFolderBusy, RunLock, RunRecord, read_checkpoint
from scoretutor.training import TrainConfig, train
from scoretutor.unet import BiasFreeBatchNorm2d, UNet, stack_inputs

TINY = dict(k=2, width=4, train_sequences=6, val_sequences=3, batch_size=9)
NO_GPU = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished run (2 epochs of a width-4 network on 16x16 Moving Leaves): read, never written."""
    out = tmp_path_factory.mktemp("catalogue") / "run"
    train(TrainConfig(**TINY, epochs=2, out=str(out)), source=LeavesSource(0, 6, 3, size=16, radius_range=(1.5, 4.0)),
          progress=False)
    return out


@pytest.fixture
def places(trained, tmp_path, monkeypatch):
    """Fresh copies for one row: the run folder, a file, an empty folder, a DAVIS folder with a duplicate."""
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (tmp_path / "file.txt").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    dup = tmp_path / "DAVIS" / "JPEGImages" / "480p" / "bear"
    dup.mkdir(parents=True)
    for name in ("00000.jpg", "00001.jpg", "00002.jpg", "00003.jpg", "3.jpg"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(dup / name)
    monkeypatch.delenv("SCORETUTOR_DAVIS_ROOT", raising=False)
    monkeypatch.setenv("SCORETUTOR_DATA", str(tmp_path / "data"))
    return {"run": run, "file": tmp_path / "file.txt", "tmp": tmp_path / "empty", "dup": tmp_path / "DAVIS",
            "base": tmp_path}


def _damage(run, how: str) -> None:
    """Damage ``run/checkpoint.pt`` (and with ``both_*``, ``best.pt`` too)."""
    targets = ["checkpoint.pt", "best.pt"] if how.startswith("both_") else ["checkpoint.pt"]
    for name in targets:
        path = run / name
        data = path.read_bytes()
        kind = how.removeprefix("both_").removesuffix("_only")
        if kind == "truncated":
            path.write_bytes(data[: len(data) // 2])
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "random":
            path.write_bytes(os.urandom(4000))
        elif kind == "foreign":
            torch.save({"format": "someone-else-v3", "weights": torch.zeros(3)}, path)
    if how.endswith("_only"):
        (run / "best.pt").unlink()


TRAIN = ["train", "--width", "4", "--train-sequences", "3", "--val-sequences", "2", "--batch-size", "9",
         "--epochs", "1", "--no-progress", "--quiet"]

#: (row id, argv with {placeholders}, damage to the run folder first or None, stderr pattern)
CLI_ROWS = [
    ("train --device foo", [*TRAIN, "--out", "{tmp}/r", "--device", "foo"], None,
     r"--device must be cpu, cuda, cuda:N or mps, got 'foo'"),
    ("train --out is a file", [*TRAIN, "--out", "{file}"], None, r"is an existing file, not a folder.*--out"),
    ("train --out below a file", [*TRAIN, "--out", "{file}/sub"], None, r"cannot make the run folder"),
    ("train --out ''", [*TRAIN, "--out", ""], None, r"--out must be a run folder's path"),
    ("train --k 11", [*TRAIN, "--out", "{tmp}/r", "--k", "11"], None,
     r"--k must be <= 10 for 11-frame sequences"),
    ("train --k -1", [*TRAIN, "--out", "{tmp}/r", "--k", "-1"], None, r"--k must be an integer >= 0, got -1"),
    ("train --epochs 0", [*TRAIN, "--out", "{tmp}/r", "--epochs", "0"], None, r"--epochs must be an integer >= 1"),
    ("train --epochs x", [*TRAIN, "--out", "{tmp}/r", "--epochs", "x"], None,
     r"argument --epochs: invalid int value: 'x' \(see python -m scoretutor train --help\)"),
    ("train --batch-size 0", [*TRAIN, "--out", "{tmp}/r", "--batch-size", "0"], None,
     r"--batch-size must be an integer >= 1"),
    ("train --batch-size too large", [*TRAIN, "--out", "{tmp}/r", "--batch-size", "1000"], None,
     r"--batch-size 1000 exceeds the 27 training pairs"),
    ("train --lr -1", [*TRAIN, "--out", "{tmp}/r", "--lr", "-1"], None, r"--lr must be > 0, got -1"),
    ("train --lr nan", [*TRAIN, "--out", "{tmp}/r", "--lr", "nan"], None, r"--lr must be a number > 0, got nan"),
    ("train --time-limit 0", [*TRAIN, "--out", "{tmp}/r", "--time-limit", "0"], None, r"--time-limit must be > 0"),
    ("train --threads 0", [*TRAIN, "--out", "{tmp}/r", "--threads", "0"], None, r"--threads must be an integer >= 1"),
    ("train --data imagenet", [*TRAIN, "--out", "{tmp}/r", "--data", "imagenet"], None,
     r"argument --data: invalid choice"),
    ("train --prediction-only --k 0", [*TRAIN, "--out", "{tmp}/r", "--prediction-only", "--k", "0"], None,
     r"--prediction-only needs k >= 1"),
    ("train --p-larger-front 1.5", [*TRAIN, "--out", "{tmp}/r", "--p-larger-front", "1.5"], None,
     r"--p-larger-front must be a probability in \[0, 1\], got 1.5"),
    ("train --p-larger-front on davis32", [*TRAIN, "--out", "{tmp}/r", "--data", "davis32", "--p-larger-front", "0.5"],
     None, r"--p-larger-front only applies to --data 'leaves'"),
    ("train --contact-boost with k 1", [*TRAIN, "--out", "{tmp}/r", "--contact-boost", "3", "--k", "1"], None,
     r"needs k >= 2 past frames"),
    ("train --init unknown", [*TRAIN, "--out", "{tmp}/r", "--init", "no_such_model"], None,
     r"unknown checkpoint 'no_such_model'.*Available: davis_k0"),
    ("train --init with the wrong width", [*TRAIN, "--out", "{tmp}/r", "--init", "leaves_k2_w32_base", "--width", "64"],
     None, r"has architecture \(width 32\), but this run asks for \(width 64\): give the same architecture \(--width 32\)"),
    ("train --data davis32 without DAVIS", [*TRAIN, "--out", "{tmp}/r", "--data", "davis32"], None,
     r"^error: no DAVIS folder configured: set \$SCORETUTOR_DAVIS_ROOT"),
    ("train on an existing run without --resume", [*TRAIN, "--out", "{run}"], None,
     r"checkpoint.pt exists: pass --resume to continue that run"),
    ("train --resume with another width", [*TRAIN, "--out", "{run}", "--resume", "--width", "8"], None,
     r"width: saved 4, given 8"),
    ("train --resume, both files truncated", [*TRAIN, "--out", "{run}", "--resume"], "both_truncated",
     r"cannot resume .*checkpoint.pt is truncated or damaged .*best.pt is truncated or damaged.*start a fresh run"),
    ("train --resume, zero-byte checkpoint, no best.pt", [*TRAIN, "--out", "{run}", "--resume"], "empty_only",
     r"checkpoint.pt is empty \(0 bytes\), not a training checkpoint"),
    ("train --resume, random bytes, no best.pt", [*TRAIN, "--out", "{run}", "--resume"], "random_only",
     r"checkpoint.pt is not a training checkpoint: its 4000 bytes are not a file that torch.save writes"),
    ("train --resume, a foreign torch file, no best.pt", [*TRAIN, "--out", "{run}", "--resume"], "foreign_only",
     r"is not a scoretutor training checkpoint \(format 'scoretutor-train-v1'; it holds 'someone-else-v3'\)"),
    ("train --resume while the run is live", [*TRAIN, "--out", "{run}", "--resume"], "locked",
     r"is in use by another training run \(PID \d+ on .*\).*choose another output folder \(--out\)"),
    ("export a folder that does not exist", ["export", "{tmp}/nowhere", "--name", "x"], None,
     r"no training run folder at"),
    ("export a file", ["export", "{file}", "--name", "x"], None, r"is a file, not a training run folder"),
    ("export an empty folder", ["export", "{tmp}", "--name", "x"], None,
     r"nothing to export in .*no training checkpoint at .*checkpoint.pt; no training checkpoint at .*best.pt"),
    ("export --eval-sequences -5", ["export", "{run}", "--name", "x", "--eval-sequences", "-5"], None,
     r"--eval-sequences must be >= 0 \(0: no denoising table\), got -5"),
    ("export --dest a file", ["export", "{run}", "--name", "x", "--dest", "{file}"], None,
     r"--dest .*file.txt is a file, not a folder"),
    ("export --name with a space", ["export", "{run}", "--name", "bad name"], None, r"--name must use letters"),
    ("export --name hidden", ["export", "{run}", "--name", ".x"], None, r"--name must use letters"),
    ("export --name of a shipped checkpoint", ["export", "{run}", "--name", "leaves_k2", "--eval-sequences", "0"],
     None, r"--name leaves_k2 is the name of a shipped checkpoint"),
    ("export an existing name without --force", ["export", "{run}", "--name", "twice", "--eval-sequences", "0"],
     "exported", r"twice.pt exists \(an earlier export\): choose another --name, or pass --force"),
    ("export --which last, checkpoint.pt truncated", ["export", "{run}", "--name", "x", "--which", "last"],
     "truncated", r"checkpoint.pt is truncated or damaged.*best.pt is intact \(epoch 2\).*--which best"),
    ("export, both files damaged", ["export", "{run}", "--name", "x"], "both_random",
     r"nothing to export in .*not a training checkpoint.*not a training checkpoint"),
    ("evaluate --sigmas -1", ["evaluate", "leaves_k0", "--sigmas", "-1"], None,
     r"--sigmas must be finite noise levels >= 0, got -1.0"),
    ("evaluate --sigmas nan", ["evaluate", "leaves_k0", "--sigmas", "nan"], None,
     r"--sigmas must be finite noise levels >= 0, got nan"),
    ("evaluate --device foo", ["evaluate", "leaves_k0", "--device", "foo"], None, r"device must be cpu, cuda"),
    pytest.param("evaluate --device cuda without a GPU", ["evaluate", "leaves_k0", "--device", "cuda"], None,
                 r"'cuda' was asked for, but this machine has no CUDA GPU",
                 marks=pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")),
    ("evaluate an unknown name", ["evaluate", "no_such_checkpoint"], None, r"Available: davis_k0"),
    ("evaluate a truncated run", ["evaluate", "{run}"], "both_truncated", r"checkpoint.pt is truncated or damaged"),
    ("evaluate --split nope", ["evaluate", "davis_k2", "--split", "nope"], None,
     r"argument --split: invalid choice: 'nope' \(choose from '?test'?, '?train'?, '?all'?, '?held-out'?\)"),
    ("evaluate --split train on a leaves checkpoint", ["evaluate", "leaves_k0", "--split", "train"], None,
     r"--split train applies to DAVIS32 checkpoints; leaves_k0 was trained on Moving Leaves"),
    ("evaluate --root on a leaves checkpoint", ["evaluate", "leaves_k0", "--root", "{tmp}"], None,
     r"--root applies to DAVIS32 checkpoints"),
    ("evaluate --root nowhere", ["evaluate", "davis_k2", "--root", "{tmp}/nowhere"], None, r"is not a folder"),
    ("evaluate --root without JPEGImages", ["evaluate", "davis_k2", "--root", "{tmp}"], None,
     r"has no JPEGImages/480p folder"),
    ("evaluate a DAVIS checkpoint with no DAVIS configured", ["evaluate", "davis_k2"], None,
     r"^error: no DAVIS folder configured: pass --root, set \$SCORETUTOR_DAVIS_ROOT"),
    ("evaluate --split held-out with no DAVIS configured", ["evaluate", "davis_k2", "--split", "held-out"], None,
     r"^error: no DAVIS folder configured: pass --root, set \$SCORETUTOR_DAVIS_ROOT"),
    ("evaluate --data leaves on a DAVIS checkpoint", ["evaluate", "davis_k2", "--data", "leaves"], None,
     r"davis_k2 was trained on davis32 \(its card says so\), not on --data leaves"),
    ("evaluate two checkpoints without --common-target", ["evaluate", "davis_k1", "davis_k2"], None,
     r"several checkpoints are compared on common targets only: add --common-target"),
    ("evaluate a DAVIS and a leaves checkpoint together", ["evaluate", "davis_k2", "leaves_k2", "--common-target"],
     None, r"trained on different data \(davis_k2: davis32, leaves_k2: leaves\)"),
    ("evaluate --sequences 0", ["evaluate", "leaves_k0", "--sequences", "0"], None, r"--sequences must be at least 1"),
    ("download --url http", ["download", "--dest", "{tmp}", "--url", "http://127.0.0.1:9/a.zip"], None,
     r"url must start with https://, got 'http://127.0.0.1:9/a.zip'; http:// only when asked for \(--allow-insecure\)"),
    ("download --url file", ["download", "--dest", "{tmp}", "--url", "file:///etc/passwd"], None,
     r"url must start with https://, got 'file:///etc/passwd'"),
    ("download --url ftp, even --allow-insecure", ["download", "--dest", "{tmp}", "--url", "ftp://x/a.zip",
                                                   "--allow-insecure"], None,
     r"url must start with https:// or http:// or file://"),
    ("download --sha256 abc", ["download", "--dest", "{tmp}", "--sha256", "abc"], None,
     r"sha256 must be 64 hexadecimal digits, got 'abc'"),
    ("download --size -1", ["download", "--dest", "{tmp}", "--size", "-1"], None, r"size must be an integer >= 0"),
    ("download --dest a file", ["download", "--dest", "{file}"], None, r"is a file, not a folder"),
    ("download --retry-wait -1", ["download", "--retry-wait", "-1"], None, r"--retry-wait must be a number of seconds"),
    ("davis --root nowhere", ["davis", "--root", "{tmp}/nowhere"], None, r"is not a folder"),
    ("davis with no DAVIS configured", ["davis"], None, r"^error: no DAVIS folder configured: pass --root, set"),
    ("davis --stride 0", ["davis", "--root", "{dup}", "--stride", "0"], None, r"--stride must be an integer >= 1"),
    ("davis: two files for one frame", ["davis", "--root", "{dup}"], None,
     r"sequence 'bear': '00003.jpg' and '3.jpg' are both frame 3; keep one of them"),
    ("check-exercises: no such notebook", ["check-exercises", "{tmp}/no.ipynb"], None, r"no notebook at"),
    ("check-exercises: not a notebook", ["check-exercises", "{file}"], None, r"is not a readable Jupyter notebook"),
    ("unknown command", ["fly"], None, r"unknown command 'fly'; choose one of train"),
]


def _fill(argv, places):
    return [a.format(**{k: str(v) for k, v in places.items()}) for a in argv]


def _ids(rows):
    return [r.values[0] if hasattr(r, "marks") else r[0] for r in rows]


@pytest.mark.parametrize("row, argv, damage, pattern", CLI_ROWS, ids=_ids(CLI_ROWS))
def test_command_line_row(row, argv, damage, pattern, places, capsys):
    run = places["run"]
    lock = None
    if damage == "locked":
        lock = RunLock.acquire(run)
    elif damage == "exported":
        assert cli_main(["export", str(run), "--name", "twice", "--eval-sequences", "0"]) == 0
    elif damage:
        _damage(run, damage)
    capsys.readouterr()
    try:
        status = cli_main(_fill(argv, places))
    except SystemExit as exc:  # argparse's own errors exit
        status = exc.code
    finally:
        if lock is not None:
            lock.release()
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status != 0, f"{row}: exit status 0"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{row}: stderr is not one error line: {err!r}"
    assert "Traceback" not in err + out and "failed unexpectedly" not in err
    assert "root=" not in err, f"{row}: a library argument in a command-line message"
    import re

    assert re.search(pattern, lines[0]), f"{row}: {lines[0]!r} does not match {pattern!r}"
    if row.startswith("export a folder that does not exist"):
        assert "best.pt" not in out  # no misleading note before the error
    if row.startswith("train") and "{tmp}/r" in argv:
        assert not (places["tmp"] / "r").exists(), f"{row}: a failed start left its run folder behind"


# --------------------------------------------------------------------------- library rows


def _model(k=2, width=4):
    torch.manual_seed(0)
    return UNet(k=k, width=width).eval()


def _saved(tmp_path, obj, name="x.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _raw(tmp_path, data: bytes, name="x.pt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _good_bytes(tmp_path):
    path = tmp_path / "good.pt"
    checkpoints.save_pretrained(_model(), path, card={})
    return path.read_bytes()


def _bn_empty():
    layer = BiasFreeBatchNorm2d(4).train()
    layer(torch.zeros(0, 4, 8, 8))


def _unet_empty():
    UNet(k=2, width=4).train()(torch.zeros(0, 3, 8, 8))


def _full_disk(tmp_path):
    import errno

    def write(obj, fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    atomic_save({"a": 1}, tmp_path / "old.pt")
    original = torch.save
    torch.save = write
    try:
        atomic_save({"a": 2}, tmp_path / "old.pt")
    finally:
        torch.save = original


def _zip(tmp_path, members: int, size: int):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(members):
            zf.writestr(f"DAVIS/JPEGImages/480p/a/{i:05d}.jpg", b"x" * size)
    return path


def _probes():
    return collision_probes(3, 0.8, seed=0)


def _busy(tmp_path):
    (tmp_path / "busy").mkdir()
    held = RunLock.acquire(tmp_path / "busy")
    try:
        RunRecord.open(TrainConfig(**TINY, out=str(tmp_path / "busy")), resume=True)
    finally:
        held.release()


#: (row id, a function of tmp_path that must raise, the exception type, its message pattern)
def _env_device(value):
    from scoretutor import runtime

    old = os.environ.get("SCORETUTOR_DEVICE")
    os.environ["SCORETUTOR_DEVICE"] = value
    try:
        return runtime.get_device()
    finally:
        if old is None:
            del os.environ["SCORETUTOR_DEVICE"]
        else:
            os.environ["SCORETUTOR_DEVICE"] = old


LIB_ROWS = [
    ("load a zero-byte file", lambda t: checkpoints.load(_raw(t, b"")), ValueError, r"is empty \(0 bytes\)"),
    ("load random bytes", lambda t: checkpoints.load(_raw(t, os.urandom(500))), ValueError,
     r"is not a checkpoint: its 500 bytes are not a file that torch.save writes"),
    ("load a truncated file", lambda t: checkpoints.load(_raw(t, _good_bytes(t)[:3000])), ValueError,
     r"is truncated or damaged \(3000 bytes"),
    ("load a file holding a Fraction", lambda t: checkpoints.load(_saved(t, {"format": checkpoints.FORMAT,
                                                                          "x": Fraction(1, 3)})),
     ValueError, r"cannot be read safely: it holds Python objects other than tensors .*fractions.Fraction"),
    ("load without a state_dict", lambda t: checkpoints.load(_saved(t, {"format": checkpoints.FORMAT,
                                                                        "config": _model().config})),
     ValueError, r"holds no weights: its state_dict is missing"),
    ("load a state_dict that is a list", lambda t: checkpoints.load(_saved(t, {
        "format": checkpoints.FORMAT, "config": _model().config, "state_dict": [1, 2]})),
     ValueError, r"holds no weights: its state_dict is a list"),
    ("load a state_dict with a non-tensor", lambda t: checkpoints.load(_saved(t, {
        "format": checkpoints.FORMAT, "config": _model().config,
        "state_dict": {**_model().state_dict(), "out.weight": "zeros"}})),
     ValueError, r"is damaged: its state_dict entry 'out.weight' is a str, not a tensor"),
    ("load a config with an unknown key", lambda t: checkpoints.load(_saved(t, {
        "format": checkpoints.FORMAT, "config": {**_model().config, "depth": 3}, "state_dict": _model().state_dict()})),
     ValueError, r"has an unusable config"),
    pytest.param("load onto cuda without a GPU", lambda t: checkpoints.load_pretrained("leaves_k0", device="cuda"),
                 ValueError, r"this machine has no CUDA GPU",
                 marks=pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")),
    ("load_pretrained an unknown name", lambda t: checkpoints.load_pretrained("nope"), ValueError,
     r"unknown checkpoint name 'nope'; available: davis_k0"),
    ("device 'cuda:x'", lambda t: checks.device("cuda:x"), ValueError, r"device must be cpu, cuda, cuda:N or mps"),
    ("device 'xla'", lambda t: checks.device("xla"), ValueError, r"device must be cpu, cuda, cuda:N or mps, got 'xla'"),
    ("a chapter's set-up with $SCORETUTOR_DEVICE=foo", lambda t: _env_device("foo"), ValueError,
     r"\$SCORETUTOR_DEVICE must be cpu, cuda, cuda:N or mps, got 'foo'"),
    ("TrainConfig(device='foo')", lambda t: TrainConfig(device="foo"), ValueError, r"device must be cpu"),
    ("TrainConfig(out='')", lambda t: TrainConfig(out=""), ValueError, r"out must be a run folder's path"),
    ("batch norm: an empty training batch", lambda t: _bn_empty(), ValueError,
     r"empty batch \(0, 4, 8, 8\) in training mode.*running scales would become NaN"),
    ("U-net: an empty training batch", lambda t: _unet_empty(), ValueError, r"empty batch .* in training mode"),
    ("U-net: uint8 input", lambda t: _model()(torch.zeros(1, 3, 8, 8, dtype=torch.uint8)), TypeError,
     r"floating-point tensor with pixels in \[0, 1\], got dtype torch.uint8 \(an 8-bit image\? use x.float\(\) / 255\)"),
    ("U-net: int64 input", lambda t: _model()(torch.zeros(1, 3, 8, 8, dtype=torch.int64)), TypeError,
     r"got dtype torch.int64 \(convert with x.float\(\)\)"),
    ("stack_inputs: a uint8 observation", lambda t: stack_inputs(torch.zeros(1, 2, 8, 8),
                                                                 torch.zeros(1, 1, 8, 8, dtype=torch.uint8)),
     TypeError, r"noisy must be a floating-point tensor .*x.float\(\) / 255"),
    ("stack_inputs: uint8 past frames", lambda t: stack_inputs(torch.zeros(1, 2, 8, 8, dtype=torch.uint8)),
     TypeError, r"past must be a floating-point tensor"),
    ("read_occlusion: frames for another batch", lambda t: read_occlusion(np.zeros((2, 32, 32)), _probes()),
     ValueError, r"predicted must have shape \(3, 32, 32\) or \(3, m, 32, 32\), got \(2, 32, 32\)"),
    ("read_occlusion: 16x16 frames", lambda t: read_occlusion(np.zeros((3, 16, 16)), _probes()),
     ValueError, r"predicted must have shape \(3, 32, 32\)"),
    ("read_occlusion: probes without a past", lambda t: read_occlusion(np.zeros((3, 32, 32)),
                                                                      collision_probes(3, 0.8, k=0)),
     ValueError, r"needs probes with at least one past frame"),
    ("read_occlusion: blend_band reversed", lambda t: read_occlusion(np.zeros((3, 32, 32)), _probes(),
                                                                    blend_band=(0.8, 0.2)),
     ValueError, r"blend_band must be \(low, high\) with 0 <= low < high <= 1, got \(0.8, 0.2\)"),
    ("read_occlusion: max_fit_error 0", lambda t: read_occlusion(np.zeros((3, 32, 32)), _probes(), max_fit_error=0),
     ValueError, r"max_fit_error must be positive, got 0"),
    ("read_occlusion: max_blur NaN", lambda t: read_occlusion(np.zeros((3, 32, 32)), _probes(),
                                                             max_blur=float("nan")),
     ValueError, r"max_blur must be positive \(pixels\), got nan"),
    ("read_occlusion: max_hidden 1.5", lambda t: read_occlusion(np.zeros((3, 32, 32)), _probes(), max_hidden=1.5),
     ValueError, r"max_hidden must lie in \(0, 1\], got 1.5"),
    ("read_occlusion: chunk 0", lambda t: read_occlusion(np.zeros((3, 32, 32)), _probes(), chunk=0),
     ValueError, r"chunk"),
    ("blend_coefficient: shapes differ", lambda t: blend_coefficient(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)),
                                                                    np.zeros((1, 4, 4))),
     ValueError, r"frame, first and second must be images of one shape \(..., H, W\), got \(2, 4, 4\), "
                 r"\(2, 4, 4\) and \(1, 4, 4\)"),
    ("atomic_save on a full disk", _full_disk, DiskFullError,
     r"is full .*old.pt was not written and its previous version is intact"),
    ("a second writer on a run folder", _busy, RunFolderBusy, r"is in use by another training run \(PID"),
    ("fetch http:// without allow_insecure", lambda t: download.fetch("http://127.0.0.1:9/a.zip", t / "a"),
     ValueError, r"url must start with https://"),
    ("fetch file:// without allow_insecure", lambda t: download.fetch("file:///etc/passwd", t / "a"),
     ValueError, r"url must start with https://, got 'file:///etc/passwd'"),
    ("extract a zip with too many members", lambda t: download.extract_zip(_zip(t, 3, 10), t / "out", max_members=2),
     ValueError, r"has 3 members, more than the 2 allowed \(a zip bomb"),
    ("extract a zip that unpacks to too much", lambda t: download.extract_zip(_zip(t, 2, 600), t / "out",
                                                                             max_bytes=1000),
     ValueError, r"would unpack to .* GB, more than the .* GB allowed \(a zip bomb"),
]


@pytest.mark.parametrize("row, action, kind, pattern", LIB_ROWS, ids=_ids(LIB_ROWS))
def test_library_row(row, action, kind, pattern, tmp_path):
    with pytest.raises(kind, match=pattern):
        action(tmp_path)


def test_read_checkpoint_names_the_intact_other_file(places):
    _damage(places["run"], "truncated")
    with pytest.raises(ValueError, match=r"checkpoint.pt is truncated or damaged.*best.pt is intact \(epoch 2\)"):
        read_checkpoint(places["run"])


def test_a_zip_bomb_is_refused_by_its_declared_sizes_before_anything_is_written(tmp_path):
    """Two small members whose central directory declares 4.29 GB each (what a zip bomb declares, or
    lies about: extraction reads no more than the declared size) exceed the default cap."""
    path = _zip(tmp_path, 2, 10)
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:  # each central directory entry
        data[at + 24:at + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # its uncompressed size
        at += 4
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"would unpack to 8.59 GB, more than the 4.29 GB allowed"):
        download.extract_zip(path, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


# --------------------------------------------------------------------------- what a learner may return


def _ref(y, sigma):
    return y / sigma


def _inputs(rng):
    return (rng.normal(size=6), float(rng.uniform(0.5, 2)))


def _in_place(y, sigma):
    y /= sigma
    return y


def _zeroing(y, sigma):
    y[:] = 0
    return np.zeros_like(y)


#: (row id, the learner, the status, a pattern of the verdict)
LEARNER_ROWS = [
    ("returns None", lambda y, sigma: None, "wrong", r"returned None — did you forget `return`\?"),
    ("returns a string", lambda y, sigma: "y / sigma", "wrong", r"returned a str \('y / sigma'\), not numbers"),
    ("returns a dict", lambda y, sigma: {"y": y}, "wrong", r"returned a dict, not an array of numbers"),
    ("returns a ragged list", lambda y, sigma: [[1.0, 2.0], [3.0]], "wrong", r"not a rectangular array"),
    ("returns complex numbers", lambda y, sigma: y / sigma + 0j, "wrong", r"returned complex numbers"),
    ("returns a function", lambda y, sigma: _ref, "wrong", r"returned a function, not an array"),
    ("returns a number", lambda y, sigma: 1.0, "wrong", r"returned a single number, expected an array of shape \(6,\)"),
    ("returns the wrong shape", lambda y, sigma: np.zeros(3), "wrong", r"returned an array of shape \(3,\)"),
    ("returns NaN", lambda y, sigma: np.full_like(y, np.nan), "wrong", r"returned a non-finite value, nan, at index"),
    ("is right in place", _in_place, "correct", r"correct on 5 random inputs.*uses your function"),
    ("zeroes its input and returns zeros", _zeroing, "wrong", r"expected .*, got 0"),
    ("raises", lambda y, sigma: y[10], "error", r"raised IndexError: .* on input \(y=\[ 0.1257, .*\], sigma=1.41\)"),
    ("returns a torch tensor", lambda y, sigma: torch.from_numpy(y) / sigma, "correct", r"correct"),
    ("returns a list", lambda y, sigma: list(y / sigma), "correct", r"correct"),
]


@pytest.mark.parametrize("row, learner, status, pattern", LEARNER_ROWS, ids=[r[0] for r in LEARNER_ROWS])
def test_learner_row(row, learner, status, pattern):
    verdict = verify(learner, _ref, _inputs, name="Exercise 0.1 (ratio)", seed=0, reference_name="ref.ratio")
    assert verdict.status == status, verdict.message
    import re

    assert re.search(pattern, verdict.message), verdict.message
    assert verdict.message.startswith("Exercise 0.1 (ratio): ")
    if status != "correct":
        assert verdict.message.endswith("the notebook uses the reference solution `ref.ratio`.")
