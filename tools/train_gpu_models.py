"""Train every shipped checkpoint in one go on one GPU, then export each with its model card.

    python tools/train_gpu_models.py --minutes 5.5 --results runs/gpu [--jobs leaves_k2 davis_k1 ...]
    python tools/train_gpu_models.py --smoke --results /tmp/smoke      # tiny sizes, CPU, a minute

The jobs (:data:`JOBS`) run as concurrent ``python -m scoretutor train`` processes that share the
GPU (one 32x32 U-net does not fill a large GPU; several do), each stopping cleanly after the epoch
that would overrun ``--minutes``. A job whose compiled run fails is resumed once without
``torch.compile`` for the time left. Each finished run is then exported with
``python -m scoretutor export RUN --name NAME --dest RESULTS/ckpt`` (float16 weights, model card,
held-out denoising table). Logs: ``RESULTS/runs/NAME.log``; summary table printed last.

The shipped ``leaves_k2``, ``leaves_k2_w32`` and ``leaves_k2_p75`` are these jobs' results fine-tuned on first
contacts afterwards (``python -m scoretutor train --init ... --contact-boost ... --freeze-bn``, commands in their
cards); this script trains their parents, shipped as ``leaves_k2_base``, ``leaves_k2_w32_base`` and
``leaves_k2_p75_base``.

DAVIS jobs read ``$SCORETUTOR_DAVIS_ROOT`` (or its cache, see :func:`scoretutor.data.davis.build_davis32`).
Set ``$SCORETUTOR_COMMIT`` where the tree is not a git checkout, so the cards name the commit.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", required=True, help="folder for runs/, ckpt/ and logs")
    p.add_argument("--minutes", type=float, default=5.5, help="training time of every job (minutes)")
    p.add_argument("--epochs", type=int, default=1000, help="epoch cap (the time limit usually stops first)")
    p.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=None, help="subset of the jobs (default all)")
    p.add_argument("--device", default=None, help="device for training (default: automatic)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per job (default 1)")
    p.add_argument("--no-compile", action="store_true", help="train without torch.compile")
    p.add_argument("--no-export", action="store_true", help="train only")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check the whole script on a CPU")
    args = p.parse_args(argv)
    names = args.jobs or list(JOBS)
    results = Path(args.results)
    (results / "runs").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(args.threads))
    compile = not args.no_compile and not args.smoke

    start = time.perf_counter()
    procs = {n: _launch(n, _train_command(n, args, args.minutes, compile), results / "runs" / f"{n}.log", env)
             for n in names}
    status = {n: procs[n].wait() for n in names}
    for n in names:
        left = args.minutes - (time.perf_counter() - start) / 60
        if status[n] != 0 and compile and left > 0.5:
            print(f"{n}: exit status {status[n]} with --compile; resuming without it for {left:.1f} min", flush=True)
            procs[n] = _launch(n, _train_command(n, args, left, False), results / "runs" / f"{n}.log", env)
    for n in names:
        if status[n] != 0 and n in procs and procs[n].returncode is None:
            status[n] = procs[n].wait()
    print(f"training done in {time.perf_counter() - start:.0f} s", flush=True)

    exported = {}
    if not args.no_export:
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

    print(f"{'job':<15} {'status':>6} {'epochs':>6} {'best':>5} {'val PSNR':>8} {'last lr':>8} {'train s':>8} {'export':>6}")
    for n in names:
        r = _last_row(results / "runs" / n)
        if r is None:
            print(f"{n:<15} {status[n]:>6}  (no epoch finished)")
            continue
        print(f"{n:<15} {status[n]:>6} {r['epochs']:>6} {r['best_epoch']:>5} {r['best_val_psnr']:>8.2f} "
              f"{r['lr']:>8.2g} {r['seconds']:>8.0f} {str(exported.get(n, '-')):>6}")
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    return 0 if all(s == 0 for s in status.values()) and all(exported.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
