"""Next-frame sampling speed: the batched sampler against a one-sample-at-a-time loop (issue 5).

    python benchmarks/sampling_speed.py [--checkpoint leaves_k2] [--n 256] [--n-loop N] [--device cpu]

Draws ``--n`` next-frame samples for ambiguous Moving Leaves collision probes (radius ratio 1,
``--probes`` probes, ``n / probes`` samples each) with :func:`scoretutor.sampling.sample` in one
batched call, then draws ``--n-loop`` samples (default: ``--n`` on a GPU, 32 on the CPU) one call
per sample, and prints both times side by side (the loop's time for ``--n`` extrapolated when it
drew fewer), the speed-up and the mean NFE (network evaluations) per sample.

The model is ``--checkpoint`` (a shipped name, a checkpoint file or a training-run folder; default
``leaves_k2`` when it is shipped). Without one it times a randomly initialised UNet of ``--width``
channels: a random network does not converge like a trained one, so every chain then runs exactly
``--max-steps`` evaluations (no stopping, no divergence test) and the figures are the cost at that
NFE. Goal (issue 5): 1,000 samples of the 64-channel k = 2 model in under 10 s on an H100, e.g.
``--device cuda --n 1000 --width 64`` (random weights, ``--max-steps 100``) or with a 64-channel
checkpoint.
"""
from __future__ import annotations

import argparse
import math
import time


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None,
                        help="shipped name, .pt file or run folder "
                             "(default: leaves_k2 if shipped, else random weights)")
    parser.add_argument("--width", type=int, default=32, help="channels of the random-weight UNet (no checkpoint)")
    parser.add_argument("--n", type=int, default=256, help="samples drawn by the batched sampler")
    parser.add_argument("--n-loop", type=int, default=None,
                        help="samples drawn one at a time (default: --n on a GPU, 32 on the CPU)")
    parser.add_argument("--probes", type=int, default=16, help="conditioning sequences (n is split among them)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="evaluation cap per sample (default 1000 with a checkpoint, 60 with random weights)")
    parser.add_argument("--batch-size", type=int, default=None, help="most chains per network call")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: scoretutor.runtime.get_device)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (the cores are shared)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 1 or args.probes < 1 or args.n % args.probes:
        parser.error(f"--n ({args.n}) must be a positive multiple of --probes ({args.probes})")

    import torch

    from scoretutor import checkpoints
    from scoretutor.runtime import get_device
    from scoretutor.data.probes import collision_probes
    from scoretutor.sampling import sample
    from scoretutor.unet import UNet

    torch.set_num_threads(args.threads)
    device = get_device(args.device, verbose=False)
    name = args.checkpoint or ("leaves_k2" if "leaves_k2" in checkpoints.available() else None)
    if name is not None:
        model = checkpoints.load(checkpoints.resolve(name), device=device)
        what = f"checkpoint {name}"
        kw = dict(max_steps=args.max_steps or 1000)
    else:
        torch.manual_seed(args.seed)
        model = UNet(k=2, width=args.width).to(device).eval()
        what = f"RANDOM-weight UNet (no checkpoint shipped), every chain runs exactly {args.max_steps or 60} steps"
        kw = dict(max_steps=args.max_steps or 60, sigma_stop=1e-30, diverge_sigma=math.inf)
    n_loop = args.n_loop if args.n_loop is not None else (args.n if device.type == "cuda" else 32)
    per_probe = args.n // args.probes
    probes = collision_probes(args.probes, 1.0, seed=args.seed, k=model.k)
    past = torch.from_numpy(probes.conditioning).to(device)

    print(f"model: {what}; k={model.k}, width={model.width}; device: {device} "
          f"({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{args.threads} thread(s)'})")
    print(f"probes: {args.probes} ambiguous collision probes (radius ratio 1), 32x32; "
          f"h0=0.01, beta=0.5, sigma0=1, max_steps={kw['max_steps']}")
    sample(model, past[:2], 2, max_steps=2, seed=1, warn=False, progress=False, batch_size=args.batch_size)  # warm-up

    _sync(device)
    start = time.perf_counter()
    _, trace = sample(model, past, per_probe, seed=args.seed, warn=False, batch_size=args.batch_size, **kw)
    _sync(device)
    t_batch = time.perf_counter() - start
    nfe_batch = float(trace.nfe.double().mean())

    nfe_loop = []
    _sync(device)
    start = time.perf_counter()
    for i in range(n_loop):
        _, tr = sample(model, past[i % args.probes], 1, seed=args.seed + 1 + i, warn=False, progress=False, **kw)
        nfe_loop.append(float(tr.nfe.sum()))
    _sync(device)
    t_loop = time.perf_counter() - start
    t_loop_n = t_loop * args.n / n_loop

    loop_note = "" if n_loop == args.n else f" (measured on {n_loop} samples in {t_loop:.2f} s, scaled to {args.n})"
    print(f"batched sampler : {args.n} samples in {t_batch:8.2f} s = {args.n / t_batch:8.1f} samples/s, "
          f"mean NFE per sample {nfe_batch:.1f}")
    print(f"one at a time   : {args.n} samples in {t_loop_n:8.2f} s = {args.n / t_loop_n:8.1f} samples/s, "
          f"mean NFE per sample {sum(nfe_loop) / n_loop:.1f}{loop_note}")
    print(f"speed-up        : {t_loop_n / t_batch:.1f}x; network evaluations per second, batched: "
          f"{nfe_batch * args.n / t_batch:,.0f}")
    print(f"batched chains  : {trace.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
