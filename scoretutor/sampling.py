"""The network's conditional sampler, one-step estimates and recursive generation. Taught in chapter 6.

The coarse-to-fine stochastic sampler of chapter 2 (Kadkhodaie & Simoncelli 2021), made conditional
(Fiquet & Simoncelli) and run on a trained conditional denoiser (a :class:`scoretutor.unet.UNet`),
with the schedule of :mod:`scoretutor.schedule`:

* :func:`sample` draws next frames from p(x | past), many chains in one batch, and returns a
  :class:`SampleTrace`;
* :func:`one_step` is the one-step least-squares estimate from pure noise, the blurred baseline;
* :func:`rollout` generates several future frames by feeding each frame back as conditioning.
"""
from __future__ import annotations

import math
import textwrap
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checks
from .runtime import show_progress
from .schedule import injected_noise, step_size
from .unet import apply_in_batches, stack_inputs

__all__ = ["SampleTrace", "sample", "one_step", "rollout"]


@dataclass
class SampleTrace:
    """What :func:`sample` reports about its chains besides the samples. Taught in chapter 6.

    Chains are indexed like the samples, by conditioning sequence ``b`` and sample ``j``; every
    tensor lives on the CPU.

    * ``sigma``: float32 ``(B, n, T)``, the chain's noise estimate sigma_t = ||f(past, y) - y|| / sqrt(N)
      (pixel units) at its network evaluations t = 1, ..., T, where ``T`` is the largest NFE of any
      chain; NaN once the chain has stopped.
    * ``nfe``: int64 ``(B, n)``, the number of network evaluations the chain cost (its last one, the
      evaluation that stopped it, included; the returned sample is that evaluation's output).
    * ``converged``: bool ``(B, n)``, sigma_t fell below ``sigma_stop`` within ``max_steps`` evaluations.
    * ``diverged``: bool ``(B, n)``, sigma_t became NaN/infinite or exceeded ``diverge_sigma``; the
      chain was stopped there and its sample is NaN. A chain that is neither converged nor diverged
      ran out of evaluations (``max_steps``); its sample is its last denoised estimate.
    * ``sigma_stop``, ``max_steps``, ``diverge_sigma``: the settings the chains ran with.
    """

    sigma: torch.Tensor
    nfe: torch.Tensor
    converged: torch.Tensor
    diverged: torch.Tensor
    sigma_stop: float
    max_steps: int
    diverge_sigma: float

    @property
    def out_of_steps(self) -> torch.Tensor:
        """bool ``(B, n)``: chains stopped by ``max_steps`` before converging (and not diverged)."""
        return ~self.converged & ~self.diverged

    def summary(self) -> str:
        """Two lines of at most 88 characters: how many chains converged, ran out of steps
        or diverged, and their NFE (a line too long for extreme settings wraps, indented)."""
        total = self.nfe.numel()
        nfe = self.nfe.double()
        counts = (f"{total} chains: {int(self.converged.sum())} converged (sigma < {self.sigma_stop:g}), "
                  f"{int(self.out_of_steps.sum())} out of steps (max_steps={self.max_steps}),")
        rest = (f"{int(self.diverged.sum())} diverged (sigma > {self.diverge_sigma:g} or not finite); "
                f"NFE per sample: mean {float(nfe.mean()):.1f}, min {int(self.nfe.min())}, "
                f"max {int(self.nfe.max())}")
        return "\n".join(textwrap.fill(line, 88, subsequent_indent="    ") for line in (counts, rest))


def _check_start(sigma0, start) -> tuple[float, float]:
    """The start distribution N(start, sigma0^2) as floats; ValueError unless sigma0 > 0 and start is finite."""
    return checks.positive(sigma0, "sigma0"), checks.number(start, "start")


#: why a sampler refuses a network in training mode
_TRAINING_MODE = ("its batch normalisation would use the statistics of the batch of chains (coupling the samples) "
                  "and update its running estimates")


def _check_model(model, *, needs_observation: bool) -> None:
    """TypeError/ValueError unless ``model`` is a conditional denoiser in eval mode
    (:func:`scoretutor.checks.denoiser`). Training mode is refused rather than switched off quietly: batch normalisation would then normalise by the
    statistics of the batch of chains, so each sample would depend on the others."""
    checks.denoiser(model, needs_observation=needs_observation, why=_TRAINING_MODE)


