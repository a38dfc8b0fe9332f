"""The psychometric curve of occlusion order (the paper's figure 4). Taught in chapter 6.

:func:`front_sweep` runs the conditional sampler on collision-course probes
(:mod:`scoretutor.data.probes`) at several radius ratios, reads every sample
(:func:`scoretutor.data.probes.read_occlusion`: larger in front, smaller in front, blended, neither, no
contact) and counts each reading, with binomial error bars (:func:`binomial_interval`, the Wilson
interval) on the frequency of "larger in front" among decided samples and on the blend fraction.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from . import checks
from .data.probes import BLENDED, CATEGORIES, LARGER, NEITHER, SMALLER, Probes, collision_probes, read_occlusion

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
    ratios, and how each is read. Taught in chapter 6.

    * ``ratios``: ``(R,)`` the radius ratios (small / large), in the order given;
    * ``probes``: one :class:`Probes` batch of ``R * n_probes`` probes, ratio by ratio (probes
      ``i * n_probes`` to ``(i + 1) * n_probes - 1`` have ratio ``ratios[i]``; probe ``j`` of every ratio
      has the same direction, luminances and background);
    * ``samples``: float32 ``(R, n_probes, n_samples, H, W)``, NaN where a chain diverged;
    * ``category``: str ``(R, n_probes, n_samples)``, the reading of each sample
      (:func:`scoretutor.data.probes.read_occlusion`, one of its ``CATEGORIES``; a diverged chain's is
      "neither" but it is not counted); ``coefficient``, ``fit_error``: the reading's blend coefficient
      and fit error;
    * ``valid``: bool ``(R, n_probes, n_samples)``, the chain did not diverge (only valid samples are
      counted; a chain that ran out of steps returns its last estimate and counts);
    * ``trace``: the sampler's :class:`scoretutor.sampling.SampleTrace`, chains ``(R * n_probes, n_samples)``.
    """

    ratios: np.ndarray
    probes: Probes
    samples: np.ndarray
    category: np.ndarray
    coefficient: np.ndarray
    fit_error: np.ndarray
    valid: np.ndarray
    trace: "SampleTrace"

    @property
    def counts(self) -> np.ndarray:
        """``(R,)`` int: valid samples per ratio."""
        return self.valid.sum(axis=(1, 2))

    def category_counts(self, category: str) -> np.ndarray:
        """``(R,)`` int: valid samples per ratio read as ``category`` (one of ``CATEGORIES``)."""
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")
        return ((self.category == category) & self.valid).sum(axis=(1, 2))

    @property
    def decided_counts(self) -> np.ndarray:
        """``(R,)`` int: valid samples read as "larger in front" or "smaller in front"."""
        return self.category_counts(LARGER) + self.category_counts(SMALLER)

    @property
    def large_counts(self) -> np.ndarray:
        """``(R,)`` int: valid samples per ratio read as "larger in front"."""
        return self.category_counts(LARGER)

    @property
    def undecided_counts(self) -> np.ndarray:
        """``(R,)`` int: valid samples read as "blended" or "neither"."""
        return self.category_counts(BLENDED) + self.category_counts(NEITHER)

    @staticmethod
    def _ratio(k, n):
        with np.errstate(invalid="ignore", divide="ignore"):
            return k / n

    @property
    def frequency(self) -> np.ndarray:
        """``(R,)`` fraction of **decided** samples with the larger disk in front (NaN without any)."""
        return self._ratio(self.large_counts, self.decided_counts)

    @property
    def stderr(self) -> np.ndarray:
        """``(R,)`` binomial standard error ``sqrt(p (1 - p) / n)`` of :attr:`frequency` (n: decided samples)."""
        p = self.frequency
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(p * (1 - p) / self.decided_counts)

    @property
    def undecided_fraction(self) -> np.ndarray:
        """``(R,)`` fraction of valid samples read as "blended" or "neither"."""
        return self._ratio(self.undecided_counts, self.counts)

    def fraction(self, category: str) -> np.ndarray:
        """``(R,)`` fraction of valid samples read as ``category``."""
        return self._ratio(self.category_counts(category), self.counts)

    def interval(self, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``, each ``(R,)``: the Wilson interval (:func:`binomial_interval`) of
        :attr:`frequency` (among decided samples).

        The interval treats every sample as an independent draw. Several samples of one probe share its
        geometry and luminances, so with ``n_samples > 1`` it is somewhat too narrow: for error bars, prefer
        many probes with one sample each."""
        return binomial_interval(self.large_counts, self.decided_counts, z)

    def undecided_interval(self, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``: the Wilson interval of :attr:`undecided_fraction` (blended + neither)."""
        return binomial_interval(self.undecided_counts, self.counts, z)

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

    def criteria(self, z: float = 1.96) -> dict[str, tuple[str, str, bool]]:
        """The bars that decisive, well-ordered samples must clear, each as ``(what,
        measured value, met)``: ``"decisive"`` (at every ratio at most 10% blended or neither),
        ``"clear"`` (at ratios <= 0.6 at least 90% of decided samples put the larger disk in front),
        ``"half"`` (at the ratio nearest 1, 30% to 70%), ``"monotone"`` (:meth:`monotone`) and
        ``"range"`` (at least 99% of the valid samples' pixels within [-0.05, 1.05]). The one home of
        these bars: chapter 6 prints them, ``tools/measure_occlusion.py`` too."""
        clear = self.ratios <= 0.6 + 1e-9
        at_one = int(np.argmin(np.abs(self.ratios - 1.0)))
        pixels = self.samples[self.valid]
        in_range = float(((pixels >= -0.05) & (pixels <= 1.05)).mean()) if pixels.size else 0.0
        undecided, frequency, monotone = self.undecided_fraction, self.frequency, self.monotone(z)
        return {
            "decisive": ("at every ratio, <= 10% of samples are blended or neither",
                         ", ".join(f"{r:g}: {u:.2f}" for r, u in zip(self.ratios, undecided)),
                         bool(np.all(undecided <= 0.1))),
            "clear": ("at ratios <= 0.6, >= 90% of decided samples put the larger disk in front",
                      ", ".join(f"{r:g}: {f:.2f}" for r, f in zip(self.ratios[clear], frequency[clear])),
                      bool(np.all(frequency[clear] >= 0.9))),
            "half": ("at ratio 1, between 30% and 70% of decided samples", f"{frequency[at_one]:.2f}",
                     bool(0.3 <= frequency[at_one] <= 0.7)),
            "monotone": ("the frequency falls with the ratio within its 95% error bars", str(monotone),
                         monotone),
            "range": (">= 99% of sampled pixels within [-0.05, 1.05]", f"{100 * in_range:.1f}%",
                      in_range >= 0.99),
        }

    def table(self, z: float = 1.96) -> str:
        """A plain-text table of at most 88 characters a line: ratio, samples, the fraction of
        each reading, "larger in front" among decided samples with its interval, and
        blended + neither with its interval (2 decimals)."""
        low, high = self.interval(z)
        ulow, uhigh = self.undecided_interval(z)
        short = [{"larger in front": "larger", "smaller in front": "smaller"}.get(c, c) for c in CATEGORIES]
        head = "".join(f" {s}" for s in short)
        lines = [f"{'ratio':>5} {'n':>4}{head} {'larger/decided':>17} {'blended+neither':>17}"]
        for i, r in enumerate(self.ratios):
            cells = "".join(f" {self.fraction(c)[i]:>{len(s)}.2f}" for c, s in zip(CATEGORIES, short))
            lines.append(f"{r:>5.2f} {int(self.counts[i]):>4d}{cells} "
                         f"{self.frequency[i]:>4.2f} [{low[i]:.2f}, {high[i]:.2f}] "
                         f"{self.undecided_fraction[i]:>4.2f} [{ulow[i]:.2f}, {uhigh[i]:.2f}]")
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
    ``seed`` as there; warnings are off: divergences are reported in the result). Each sample is read by
    :func:`scoretutor.data.probes.read_occlusion`. Returns a :class:`FrontSweep`.
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
    reading = read_occlusion(frames, probes)
    shape = (r.size, n_probes, n_samples)
    return FrontSweep(
        ratios=r,
        probes=probes,
        samples=frames.reshape(shape + frames.shape[-2:]),
        category=reading.category.reshape(shape),
        coefficient=reading.coefficient.reshape(shape),
        fit_error=reading.fit_error.reshape(shape),
        valid=valid.reshape(shape),
        trace=trace,
    )
