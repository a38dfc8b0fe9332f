"""The psychometric curve of occlusion order (the paper's figure 4). Taught in chapter 6.

:func:`front_sweep` runs the conditional sampler on collision-course probes
(:mod:`scoretutor.data.probes`) at several radius ratios and counts how often the larger disk ends in
front, with binomial error bars (:func:`binomial_interval`, the Wilson interval).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from . import checks
from .data.probes import Probes, collision_probes, front_disk

if TYPE_CHECKING:  # the sampler (and torch) are imported only when a sweep runs
    from .sampling import SampleTrace

__all__ = ["binomial_interval", "FrontSweep", "front_sweep"]


def binomial_interval(successes, trials, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion. Taught in chapter 6.

    ``successes`` and ``trials``: integer arrays (or ints) that broadcast, ``0 <= successes <= trials``;
    ``z``: the normal quantile (1.96: a 95 % interval; 1: about 68 %). Returns ``(low, high)``, float
    arrays in [0, 1] around ``successes / trials``; NaN where ``trials == 0``. Unlike
    ``p ± z sqrt(p (1 - p) / n)`` the interval never collapses to a point at p = 0 or 1, so a frequency
    of 20 out of 20 still carries the uncertainty of a small count.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(~np.isfinite(k)) or np.any(~np.isfinite(n)) or np.any(k < 0) or np.any(k > n):
        raise ValueError("successes and trials must be finite counts with 0 <= successes <= trials")
    if np.any(k != np.round(k)) or np.any(n != np.round(n)):
        raise ValueError("successes and trials must be whole numbers")
    checks.positive(z, "z")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


@dataclass
class FrontSweep:
    """What :func:`front_sweep` returns: sampled next frames of collision probes at several radius
    ratios, and which disk each puts in front. Taught in chapter 6.

    * ``ratios``: ``(R,)`` the radius ratios (small / large), in the order given;
    * ``probes``: one :class:`Probes` batch of ``R * n_probes`` probes, ratio by ratio (probes
      ``i * n_probes`` to ``(i + 1) * n_probes - 1`` have ratio ``ratios[i]``; probe ``j`` of every ratio
      has the same direction, luminances and background);
    * ``samples``: float32 ``(R, n_probes, n_samples, H, W)``, NaN where a chain diverged;
    * ``large_front``: bool ``(R, n_probes, n_samples)``, the sample puts the larger disk in front
      (:func:`front_disk`); ``error``: the distance of its overlap luminance to the nearer disk's;
    * ``front_visible``: float ``(R, n_probes, n_samples)``, the visible fraction of the disk it puts in
      front (:class:`FrontDecision`): near 1 when that disk is drawn whole, in its own luminance;
    * ``valid``: bool ``(R, n_probes, n_samples)``, the chain did not diverge (only valid samples are
      counted; a chain that ran out of steps returns its last estimate and counts);
    * ``trace``: the sampler's :class:`scoretutor.sampling.SampleTrace`, chains ``(R * n_probes, n_samples)``.
    """

    ratios: np.ndarray
    probes: Probes
    samples: np.ndarray
    large_front: np.ndarray
    error: np.ndarray
    front_visible: np.ndarray
    valid: np.ndarray
    trace: "SampleTrace"

    @property
    def counts(self) -> np.ndarray:
        """``(R,)`` int: valid samples per ratio."""
        return self.valid.sum(axis=(1, 2))

    @property
    def large_counts(self) -> np.ndarray:
        """``(R,)`` int: valid samples per ratio that put the larger disk in front."""
        return (self.large_front & self.valid).sum(axis=(1, 2))

    @property
    def frequency(self) -> np.ndarray:
        """``(R,)`` fraction of valid samples with the larger disk in front (NaN without valid samples)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.large_counts / self.counts

    @property
    def stderr(self) -> np.ndarray:
        """``(R,)`` binomial standard error ``sqrt(p (1 - p) / n)`` of :attr:`frequency`."""
        p = self.frequency
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(p * (1 - p) / self.counts)

    def interval(self, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``, each ``(R,)``: the Wilson interval (:func:`binomial_interval`) of each frequency.

        The interval treats every sample as an independent draw. Several samples of one probe share its
        geometry and luminances, so with ``n_samples > 1`` it is somewhat too narrow: for error bars, prefer
        many probes with one sample each."""
        return binomial_interval(self.large_counts, self.counts, z)

    def reliable_fraction(self, threshold: float = 0.8) -> np.ndarray:
        """``(R,)`` fraction of valid samples that draw the disk they put in front whole, in its own
        luminance: its visible fraction is at least ``threshold``. (Read by what the sample shows, like
        the decision itself, so a sharp sample whose disks sit a pixel off the probe's continuation counts.)"""
        good = (self.front_visible >= threshold) & self.valid
        with np.errstate(invalid="ignore", divide="ignore"):
            return good.sum(axis=(1, 2)) / self.counts

    def monotone(self, z: float = 1.96) -> bool:
        """True when the frequency falls with the ratio within its error bars: no ratio's interval
        lies wholly above the interval of a smaller ratio (every pair compared, not only neighbours)."""
        order = np.argsort(self.ratios, kind="stable")
        low, high = (v[order] for v in self.interval(z))
        for i in range(len(order)):
            for j in range(i + 1, len(order)):
                if self.ratios[order[j]] > self.ratios[order[i]] and low[j] > high[i]:
                    return False
        return True

    def table(self, z: float = 1.96) -> str:
        """A plain-text table: ratio, samples, frequency of "larger in front" with its standard error
        and interval, and the fraction of samples drawing the front disk whole (3 decimals)."""
        low, high = self.interval(z)
        counts, freq, err, reliable = self.counts, self.frequency, self.stderr, self.reliable_fraction()
        lines = [f"{'ratio':>6} {'samples':>8} {'larger in front':>16} {'interval':>15} {'whole':>9}"]
        for i, r in enumerate(self.ratios):
            lines.append(f"{r:>6.2f} {int(counts[i]):>8d} {freq[i]:>9.3f} ± {err[i]:.3f} "
                         f"[{low[i]:.3f}, {high[i]:.3f}] {reliable[i]:>9.3f}")
        return "\n".join(lines)


def front_sweep(model, ratios, n_probes: int, n_samples: int = 1, *, probe_seed: int = 0, seed=None,
                probe_options: dict | None = None, **sampler_options) -> FrontSweep:
    """Sample the next frame of collision probes at each radius ratio and decide the front disk.
    Taught in chapter 6 (the paper's figure 4).

    For each ratio in ``ratios`` (floats in (0, 1], small / large radius), ``n_probes`` probes from
    :func:`collision_probes` (``k = model.k``; every ratio's batch is drawn with ``probe_seed``, so the
    same directions and luminances recur at every ratio and only the sizes change: a paired design;
    ``probe_options`` go to :func:`collision_probes`),
    each sampled ``n_samples`` times in **one** call of :func:`scoretutor.sampling.sample`
    (``sampler_options``: ``h0``, ``beta``, ``sigma_stop``, ``max_steps``, ``batch_size`` ...;
    ``seed`` as there; warnings are off: divergences are reported in the result). Each sample's front
    disk is decided by :func:`front_disk`. Returns a :class:`FrontSweep`.
    """
    from .sampling import sample

    r = np.atleast_1d(np.asarray(ratios, dtype=np.float64))
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"ratios must be a non-empty list of radius ratios, got {ratios!r}")
    n_probes = checks.integer(n_probes, "n_probes", 1)
    n_samples = checks.integer(n_samples, "n_samples", 1)
    if "warn" in sampler_options:
        raise TypeError("front_sweep reports divergences in its result; it takes no 'warn' option")
    k = checks.denoiser(model, needs_observation=True, why="the sampler would couple the samples of a batch")
    batches = [collision_probes(n_probes, float(ratio), probe_seed, k=k, **(probe_options or {})) for ratio in r]
    probes = Probes(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(Probes)})
    samples, trace = sample(model, probes.conditioning, n_samples, seed=seed, warn=False, **sampler_options)
    frames = samples[:, :, 0].detach().float().cpu().numpy()  # (R * n, m, H, W)
    valid = np.isfinite(frames).all(axis=(2, 3))
    decision = front_disk(np.where(valid[..., None, None], frames, 0.0), probes)
    shape = (r.size, n_probes, n_samples)
    return FrontSweep(
        ratios=r,
        probes=probes,
        samples=frames.reshape(shape + frames.shape[-2:]),
        large_front=decision.large_front.reshape(shape),
        error=np.where(valid, decision.error, np.nan).reshape(shape),
        front_visible=np.where(valid, np.where(decision.large_front, decision.visible_large, decision.visible_small),
                               np.nan).reshape(shape),
        valid=valid.reshape(shape),
        trace=trace,
    )