def _model_device_dtype(model, fallback: torch.Tensor):
    """The device and floating dtype of the model's first parameter or buffer (else ``fallback``'s)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return fallback.device, (fallback.dtype if fallback.is_floating_point() else torch.float32)


def _prepare_past(model, past) -> torch.Tensor:
    """Check ``past`` against the model and return it as a ``(B, k, H, W)`` tensor on the model's device."""
    if isinstance(past, np.ndarray):
        past = torch.from_numpy(np.ascontiguousarray(past))
    if not isinstance(past, torch.Tensor):
        raise TypeError(f"past must be a torch.Tensor or a NumPy array, got {type(past).__name__}")
    if not past.is_floating_point():
        raise TypeError(f"past must hold floating-point pixels, got dtype {past.dtype}")
    if past.dim() == 3:
        past = past.unsqueeze(0)
    if past.dim() != 4:
        raise ValueError(f"past must have shape (B, k, H, W) or (k, H, W), got {tuple(past.shape)}")
    if past.shape[0] == 0:
        raise ValueError(f"past holds no sequences (B = 0): shape {tuple(past.shape)}")
    if past.shape[1] != model.k:
        raise ValueError(f"past has {past.shape[1]} frames per sequence, but the model conditions on k={model.k} "
                         f"past frames (past shape {tuple(past.shape)}, expected (B, {model.k}, H, W))")
    height, width = past.shape[-2:]
    multiple = getattr(model, "multiple", 1)
    if height < 1 or width < 1 or height % multiple or width % multiple:
        raise ValueError(f"past frames are {height}x{width} pixels, but the model needs a height and width "
                         f"divisible by {multiple}")
    device, dtype = _model_device_dtype(model, past)
    past = past.detach().to(device=device, dtype=dtype)
    if not bool(torch.isfinite(past).all()):
        raise ValueError("past contains NaN or infinite values")
    return past


def _generator(seed, device) -> torch.Generator:
    """A torch.Generator on ``device``: ``seed`` itself if it is one, else seeded by the int ``seed``,
    else (None) seeded from torch's global generator, so that :func:`scoretutor.runtime.seed_everything`
    makes the run reproducible."""
    device = torch.device(device)
    if isinstance(seed, torch.Generator):
        if seed.device.type != device.type:
            raise ValueError(f"seed is a torch.Generator on {seed.device}, but the model runs on {device}")
        return seed
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    else:
        seed = checks.integer(seed, "seed", 0, alternatives="or a torch.Generator or None")
    return torch.Generator(device=device).manual_seed(int(seed))


def _denoise(model, past: torch.Tensor, y: torch.Tensor, batch_size: int | None) -> torch.Tensor:
    """The network's estimate f(past, y): ``past`` ``(m, k, H, W)``, ``y`` ``(m, 1, H, W)`` -> ``(m, 1, H, W)``,
    evaluated in chunks of at most ``batch_size`` chains (all at once when None)."""
    out = apply_in_batches(lambda p, obs: model(stack_inputs(p, obs)), past, y, batch_size=batch_size)
    if out.shape != y.shape:
        raise ValueError(f"model returned shape {tuple(out.shape)} for {y.shape[0]} observations; "
                         f"expected {tuple(y.shape)}")
    return out


def _noise_level(residual: torch.Tensor) -> torch.Tensor:
    """sigma = ||d|| / sqrt(N) per chain: residual ``(m, 1, H, W)`` -> ``(m,)`` (the torch twin of
    :func:`scoretutor.toy.noise_level`)."""
    return residual.flatten(1).pow(2).mean(dim=1).sqrt()


