"""Training throughput of the conditional bias-free U-net, in samples per second.

Side by side in one run (issue 4):

* the paper's loop: batch 4, float32, no compile;
* the fast configuration: a large batch; on CUDA also bf16 autocast (fp16 on older GPUs),
  channels_last and ``torch.compile``.

Both use the library's own training step (:class:`scoretutor.training.Trainer`) on Moving Leaves
pairs, 32x32 frames, k = 2, 64 channels by default. Usage::

    python benchmarks/train_throughput.py                 # paper loop vs fast configuration
    python benchmarks/train_throughput.py --steps 50 --threads 2
    python benchmarks/train_throughput.py --sweep --widths 32 48 64 --batch-sizes 32 64 --threads 2

``--sweep`` times every (width, batch size) in float32 without compile (the CPU sizing table).
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch


def measure(width: int, batch_size: int, *, k: int, steps: int, warmup: int, device, amp: bool,
            channels_last: bool | None, compile: bool, frames: torch.Tensor) -> float:
    """Samples per second of ``steps`` timed training steps (after ``warmup`` untimed ones)."""
    from scoretutor.data.pairs import pair_windows
    from scoretutor.training import Trainer
    from scoretutor.unet import UNet

    torch.manual_seed(0)
    model = UNet(k=k, width=width)
    trainer = Trainer(model, lr=1e-3, device=device, amp=amp, channels_last=channels_last, compile=compile)
    gen = torch.Generator(device=device).manual_seed(0)
    n_pairs = frames.shape[0] * (frames.shape[1] - k)

    def one_step():
        idx = torch.randint(0, n_pairs, (batch_size,), generator=gen, device=device)
        past, target = pair_windows(frames, k, idx)
        return trainer.step(past, target, gen)

    for _ in range(warmup):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = one_step()
    float(loss)  # synchronise
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - t0)


def main(argv=None) -> int:
    from scoretutor.data import leaves
    from scoretutor.runtime import get_device

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="timed steps per configuration (default 30 on CPU, 200 on GPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3 on CPU, 20 on GPU; compile needs some)")
    p.add_argument("--width", type=int, default=64, help="channels at the first scale (default 64)")
    p.add_argument("--k", type=int, default=2, help="past frames (default 2)")
    p.add_argument("--fast-batch", type=int, default=None, help="batch of the fast configuration (default 64 on CPU, 1024 on GPU)")
    p.add_argument("--no-compile", action="store_true", help="leave torch.compile out of the fast configuration")
    p.add_argument("--device", default=None, help="cpu, cuda (default: automatic)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--sweep", action="store_true", help="time every width x batch size in fp32 instead")
    p.add_argument("--widths", type=int, nargs="+", default=[32, 48, 64])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64])
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device, verbose=False)
    cuda = device.type == "cuda"
    steps = args.steps or (200 if cuda else 30)
    warmup = args.warmup if args.warmup is not None else (20 if cuda else 3)
    frames_np, _ = leaves.generate(500, seed=12345)
    frames = torch.from_numpy(np.ascontiguousarray(frames_np)).to(device)
    hw = torch.cuda.get_device_name(device) if cuda else f"CPU {platform.machine()}, {torch.get_num_threads()} threads"
    print(f"device: {hw}; torch {torch.__version__}; 32x32 frames, k={args.k}; {steps} timed steps each")

    if args.sweep:
        print(f"{'width':>5}  {'batch':>5}  {'samples/s':>10}  (fp32, no compile)")
        for w in args.widths:
            for b in args.batch_sizes:
                rate = measure(w, b, k=args.k, steps=steps, warmup=warmup, device=device, amp=False,
                               channels_last=False, compile=False, frames=frames)
                print(f"{w:>5}  {b:>5}  {rate:>10.0f}", flush=True)
        return 0

    fast_batch = args.fast_batch or (1024 if cuda else 64)
    compile_fast = cuda and not args.no_compile
    configs = [
        ("paper loop", 4, False, False, False, "fp32"),
        ("fast", fast_batch, cuda, cuda, compile_fast,
         ("bf16" if torch.cuda.get_device_capability(device)[0] >= 8 else "fp16") if cuda else "fp32"),
    ]
    rows = []
    for name, batch, amp, cl, comp, prec in configs:
        rate = measure(args.width, batch, k=args.k, steps=steps, warmup=warmup + (10 if comp else 0), device=device,
                       amp=amp, channels_last=cl, compile=comp, frames=frames)
        rows.append((name, batch, prec, cl, comp, rate))
    print(f"{'configuration':<14} {'batch':>6} {'precision':>9} {'channels_last':>13} {'compile':>7} {'samples/s':>10}")
    for name, batch, prec, cl, comp, rate in rows:
        print(f"{name:<14} {batch:>6} {prec:>9} {str(cl):>13} {str(comp):>7} {rate:>10.0f}")
    print(f"speed-up of the fast configuration: {rows[1][-1] / rows[0][-1]:.1f}x (width {args.width})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
