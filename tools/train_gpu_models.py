"""Train shipped checkpoints on one GPU and export each with its model card; optionally, in the same
call, execute chapters in the full profile and run the speed benchmarks, all recorded as JSON.

    python tools/train_gpu_models.py --minutes 5.5 --results runs/gpu [--jobs leaves_k2 davis_k1 ...]
    python tools/train_gpu_models.py --smoke --results /tmp/smoke      # tiny sizes, CPU, a minute

**Training.** The jobs (:data:`JOBS`) run as ``python -m scoretutor train`` processes, each stopping
cleanly after the epoch that would overrun ``--minutes``: all at once, sharing the GPU (the default:
one 32x32 U-net does not fill a large GPU; several do), or with ``--one-at-a-time`` one after the
other, each alone on the GPU for ``--minutes``. ``--init-shipped`` starts every job from the shipped
checkpoint of its name (``train --init NAME``: a fresh optimiser, the card records the parent), so
that the new run adds its samples to the old one's. A job whose compiled run fails is resumed once
without ``torch.compile`` for the time left. Each finished run is exported with
``python -m scoretutor export RUN --name NAME --dest RESULTS/ckpt`` (float16 weights, model card,
held-out denoising table). Logs: ``RESULTS/runs/NAME.log``; summary table printed last.

**Chapters** (``--chapters``, or ``--chapter NB ...`` for some): each notebook is copied to
``RESULTS/chapters/`` and executed there by ``tools/execute_notebooks.py`` with
``SCORETUTOR_PROFILE=full``; its wall time, whether it finished, and the end of its error are
recorded (the committed notebooks are never touched). **Benchmarks** (``--benchmarks``):
``benchmarks/train_throughput.py`` (samples/s; ``--throughput-batches`` adds larger batches) and
``benchmarks/sampling_speed.py`` (``--sample-n`` samples of ``--sample-checkpoint``), their output
kept and the figures parsed. Everything goes to ``RESULTS/results.json``, rewritten after every step
(a call cut short keeps what it did). ``--deadline MIN`` bounds the whole call: a step that would
start with too little time left is recorded as skipped, and a chapter's timeout is the time left.
``--pack DIR`` finally writes ``results.json`` and a few tar files (each under 15 MiB: checkpoints,
logs, executed notebooks) into ``DIR``, for a machine that returns few, small files.

**On the device machine** (no network there; only the repository's files and ``carry`` travel, 64 MiB
in all; ``$OUT`` is what comes back, at most 8 files of 16 MiB: hence ``--pack``). DAVIS jobs read
``$SCORETUTOR_DAVIS_ROOT``, or, where that folder does not exist, the DAVIS32 cache built from it
(:func:`scoretutor.data.davis.build_davis32`) in ``$SCORETUTOR_DATA/davis32``, found by the folder's
path: keep ``SCORETUTOR_DAVIS_ROOT`` the path the cache was built from. The frames (74 MB) cannot
travel; the cache (``davis32-*.npz``, 48 MB, and its ``.json``) does not fit one call beside the
tracked files (39 MB), so it goes in two halves. Here, once, in the checkout that the calls send::

    echo '/.gpu13*/' >> .git/info/exclude; mkdir -p .gpu13a .gpu13b
    C=$(ls ~/.cache/scoretutor/davis32/davis32-*.npz)   # built from /work/shared/davis
    split -b 24M "$C" .gpu13a/npz.; mv .gpu13a/npz.ab .gpu13b/; cp "${C%.npz}.json" .gpu13a/

then a first call that carries ``.gpu13a`` (command ``ls .gpu13a``) and, at once (a warm machine keeps
the ignored files a call left), the one call for issue 13, carrying ``.gpu13b``: each DAVIS job alone on
the GPU for ``--minutes``, exported, then the benchmarks and the chapters in the full profile, within
``--deadline`` minutes (what does not fit is recorded as skipped; a second call with ``--no-train
--chapters`` can run the rest)::

    D=.gpu13/data/davis32; mkdir -p $D && cp .gpu13a/*.json $D/ &&
    cat .gpu13a/npz.* .gpu13b/npz.* > $D/$(basename .gpu13a/*.json .json).npz &&
    PYTHONPATH=. PYTHONUNBUFFERED=1 SCORETUTOR_DAVIS_ROOT=/work/shared/davis \
    SCORETUTOR_DATA=$PWD/.gpu13/data SCORETUTOR_COMMIT=<commit> \
    python3 tools/train_gpu_models.py --results /tmp/gpu13 --pack $OUT --deadline 9 \
      --jobs davis_k0 davis_k1 davis_k2 davis_k3 davis_pred_k2 --one-at-a-time --minutes 0.8 \
      --benchmarks --chapters

``torch.compile`` costs each job some of its ``--minutes`` (``--no-compile`` trades it for a slower
step). Chapter 7 reads the DAVIS frames themselves and fails without them (recorded as such).
Executing chapters needs ``nbclient``, ``nbformat`` and
``ipykernel``; where they are missing (the device machine has none), each chapter's code cells run in
order in one plain Python process instead (:func:`plain_execute`: the same code top to bottom,
``%pip`` lines skipped, figures to Agg), and ``results.json`` says which executor ran. Chapter 1
imports ``ipywidgets``, which the device machine lacks: carry its wheels (and those of ``comm``,
``ipython``, ``traitlets`` and their own needs) in another call, or it is recorded as failed. Set
``$SCORETUTOR_COMMIT`` where the tree is not a git checkout, so the cards name the commit.

The shipped ``leaves_k2``, ``leaves_k2_w32`` and ``leaves_k2_p75`` are these jobs' results fine-tuned on first
contacts afterwards (``python -m scoretutor train --init ... --contact-boost ... --freeze-bn``, commands in their
cards); this script trains their parents, shipped as ``leaves_k2_base``, ``leaves_k2_w32_base`` and
``leaves_k2_p75_base``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_LEAVES = ["--data", "leaves", "--train-sequences", "4000", "--val-sequences", "500"]
_DAVIS = ["--data", "davis32"]
_COMMON = ["--batch-size", "256", "--patience", "3", "--seed", "0"]
_PAPER = "Paper size (64 channels at the first scale), trained on a GPU."
_SMALL = ("CPU-profile size (32 channels), trained on a GPU: the model that chapter 6's quick profile "
          "samples from on a CPU.")

#: name -> (training arguments, card note)
JOBS: dict[str, tuple[list[str], str]] = {
    "leaves_k2": (_LEAVES + ["--k", "2", "--width", "64"], _PAPER),
    "leaves_k0": (_LEAVES + ["--k", "0", "--width", "64"], _PAPER + " The unconditional baseline of leaves_k2."),
    "leaves_k2_w32": (_LEAVES + ["--k", "2", "--width", "32"], _SMALL),
    "leaves_k2_p75": (_LEAVES + ["--k", "2", "--width", "32", "--p-larger-front", "0.75"],
                      "Calibration model of chapter 6: Moving Leaves whose larger disk is in front with "
                      "probability 0.75 (stochastic occlusion rule). " + _SMALL.split(":")[0] + "."),
    "davis_k0": (_DAVIS + ["--k", "0", "--width", "64"], _PAPER),
    "davis_k1": (_DAVIS + ["--k", "1", "--width", "64"], _PAPER),
    "davis_k2": (_DAVIS + ["--k", "2", "--width", "64"], _PAPER),
    "davis_k3": (_DAVIS + ["--k", "3", "--width", "64"], _PAPER),
    "davis_pred_k2": (_DAVIS + ["--k", "2", "--width", "64", "--prediction-only"],
                      _PAPER + " Prediction only: two past frames, no noisy observation (the paper's baseline)."),
}

_SMOKE = ["--width", "8", "--train-sequences", "16", "--val-sequences", "4", "--batch-size", "16"]


def _train_command(name: str, args, minutes: float, compile: bool) -> list[str]:
    job = list(JOBS[name][0]) + list(_COMMON)
    if args.smoke:
        job += _SMOKE
    cmd = [sys.executable, "-m", "scoretutor", "train", *job, "--epochs", str(args.epochs),
           "--out", str(Path(args.results) / "runs" / name), "--resume", "--time-limit", f"{minutes:.3f}",
           "--threads", str(args.threads), "--no-progress"]
    if args.device:
        cmd += ["--device", args.device]
    if compile:
        cmd.append("--compile")
    if getattr(args, "init_shipped", False):
        cmd += ["--init", name]
    return cmd


def _launch(name: str, cmd: list[str], log: Path, env: dict) -> subprocess.Popen:
    fh = open(log, "a", encoding="utf-8")
    fh.write("$ " + " ".join(cmd) + "\n")
    fh.flush()
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)


def _last_row(run: Path) -> dict | None:
    log = run / "log.csv"
    if not log.is_file():
        return None
    rows = list(csv.DictReader(open(log, encoding="utf-8")))
    if not rows:
        return None
    best = min(rows, key=lambda r: float(r["val_loss"]))
    return {"epochs": rows[-1]["epoch"], "best_epoch": best["epoch"], "best_val_psnr": float(best["val_psnr"]),
            "lr": float(rows[-1]["lr"]), "seconds": sum(float(r["seconds"]) for r in rows)}


def _summary(run: Path) -> dict | None:
    r = _last_row(run)
    return None if r is None else {**r, "epochs": int(r["epochs"]), "best_epoch": int(r["best_epoch"])}


class Recorder:
    """``results.json``, rewritten atomically after every step."""

    def __init__(self, path: Path, start: float):
        self.path, self.start = path, start
        self.data: dict = {"started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": _host(),
                           "train": {}, "chapters": {}, "benchmarks": {}, "skipped": []}
        self.save()

    def left(self, deadline: float | None) -> float:
        """Seconds left before ``deadline`` (minutes from the start); infinite without one."""
        return float("inf") if deadline is None else deadline * 60 - (time.perf_counter() - self.start)

    def save(self) -> None:
        self.data["elapsed_s"] = round(time.perf_counter() - self.start, 1)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _host() -> dict:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        return {"torch": torch.__version__, "gpu": gpu, "python": sys.version.split()[0]}
    except Exception as exc:  # noqa: BLE001 - a record, never a reason to stop
        return {"error": repr(exc)}


def _train(args, names, results: Path, env: dict, rec: Recorder) -> dict:
    """Train the jobs (together, or one at a time); returns name -> exit status."""
    compile = not args.no_compile and not args.smoke
    status: dict[str, int] = {}

    def run(group, minutes):
        t0 = time.perf_counter()
        procs = {n: _launch(n, _train_command(n, args, minutes, compile), results / "runs" / f"{n}.log", env)
                 for n in group}
        for n in group:
            status[n] = procs[n].wait()
        for n in group:
            left = minutes - (time.perf_counter() - t0) / 60
            if status[n] != 0 and compile and left > 0.5:
                print(f"{n}: exit status {status[n]} with --compile; resuming without it for {left:.1f} min", flush=True)
                status[n] = _launch(n, _train_command(n, args, left, False), results / "runs" / f"{n}.log",
                                    env).wait()
        for n in group:
            rec.data["train"][n] = {"status": status[n], "wall_s": round(time.perf_counter() - t0, 1),
                                    "alone": len(group) == 1, "minutes": minutes,
                                    **(_summary(results / "runs" / n) or {})}
        rec.save()

    if args.one_at_a_time:
        for n in names:
            if rec.left(args.deadline) < args.minutes * 60 + 30:
                rec.data["skipped"].append(f"training {n}: too little time left")
                status[n] = -1
                continue
            run([n], args.minutes)
    else:
        run(names, args.minutes)
    return status


def _export(args, names, results: Path, env: dict, rec: Recorder) -> dict:
    export_procs = {}
    for n in names:
        run = results / "runs" / n
        if not (run / "checkpoint.pt").is_file():
            continue
        note = JOBS[n][1] + (" SMOKE TEST ONLY." if args.smoke else "")
        cmd = [sys.executable, "-m", "scoretutor", "export", str(run), "--name", n,
               "--dest", str(results / "ckpt"), "--notes", note, "--force"]  # a rerun re-exports
        if args.smoke:
            cmd += ["--eval-sequences", "4"]
        export_procs[n] = _launch(n, cmd, results / "runs" / f"{n}.export.log", env)
    exported = {n: pr.wait() == 0 for n, pr in export_procs.items()}
    for n, ok in exported.items():
        rec.data["train"].setdefault(n, {})["exported"] = ok
    rec.save()
    return exported


def _chapters(args, results: Path, env: dict, rec: Recorder) -> None:
    """Execute copies of the chapters in the full profile, one at a time, recording each."""
    import shutil

    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
        executor = "plain" if args.plain else "nbclient"
    except ImportError as exc:  # the device machine has no Jupyter: run the cells in plain Python
        executor = "plain"
        rec.data["chapter_executor_note"] = (f"{exc}: chapters run by plain_execute (their code cells in order "
                                             "in one Python process), not by tools/execute_notebooks.py")
    rec.data["chapter_executor"] = executor
    paths = [Path(p) for p in args.chapter] if args.chapter else sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
    folder = results / "chapters"
    folder.mkdir(parents=True, exist_ok=True)
    for src in paths:
        for extra in ("sanitize.cfg",):
            if (src.parent / extra).is_file():
                shutil.copy2(src.parent / extra, folder / extra)
    chapter_env = dict(env, SCORETUTOR_PROFILE="full")
    for src in paths:
        left = rec.left(args.deadline)
        if left < 30:
            rec.data["chapters"][src.name] = {"ok": False, "finished": False, "note": "not run: out of time"}
            rec.save()
            continue
        copy = (folder / src.name).resolve()
        shutil.copy2(src, copy)
        timeout = min(args.chapter_timeout, left - 10)
        if executor == "nbclient":
            cmd = [sys.executable, str(ROOT / "tools" / "execute_notebooks.py"), str(copy),
                   "--timeout", str(int(timeout))]
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--plain-execute", str(copy), "--results", "-"]
        t0 = time.perf_counter()
        with open(folder / f"{src.stem}.log", "w", encoding="utf-8") as log:
            try:
                code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=chapter_env,
                                      timeout=timeout, cwd=str(copy.parent)).returncode
                note = "" if code == 0 else "failed"
            except subprocess.TimeoutExpired:
                code, note = None, f"stopped after {timeout:.0f} s (time left)"
        seconds = round(time.perf_counter() - t0, 1)
        tail = (folder / f"{src.stem}.log").read_text(encoding="utf-8", errors="replace")[-1500:]
        rec.data["chapters"][src.name] = {"ok": code == 0, "finished": code == 0, "wall_s": seconds,
                                          "note": note, **({} if code == 0 else {"log_tail": tail})}
        print(f"chapter {src.name}: {'finished' if code == 0 else note} in {seconds:.0f} s", flush=True)
        rec.save()


def plain_execute(path: Path) -> int:
    """Run a notebook's code cells in order in this process, as a kernel would (working folder: the
    notebook's; ``%`` and ``!`` lines skipped; figures to the Agg backend), printing each cell's time;
    returns 0, or 1 after printing the failing cell's traceback. For machines without Jupyter."""
    import json as _json
    import traceback

    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["SCORETUTOR_HEADLESS"] = "1"
    cells = _json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    namespace: dict = {"__name__": "__main__"}
    t_all = time.perf_counter()
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = [(line[: len(line) - len(line.lstrip())] + "pass") if line.lstrip().startswith(("%", "!")) else line
                 for line in source.splitlines()]
        t0 = time.perf_counter()
        try:
            exec(compile("\n".join(lines), f"{Path(path).name}[cell {i}]", "exec"), namespace)
        except BaseException:  # noqa: BLE001 - report the chapter as failed, with its cell
            traceback.print_exc()
            print(f"{path}: cell {i} failed after {time.perf_counter() - t_all:.1f} s", flush=True)
            return 1
        print(f"cell {i}: {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"{path}: executed in {time.perf_counter() - t_all:.1f} s (plain Python)", flush=True)
    return 0


_RATE = re.compile(r"^(paper loop|fast)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s*$", re.M)
_SAMPLED = re.compile(r"batched sampler : (\d+) samples in\s+([\d.]+) s.*mean NFE per sample ([\d.]+)")


def _bench(cmd: list[str], env: dict, timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=str(ROOT))
        out, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        out, code = f"{exc.stdout or ''}timed out after {timeout:.0f} s", None
    return {"command": " ".join(cmd[1:]), "status": code, "wall_s": round(time.perf_counter() - t0, 1),
            "output": out[-3000:] if isinstance(out, str) else str(out)}


def _benchmarks(args, env: dict, rec: Recorder) -> None:
    py = sys.executable
    tiny = ["--steps", "2", "--warmup", "1", "--width", "8"] if args.smoke else []
    for batch in args.throughput_batches:
        left = rec.left(args.deadline)
        if left < 40:
            rec.data["skipped"].append(f"train_throughput batch {batch}: too little time left")
            continue
        cmd = [py, str(ROOT / "benchmarks" / "train_throughput.py"), "--fast-batch", str(batch), *tiny]
        if args.device:
            cmd += ["--device", args.device]
        r = _bench(cmd, env, min(240, left - 10))
        r["rates"] = {m.group(1): {"batch": int(m.group(2)), "precision": m.group(3), "compile": m.group(5),
                                   "samples_per_s": int(m.group(6))} for m in _RATE.finditer(r["output"])}
        rec.data["benchmarks"][f"train_throughput_batch{batch}"] = r
        rec.save()
    left = rec.left(args.deadline)
    if left < 40:
        rec.data["skipped"].append("sampling_speed: too little time left")
        rec.save()
        return
    probes = 8 if args.sample_n % 8 == 0 else 1
    cmd = [py, str(ROOT / "benchmarks" / "sampling_speed.py"), "--n", str(args.sample_n), "--probes", str(probes),
           "--n-loop", str(args.sample_loop)]
    cmd += ["--checkpoint", args.sample_checkpoint] if args.sample_checkpoint else []
    if args.device:
        cmd += ["--device", args.device]
    if args.smoke:
        cmd += ["--max-steps", "3"]
    r = _bench(cmd, env, min(240, left - 10))
    m = _SAMPLED.search(r["output"])
    if m:
        r["samples"], r["seconds"], r["mean_nfe"] = int(m.group(1)), float(m.group(2)), float(m.group(3))
    rec.data["benchmarks"]["sampling_speed"] = r
    rec.save()


def _pack(results: Path, dest: Path, limit: int = 15 * 2**20) -> list[Path]:
    """``results.json`` and tar files under ``limit`` bytes each into ``dest``: checkpoints, logs, notebooks."""
    import shutil
    import tarfile

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(results / "results.json", dest / "results.json")
    groups = {
        "ckpt": sorted((results / "ckpt").glob("*")) if (results / "ckpt").is_dir() else [],
        "logs": sorted((results / "runs").glob("*.log")) + sorted((results / "runs").glob("*/log.csv"))
        + sorted((results / "chapters").glob("*.log")),
        "notebooks": sorted((results / "chapters").glob("*.ipynb")),
    }
    written = [dest / "results.json"]
    for name, files in groups.items():
        bins: list[list[Path]] = []
        sizes: list[int] = []
        # a checkpoint and its card stay together
        items = sorted({f.with_suffix("") for f in files}) if name == "ckpt" else [Path(f) for f in files]
        for item in items:
            members = [f for f in files if f.with_suffix("") == item] if name == "ckpt" else [item]
            size = sum(f.stat().st_size for f in members)
            for b, used in enumerate(sizes):
                if used + size <= limit:
                    bins[b] += members
                    sizes[b] += size
                    break
            else:
                bins.append(list(members))
                sizes.append(size)
        for b, members in enumerate(bins, 1):
            path = dest / f"{name}-{b}.tar"
            with tarfile.open(path, "w") as tar:
                for f in members:
                    tar.add(f, arcname=str(f.relative_to(results)))
            written.append(path)
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", required=True, help="folder for runs/, ckpt/, chapters/ and results.json")
    p.add_argument("--minutes", type=float, default=5.5, help="training time of every job (minutes)")
    p.add_argument("--epochs", type=int, default=1000, help="epoch cap (the time limit usually stops first)")
    p.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=None, help="subset of the jobs (default all)")
    p.add_argument("--one-at-a-time", action="store_true",
                   help="train the jobs one after the other, each alone on the GPU for --minutes")
    p.add_argument("--init-shipped", action="store_true",
                   help="start each job from the shipped checkpoint of its name (train --init NAME)")
    p.add_argument("--no-train", action="store_true", help="skip training and export")
    p.add_argument("--device", default=None, help="device for training (default: automatic)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per job (default 1)")
    p.add_argument("--no-compile", action="store_true", help="train without torch.compile")
    p.add_argument("--no-export", action="store_true", help="train only")
    p.add_argument("--chapters", action="store_true", help="execute every chapter (copies) in the full profile")
    p.add_argument("--chapter", nargs="+", default=None, help="execute these notebooks (copies) in the full profile")
    p.add_argument("--chapter-timeout", type=float, default=600, help="seconds allowed per chapter (default 600)")
    p.add_argument("--benchmarks", action="store_true", help="run the training-throughput and sampling benchmarks")
    p.add_argument("--throughput-batches", type=int, nargs="+", default=[1024],
                   help="batch sizes of the fast training configuration to time (default 1024)")
    p.add_argument("--sample-n", type=int, default=1000, help="samples drawn by the sampling benchmark")
    p.add_argument("--sample-loop", type=int, default=16, help="samples drawn one at a time by it (default 16)")
    p.add_argument("--sample-checkpoint", default="leaves_k2", help="checkpoint the sampling benchmark uses")
    p.add_argument("--deadline", type=float, default=None,
                   help="minutes for the whole call: later steps are skipped when too little time is left")
    p.add_argument("--pack", default=None, help="folder to write results.json and tar files of everything into")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check the whole script on a CPU")
    p.add_argument("--plain-execute", default=None, help=argparse.SUPPRESS)  # internal: plain_execute(NB)
    p.add_argument("--plain", action="store_true", help="run chapters by plain_execute even where Jupyter is there")
    args = p.parse_args(argv)
    if args.plain_execute:
        return plain_execute(Path(args.plain_execute))
    names = args.jobs or list(JOBS)
    results = Path(args.results)
    (results / "runs").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(args.threads))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [x for x in [env.get("PYTHONPATH")] if x])

    start = time.perf_counter()
    rec = Recorder(results / "results.json", start)
    rec.data["argv"] = list(sys.argv[1:] if argv is None else argv)
    status, exported = {}, {}
    if not args.no_train:
        status = _train(args, names, results, env, rec)
        print(f"training done in {time.perf_counter() - start:.0f} s", flush=True)
        if not args.no_export:
            exported = _export(args, names, results, env, rec)
        print(f"{'job':<15} {'status':>6} {'epochs':>6} {'best':>5} {'val PSNR':>8} {'last lr':>8} {'train s':>8} "
              f"{'export':>6}")
        for n in names:
            r = _last_row(results / "runs" / n)
            if r is None:
                print(f"{n:<15} {status[n]:>6}  (no epoch finished)")
                continue
            print(f"{n:<15} {status[n]:>6} {r['epochs']:>6} {r['best_epoch']:>5} {r['best_val_psnr']:>8.2f} "
                  f"{r['lr']:>8.2g} {r['seconds']:>8.0f} {str(exported.get(n, '-')):>6}")
    if args.benchmarks:
        _benchmarks(args, env, rec)
    if args.chapters or args.chapter:
        _chapters(args, results, env, rec)
    rec.data["total_s"] = round(time.perf_counter() - start, 1)
    rec.save()
    if args.pack:
        for path in _pack(results, Path(args.pack)):
            print(f"packed {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    chapters_ok = all(c.get("ok") for c in rec.data["chapters"].values())
    return 0 if all(s == 0 for s in status.values()) and all(exported.values()) and chapters_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