def sample(model, past, n_samples: int = 1, *, h0: float = 0.01, beta: float = 0.5, sigma0: float = 1.0,
           sigma_stop: float = 0.01, max_steps: int = 1000, diverge_sigma: float | None = None,
           start: float = 0.5, seed=None, batch_size: int | None = None, callback=None,
           progress: bool | None = None, warn: bool = True):
    """Draw next frames from p(x | past) with the conditional coarse-to-fine stochastic sampler
    (Kadkhodaie & Simoncelli 2021, made conditional by Fiquet & Simoncelli). Taught in chapter 6.

    Every one of the ``B * n_samples`` chains starts at y_0 ~ N(start, sigma0^2) (each pixel
    independently) and, at step t = 1, 2, ..., evaluates the network once:

        d_t = f(past, y_{t-1}) - y_{t-1},   sigma_t = ||d_t|| / sqrt(N)   (N = H * W pixels);

    if sigma_t < ``sigma_stop`` the chain stops and returns f(past, y_{t-1}); otherwise it moves to
    y_t = y_{t-1} + h_t d_t + gamma_t z_t with h_t = :func:`step_size` (t, h0), gamma_t =
    :func:`injected_noise` (sigma_t, h_t, beta) and z_t ~ N(0, I). All chains run as one batch
    (network calls in chunks of ``batch_size`` chains when given), each with its own sigma_t and its
    own stopping; a finished chain leaves the batch and costs no more evaluations. A chain whose
    sigma_t is NaN/infinite or exceeds ``diverge_sigma`` is stopped and reported as diverged (its
    sample is NaN); after ``max_steps`` evaluations a chain stops unconverged and returns its last
    estimate. With ``warn=True`` either case also raises a RuntimeWarning that counts them.

    Args:
        model: a conditional denoiser in eval mode (:class:`scoretutor.unet.UNet`, not
            prediction-only; training mode is refused with a ValueError), on any device.
        past: ``(B, k, H, W)`` or ``(k, H, W)`` past frames, oldest first, pixels in [0, 1]
            (torch tensor or NumPy array; ``k`` = ``model.k``; H and W divisible by ``model.multiple``).
        n_samples: samples per conditioning sequence.
        h0: first step size in (0, 1]; beta: in (0, 1], 1 = no injected noise (deterministic ascent),
            smaller = more noise, more steps. sigma0: standard deviation of the start (> 0).
        sigma_stop: stop once sigma_t falls below it (> 0, pixel units).
        max_steps: most network evaluations per chain (>= 1).
        diverge_sigma: divergence bound on sigma_t (default ``4 * sigma0``; ``math.inf`` for none).
        start: mean of the start (pixel units).
        seed: int, ``torch.Generator`` on the model's device, or None (drawn from torch's global
            generator). Random numbers are drawn in a fixed order, y_0 for all chains then one
            ``(B * n, 1, H, W)`` draw per step, so a chain's noise does not depend on when the
            others stop nor on ``batch_size``: same seed, same samples.
        batch_size: most chains per network call (None: all active chains at once).
        callback: ``callback(step, info)`` after each evaluation, ``info`` a dict with ``"index"``
            (flat chain index ``b * n_samples + j`` of the evaluated chains), ``"y"`` (their
            ``(m, 1, H, W)`` points), ``"denoised"`` (f there), ``"sigma"`` (``(m,)``) and ``"h"``.
        progress: tqdm bar over steps (None: :func:`scoretutor.runtime.show_progress`).

    Returns ``(samples, trace)``: ``samples`` ``(B, n_samples, 1, H, W)`` on the model's device,
    in the model's dtype, pixels nominally in [0, 1]; ``trace`` a :class:`SampleTrace`. Runs under
    ``torch.no_grad()``.
    """
    checks.unit_interval(h0, "h0")
    checks.unit_interval(beta, "beta")
    sigma0, start = _check_start(sigma0, start)
    sigma_stop = checks.positive(sigma_stop, "sigma_stop", finite=False)
    diverge_sigma = 4.0 * sigma0 if diverge_sigma is None else checks.positive(diverge_sigma, "diverge_sigma",
                                                                              finite=False)
    if diverge_sigma <= sigma_stop:
        raise ValueError(f"diverge_sigma ({diverge_sigma:g}) must be larger than sigma_stop ({sigma_stop:g})")
    n = checks.integer(n_samples, "n_samples", 1)
    max_steps = checks.integer(max_steps, "max_steps", 1)
    batch_size = None if batch_size is None else checks.integer(batch_size, "batch_size", 1)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    _check_model(model, needs_observation=True)
    past = _prepare_past(model, past)
    n_cond, _, height, width = past.shape
    total = n_cond * n
    device, dtype = past.device, past.dtype
    gen = _generator(seed, device)

    def normal():
        return torch.randn((total, 1, height, width), generator=gen, device=device, dtype=dtype)

    samples = torch.full((total, 1, height, width), math.nan, device=device, dtype=dtype)
    nfe = torch.zeros(total, dtype=torch.int64, device=device)
    converged = torch.zeros(total, dtype=torch.bool, device=device)
    diverged = torch.zeros(total, dtype=torch.bool, device=device)
    sigma_rows = []  # one (total,) row per step, NaN for chains not evaluated

    # state of the active chains only: flat index b * n + j, conditioning, current point
    index = torch.arange(total, device=device)
    cond = past.repeat_interleave(n, dim=0)
    y = start + sigma0 * normal()
    show = show_progress() if progress is None else bool(progress)
    with torch.no_grad(), tqdm(total=max_steps, desc="sampling", unit="step", disable=not show, leave=False) as bar:
        for t in range(1, max_steps + 1):
            z = normal()  # drawn for every chain, active or not
            denoised = _denoise(model, cond, y, batch_size)
            residual = denoised - y
            sigma = _noise_level(residual)
            sigma_rows.append(torch.full((total,), math.nan, device=device).index_copy_(0, index, sigma.float()))
            nfe[index] += 1
            if callback is not None:
                callback(t, {"index": index, "y": y, "denoised": denoised, "sigma": sigma, "h": step_size(t, h0)})
            bad = ~torch.isfinite(sigma) | (sigma > diverge_sigma)
            done = sigma < sigma_stop
            diverged[index[bad]] = True
            converged[index[done]] = True
            if t == max_steps:  # out of evaluations: converged and unconverged chains keep their estimate
                samples[index[~bad]] = denoised[~bad]
                bar.update(1)
                break
            stop = bad | done
            if bool(stop.any()):
                samples[index[done]] = denoised[done]
                keep = ~stop
                index, cond, y, residual, sigma = index[keep], cond[keep], y[keep], residual[keep], sigma[keep]
            bar.update(1)
            bar.set_postfix(active=index.numel())
            if index.numel() == 0:
                break
            h = step_size(t, h0)
            gamma = injected_noise(sigma, h, beta)
            y = y + h * residual + gamma.view(-1, 1, 1, 1) * z[index]

    trace = SampleTrace(
        sigma=torch.stack(sigma_rows, dim=1).cpu().reshape(n_cond, n, -1),
        nfe=nfe.cpu().reshape(n_cond, n),
        converged=converged.cpu().reshape(n_cond, n),
        diverged=diverged.cpu().reshape(n_cond, n),
        sigma_stop=sigma_stop, max_steps=max_steps, diverge_sigma=diverge_sigma,
    )
    if warn:
        _warn_about(trace)
    return samples.reshape(n_cond, n, 1, height, width), trace


