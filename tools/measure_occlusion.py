"""Measure the occlusion criteria of issue 12, part 2, on fresh collision probes.

    python tools/measure_occlusion.py                                  # every network, 200 probes per ratio
    python tools/measure_occlusion.py --networks leaves_k2 --n 64 --seed 7001

For each network, samples one next frame per probe (``front_sweep``, the chapter 6 sampler settings by
default: h0 0.1, beta 0.2, sigma_stop 0.02) at each radius ratio, reads every sample with
``probes.read_occlusion`` and prints the five-category table with 95% Wilson intervals, then the
criteria: blended + neither <= 10% at every ratio; "larger in front" among decided samples >= 0.9 at
ratios <= 0.6 and 0.3 to 0.7 at ratio 1, monotone; the calibration frequency pooled over ratios 0.5
and 0.7 (true 0.75 for ``leaves_k2_p75*``, 1 for the others) with its interval; the share of sampled
pixels within [-0.05, 1.05]. The one-step estimates of the same probes are read too (they should all
be blends), and so is the network's denoised estimate of known frames (each order, 50/50 blends) plus
noise at sigma 0.02 to 0.2 (``--denoiser-only`` for that alone): why blends happen. Probe seeds should be fresh (not the chapter's 301, 401, 601, 602, 2024).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

NETWORKS = ["leaves_k2", "leaves_k2_w32", "leaves_k2_p75", "leaves_k2_base", "leaves_k2_w32_base",
            "leaves_k2_p75_base"]


def measure(name: str, ratios, n: int, seed: int, sampler: dict, device: str = "cpu") -> dict:
    """One network's sweep, its printed table and criteria; returns the figures as a dict."""
    import torch

    from scoretutor.checkpoints import load_pretrained
    from scoretutor.data.probes import BLENDED, LARGER, SMALLER, read_occlusion
    from scoretutor.psychometric import binomial_interval, front_sweep
    from scoretutor.sampling import one_step

    model = load_pretrained(name, device=device)
    start = time.perf_counter()
    sweep = front_sweep(model, ratios, n, 1, probe_seed=seed, seed=seed + 1, **sampler)
    seconds = time.perf_counter() - start
    print(f"\n== {name}: {n} fresh probes per ratio (probe seed {seed}), one sample each, "
          f"{seconds:.0f} s; {sweep.trace.summary()}")
    print(sweep.table())
    r = sweep.ratios
    freq, (low, high) = sweep.frequency, sweep.interval()
    und, (ulow, uhigh) = sweep.undecided_fraction, sweep.undecided_interval()
    cal = np.isin(np.round(r, 6), [0.5, 0.7])
    hits, total = int(sweep.large_counts[cal].sum()), int(sweep.decided_counts[cal].sum())
    c_low, c_high = (float(v) for v in binomial_interval(hits, total))
    truth = 0.75 if "p75" in name else 1.0
    with torch.no_grad():
        blur = one_step(model, sweep.probes.conditioning, 1, seed=seed + 2)[:, 0, 0].cpu().numpy()
    blur_reading = read_occlusion(blur, sweep.probes)
    blur_blended = float(np.mean(blur_reading.category == BLENDED))
    blur_decided = float(np.mean(np.isin(blur_reading.category, [LARGER, SMALLER])))
    criteria = sweep.criteria()
    crit = list(criteria.values()) + [
        (f"calibration (ratios 0.5, 0.7, decided): interval {'contains' if truth < 1 else 'excludes'} 0.75",
         f"{hits}/{total} = {hits / max(total, 1):.3f} [{c_low:.3f}, {c_high:.3f}]",
         (c_low <= 0.75 <= c_high) if truth < 1 else not (c_low <= 0.75 <= c_high)),
    ]
    for text, value, ok in crit:
        print(f"[{'met' if ok else 'NOT met'}] {text}: {value}")
    print(f"one-step estimates of the same probes: blended {blur_blended:.3f}, decided {blur_decided:.3f}")
    return dict(name=name, ratios=r.tolist(), frequency=freq.tolist(), low=low.tolist(), high=high.tolist(),
                undecided=und.tolist(), undecided_low=ulow.tolist(), undecided_high=uhigh.tolist(),
                calibration=(hits, total, c_low, c_high), in_range=criteria["range"][1], seconds=seconds,
                blur_blended=blur_blended, criteria={t: ok for t, _, ok in crit})


def denoiser_on_known_frames(name: str, n: int, seed: int, device: str = "cpu", ratio: float = 0.6) -> dict:
    """Why blends happen: the network's denoised estimate f(c, y) of known next frames plus noise, read.

    For frames of the right order (a = 1) and 50/50 blends (a = 0.5) of fresh probes, at sigma 0.02 to
    0.2: a denoiser that has learned the two orders pulls a noisy blend towards one of them; one that
    returns the blend (and pulls clean frames towards it) makes the sampler settle on blends."""
    import torch

    from scoretutor.checkpoints import load_pretrained
    from scoretutor.data.probes import collision_probes, read_occlusion
    from scoretutor.unet import stack_inputs

    model = load_pretrained(name, device=device)
    probes = collision_probes(n, ratio, seed=seed + 3)
    past = torch.from_numpy(probes.conditioning).to(device)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    print(f"\n== {name}: the denoiser on known frames of {n} fresh probes at ratio {ratio:g}")
    for weight in (1.0, 0.5):
        clean = weight * probes.target_large_front + (1 - weight) * probes.target_small_front
        x = torch.from_numpy(clean.astype(np.float32))[:, None]
        for sigma in (0.02, 0.05, 0.1, 0.2):
            y = (x + sigma * torch.randn(x.shape, generator=gen)).to(device)
            with torch.no_grad():
                f = model(stack_inputs(past, y))[:, 0].float().cpu().numpy()
            reading = read_occlusion(f, probes)
            counts = reading.counts()
            out[(weight, sigma)] = counts
            print(f"input a = {weight:g}, sigma {sigma:g}: median a of f(c, y) "
                  f"{np.nanmedian(reading.coefficient):.2f}; read as "
                  + ", ".join(f"{c} {v}" for c, v in counts.items() if v))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=NETWORKS, help="shipped checkpoints to measure")
    parser.add_argument("--ratios", nargs="+", type=float, default=[0.5, 0.6, 0.7, 0.8, 1.0])
    parser.add_argument("--n", type=int, default=200, help="fresh probes per ratio (one sample each)")
    parser.add_argument("--seed", type=int, default=7001, help="probe seed (use one the chapters do not)")
    parser.add_argument("--h0", type=float, default=0.1)
    parser.add_argument("--beta", type=float, default=0.2)
    parser.add_argument("--sigma-stop", type=float, default=0.02)
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--denoiser-only", action="store_true",
                        help="only the denoiser on known frames (why blends happen), no sampling")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")
    if not all(0 < r <= 1 for r in args.ratios):
        parser.error("--ratios must lie in (0, 1]")
    import torch

    torch.set_num_threads(max(1, args.threads))
    sampler = dict(h0=args.h0, beta=args.beta, sigma0=1.0, sigma_stop=args.sigma_stop, max_steps=args.max_steps)
    print("sampler: " + ", ".join(f"{k} = {v:g}" for k, v in sampler.items()))
    for name in args.networks:
        if not args.denoiser_only:
            measure(name, args.ratios, args.n, args.seed, sampler, device=args.device)
        denoiser_on_known_frames(name, min(args.n, 100), args.seed, device=args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
