"""Training sources: where a training run's frames come from, epoch by epoch. Taught in chapter 5.

A source hands :func:`scoretutor.training.train` NumPy frames ``float32 (N, T, H, W)`` in [0, 1]:
fresh (or re-augmented) training frames for every epoch, a fixed validation set, a one-line
description for the model card, and held-out frames for evaluation. :data:`DATA_SOURCES` maps
each ``TrainConfig.data`` name to a factory:

* ``"leaves"`` (:class:`LeavesSource`): fresh Moving Leaves sequences every epoch and a fixed
  validation set from a seed that training never uses (with ``p_larger_front`` set, under the
  stochastic occlusion rule of chapter 6's calibration; with ``contact_boost``, first contacts
  oversampled);
* ``"davis32"`` (:class:`DavisSource`): the training clips of DAVIS32 (chapter 7), each epoch mirrored
  at random.

Every stream of random numbers is seeded by :func:`scoretutor.runtime.derive_seed` from the run's
seed and a stream key: training epochs ``(TRAIN_STREAM, epoch)``, validation ``(VAL_STREAM,)``.
Held-out evaluation sets use their own seed, :data:`HELD_OUT_SEED`, which no training run derives.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import checks
from ..runtime import derive_seed

__all__ = ["TRAIN_STREAM", "VAL_STREAM", "HELD_OUT_SEED", "DataSource", "LeavesSource", "DavisSource",
           "DATA_SOURCES", "make_source"]

TRAIN_STREAM, VAL_STREAM = 0, 1
HELD_OUT_SEED = 1_000_003


class DataSource:
    """Interface of a training data source: frames ``float32 (N, T, H, W)`` in [0, 1] as NumPy arrays.
    Taught in chapter 5."""

    name = "abstract"

    def train_frames(self, epoch: int) -> np.ndarray:  # fresh (or fixed) training sequences for an epoch
        raise NotImplementedError

    def val_frames(self) -> np.ndarray:  # fixed validation sequences
        raise NotImplementedError

    def describe(self) -> str:  # one line for model cards
        raise NotImplementedError

    def data_fields(self) -> dict:  # structured card fields (scoretutor.cards.DATA_FIELDS); none by default
        return {}


class LeavesSource(DataSource):
    """Moving Leaves (chapter 3): ``train_sequences`` fresh sequences per epoch, drawn with
    ``leaves.generate(n, seed=derive_seed(seed, 0, epoch))``; validation ``leaves.generate(n,
    seed=derive_seed(seed, 1))``. ``options`` are passed to :func:`scoretutor.data.leaves.generate`.
    Taught in chapter 5.

    ``contact_boost`` > 1 (with ``k`` >= 2 past frames) oversamples the moment that decides an
    occlusion order (chapter 6): each epoch is then returned as its ``(k + 1)``-frame pairs, ``(M, k + 1,
    H, W)``, and every pair that :func:`scoretutor.data.leaves.predicted_contacts` flags (apart in the last
    past frame, overlapping in the extrapolated next one) appears ``contact_boost`` times. The flag
    reads the past only, so the conditional density the network learns is unchanged; only how often it
    sees those pasts. Validation stays the plain sequences.
    """

    name = "leaves"

    def __init__(self, seed: int = 0, train_sequences: int = 2000, val_sequences: int = 200, *,
                 contact_boost: int = 1, k: int = 2, **options):
        self.seed = int(seed)
        self.train_sequences = int(train_sequences)
        self.val_sequences = int(val_sequences)
        self.contact_boost = checks.integer(contact_boost, "contact_boost", 1)
        self.k = int(k)
        if self.contact_boost > 1 and self.k < 2:
            raise ValueError(f"contact_boost > 1 needs k >= 2 past frames (motion is extrapolated), got k={k}")
        self.options = dict(options)

    def _generate(self, n: int, seed: int, with_meta: bool = False):
        from . import leaves

        frames, meta = leaves.generate(n, seed=seed, **self.options)
        frames = np.asarray(frames, dtype=np.float32)
        return (frames, meta) if with_meta else frames

    def train_frames(self, epoch: int) -> np.ndarray:
        seed = derive_seed(self.seed, TRAIN_STREAM, epoch)
        if self.contact_boost == 1:
            return self._generate(self.train_sequences, seed)
        from .leaves import predicted_contacts

        frames, meta = self._generate(self.train_sequences, seed, with_meta=True)
        n, T, H, W = frames.shape
        k = self.k
        windows = np.lib.stride_tricks.sliding_window_view(frames, k + 1, axis=1)  # (n, T-k, H, W, k+1)
        windows = np.moveaxis(windows, -1, 2).reshape(n * (T - k), k + 1, H, W)
        flagged = predicted_contacts(meta, k).reshape(-1)
        extra = np.repeat(windows[flagged], self.contact_boost - 1, axis=0)
        return np.ascontiguousarray(np.concatenate([windows, extra], axis=0))

    def val_frames(self) -> np.ndarray:
        return self._generate(self.val_sequences, derive_seed(self.seed, VAL_STREAM))

    def held_out_frames(self, n: int, seed: int = HELD_OUT_SEED) -> np.ndarray:
        """Sequences for evaluation, from a seed that training never derives."""
        return self._generate(n, seed)

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        boost = (f"; pairs predicted from the past to be a first contact (scoretutor.data.leaves.predicted_contacts, "
                 f"k={self.k}) repeated {self.contact_boost} times per epoch" if self.contact_boost > 1 else "")
        return (
            f"Moving Leaves (scoretutor.data.leaves.generate{'(' + opts + ')' if opts else ', default options'}): "
            f"{self.train_sequences} fresh sequences per epoch from seeds derived from (seed={self.seed}, epoch)"
            f"{boost}; {self.val_sequences} fixed validation sequences from a separate derived seed"
        )


class DavisSource(DataSource):
    """DAVIS32 (chapter 7): the clips of the ``"train"`` split of :func:`scoretutor.data.davis.load_davis32`
    (``$SCORETUTOR_DAVIS_ROOT``, or the downloaded copy), 11 frames of 32×32. Taught in chapter 7.

    Every ``val_every``-th training clip (in the loader's fixed order) is held back as the validation
    set and never trained on; the others form every epoch, each clip mirrored left-right with
    probability ½ from a generator seeded by ``(seed, epoch)``. :meth:`held_out_frames` returns clips
    of the ``"test"`` split (other sequences), for evaluation.
    """

    name = "davis32"

    def __init__(self, seed: int = 0, val_every: int = 20, **options):
        self.seed = int(seed)
        self.val_every = int(val_every)
        self.options = dict(options)  # passed to load_davis32 (root=, cache_dir=, stride=, ...)
        self._train = None

    def _load_split(self, split: str):
        from .davis import load_davis32

        return load_davis32(split, **self.options)  # DavisClips: frames uint8 (N, T, H, W), manifest

    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        if self._train is None:
            data = self._load_split("train")
            self._manifest, clips = data.manifest, data.frames
            self._train_names = list(data.sequences)
            held = np.zeros(len(clips), dtype=bool)
            held[:: self.val_every] = True
            self._train, self._val = clips[~held], clips[held]
        return self._train, self._val

    def train_frames(self, epoch: int) -> np.ndarray:
        clips = self._split()[0]
        rng = np.random.default_rng(derive_seed(self.seed, TRAIN_STREAM, epoch))
        flip = rng.random(len(clips)) < 0.5
        out = clips.astype(np.float32) / np.float32(255.0)
        out[flip] = out[flip, :, :, ::-1]
        return out

    def val_frames(self) -> np.ndarray:
        return self._split()[1].astype(np.float32) / np.float32(255.0)

    def held_out_frames(self, n: int, seed: int = HELD_OUT_SEED) -> np.ndarray:
        """``n`` test-split clips, evenly spaced over the split (all of them when ``n`` exceeds it);
        ``seed`` is unused (the test split is fixed)."""
        clips = self._load_split("test").frames
        idx = np.unique(np.linspace(0, len(clips) - 1, min(int(n), len(clips))).round().astype(int))
        return clips[idx].astype(np.float32) / np.float32(255.0)

    def data_fields(self) -> dict:
        """The card's ``training_sequences`` and ``test_sequences``: the sequence names of the two splits."""
        self._split()
        test = self._load_split("test").sequences if len(self._manifest["sequences"]) > 1 else ()
        return {"training_sequences": sorted(self._train_names), "test_sequences": sorted(test)}

    def describe(self) -> str:
        train, val = self._split()
        manifest = self._manifest
        return (
            f"DAVIS32 (scoretutor.data.davis.load_davis32) built from {len(manifest['sequences'])} DAVIS sequences "
            f"({manifest['frames']} frames); train split: {len(train)} clips, each epoch mirrored left-right "
            f"at random; every {self.val_every}th train clip ({len(val)}) held back for validation; "
            f"test sequences never used in training"
        )


def _leaves_source(cfg) -> LeavesSource:
    options = {} if cfg.p_larger_front is None else {"rule": "stochastic", "p_larger_front": float(cfg.p_larger_front)}
    return LeavesSource(cfg.seed, cfg.train_sequences, cfg.val_sequences,
                        contact_boost=cfg.contact_boost, k=cfg.k, **options)


#: name -> factory(config) returning a DataSource (``config``: a :class:`scoretutor.training.TrainConfig`)
DATA_SOURCES: dict[str, Callable] = {
    "leaves": _leaves_source,
    "davis32": lambda cfg: DavisSource(cfg.seed),
}


def make_source(config) -> DataSource:
    """The data source that ``config.data`` names (``config``: a :class:`scoretutor.training.TrainConfig`).
    Taught in chapter 5."""
    return DATA_SOURCES[config.data](config)