def _warn_about(trace: SampleTrace) -> None:
    """RuntimeWarning naming how many chains diverged or ran out of steps (none: no warning)."""
    total = trace.nfe.numel()
    n_div, n_out = int(trace.diverged.sum()), int(trace.out_of_steps.sum())
    if n_div:
        warnings.warn(f"{n_div} of {total} chains diverged (sigma_t > {trace.diverge_sigma:g} or not finite): their "
                      "samples are NaN; see trace.diverged (pass warn=False to silence)", RuntimeWarning, stacklevel=3)
    if n_out:
        warnings.warn(f"{n_out} of {total} chains did not reach sigma_stop={trace.sigma_stop:g} within "
                      f"max_steps={trace.max_steps}: their samples are the last estimates; see trace.converged "
                      "(pass warn=False to silence)", RuntimeWarning, stacklevel=3)


def one_step(model, past, n_samples: int = 1, *, sigma0: float = 1.0, start: float = 0.5, seed=None,
             batch_size: int | None = None) -> torch.Tensor:
    """The one-step least-squares estimate: the network's denoised estimate of pure noise,
    f(past, y) with y ~ N(start, sigma0^2), one evaluation per sample. Taught in chapter 6.

    The observation carries almost no information, so the estimate is close to the conditional
    mean E[x | past]: an average over the plausible next frames, blurred wherever the future is
    ambiguous (the baseline the sampler is contrasted with). For a prediction-only network
    (``model.prediction_only``) it is simply f(past), the same for every sample.

    ``past``, ``seed`` and ``batch_size`` as in :func:`sample`. Returns
    ``(B, n_samples, 1, H, W)`` on the model's device.
    """
    sigma0, start = _check_start(sigma0, start)
    n = checks.integer(n_samples, "n_samples", 1)
    batch_size = None if batch_size is None else checks.integer(batch_size, "batch_size", 1)
    _check_model(model, needs_observation=False)
    past = _prepare_past(model, past)
    n_cond, _, height, width = past.shape
    with torch.no_grad():
        if getattr(model, "prediction_only", False):
            estimate = apply_in_batches(model, past, batch_size=batch_size)
            return estimate.unsqueeze(1).expand(n_cond, n, 1, height, width).clone()
        gen = _generator(seed, past.device)
        y = start + sigma0 * torch.randn((n_cond * n, 1, height, width), generator=gen, device=past.device,
                                         dtype=past.dtype)
        estimate = _denoise(model, past.repeat_interleave(n, dim=0), y, batch_size)
    return estimate.reshape(n_cond, n, 1, height, width)


def rollout(model, past, n_future: int, n_samples: int = 1, *, method: str = "sample", seed=None,
            **kwargs):
    """Recursive generation: ``n_future`` frames per chain, each conditioned on the last ``k`` frames
    of the chain so far (the given past, then its own generated frames). Taught in chapter 6.

    Each of the ``n_samples`` chains per sequence is its own trajectory: frame s + 1 is drawn
    given frames s - k + 1 ... s (a sliding window, oldest first). ``method="sample"`` draws every
    frame with :func:`sample`; ``method="one_step"`` uses :func:`one_step`, the least-squares
    recursion that blurs. ``kwargs`` go to that function (e.g. ``h0``, ``beta``, ``batch_size``,
    ``progress``); ``seed`` (int, Generator or None) drives the whole rollout. A chain whose frame
    diverged (NaN) stops: its later frames are NaN and, when ``k > 0``, it is not sampled again
    (reported as diverged with NFE 0 in the later traces).

    Returns ``(frames, traces)``: ``frames`` ``(B, n_samples, n_future, H, W)``, where
    ``frames[b, j, s]`` is chain j's frame s (s = 0 the next frame after ``past[b]``), on the
    model's device; ``traces`` a list of ``n_future`` :class:`SampleTrace` (one per generated
    frame, chains shaped ``(B, n_samples)``), or None for ``method="one_step"``.
    """
    if method not in ("sample", "one_step"):
        raise ValueError(f"method must be 'sample' or 'one_step', got {method!r}")
    n_future = checks.integer(n_future, "n_future", 1)
    n = checks.integer(n_samples, "n_samples", 1)
    _check_model(model, needs_observation=method == "sample")
    past = _prepare_past(model, past)
    n_cond, k, height, width = past.shape
    total = n_cond * n
    gen = _generator(seed, past.device)
    window = past.repeat_interleave(n, dim=0)  # (total, k, H, W): each chain's last k frames
    frames = torch.full((total, n_future, height, width), math.nan, device=past.device, dtype=past.dtype)
    traces = [] if method == "sample" else None
    for s in range(n_future):
        alive = torch.isfinite(window.flatten(1)).all(dim=1)  # always all True when k = 0
        rows = alive.nonzero().flatten()
        if rows.numel():
            if method == "sample":
                new, trace = sample(model, window[rows], 1, seed=gen, **kwargs)
            else:
                new = one_step(model, window[rows], 1, seed=gen, **kwargs)
            frames[rows, s] = new[:, 0, 0]
        if traces is not None:
            traces.append(_scatter_trace(trace if rows.numel() else None, rows.cpu(), total, n_cond, n, kwargs))
        if k:  # a k = 0 network conditions on nothing: its window stays empty
            window = torch.cat([window[:, 1:], frames[:, s:s + 1]], dim=1)
    return frames.reshape(n_cond, n, n_future, height, width), traces


def _scatter_trace(trace, rows: torch.Tensor, total: int, n_cond: int, n: int, kwargs: dict) -> SampleTrace:
    """Spread a trace of the chains ``rows`` (shaped ``(m, 1)``) over all ``total`` chains, shaped
    ``(n_cond, n)``; chains not sampled are marked diverged, with NFE 0 and NaN sigma."""
    steps = trace.sigma.shape[-1] if trace is not None else 0
    sigma = torch.full((total, steps), math.nan)
    nfe = torch.zeros(total, dtype=torch.int64)
    converged = torch.zeros(total, dtype=torch.bool)
    diverged = torch.ones(total, dtype=torch.bool)
    if trace is not None:
        sigma[rows] = trace.sigma[:, 0]
        nfe[rows] = trace.nfe[:, 0]
        converged[rows] = trace.converged[:, 0]
        diverged[rows] = trace.diverged[:, 0]
        settings = (trace.sigma_stop, trace.max_steps, trace.diverge_sigma)
    else:
        sigma0 = kwargs.get("sigma0", 1.0)
        settings = (kwargs.get("sigma_stop", 0.01), kwargs.get("max_steps", 1000),
                    kwargs.get("diverge_sigma") or 4.0 * sigma0)
    return SampleTrace(sigma=sigma.reshape(n_cond, n, steps), nfe=nfe.reshape(n_cond, n),
                       converged=converged.reshape(n_cond, n), diverged=diverged.reshape(n_cond, n),
                       sigma_stop=settings[0], max_steps=settings[1], diverge_sigma=settings[2])
