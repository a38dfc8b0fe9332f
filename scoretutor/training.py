"""Blind universal denoising training of the conditional U-net, with exact resume. Taught in chapter 5.

The objective (paper, section 2.2): for each training pair (``k`` past frames ``c``, next frame ``x``),
draw a noise level with ``sqrt(sigma) ~ U(0, 1)`` (pixels in [0, 1], so ``sigma`` in [0, 1]), observe
``y = x + sigma * z`` with ``z ~ N(0, I)`` (the past stays clean), and minimise the mean squared
error between ``f(c, y)`` and ``x``. The network is never told ``sigma``: it must infer it.

:func:`train` runs the loop with Adam and a learning rate halved when a deterministic validation
loss (fixed validation sequences and fixed noise) stops improving. At the end of every epoch it
writes ``checkpoint.pt`` atomically in the run folder (model, optimiser, scheduler, scaler, random
states, epoch, history) and ``log.csv``; ``resume=True`` continues exactly where it stopped.

Every epoch's data and noise come from generators seeded by ``(seed, epoch)``, so a run stopped
and resumed gives the same losses as one that was not stopped (on the same device and threads).

Data sources are pluggable (:data:`DATA_SOURCES`): ``"leaves"`` draws fresh Moving Leaves sequences
every epoch and a fixed validation set from a seed that training never uses (with
``p_larger_front`` set, under the stochastic occlusion rule of chapter 6's calibration);
``"davis32"`` uses the training clips of DAVIS32 (chapter 7), each epoch mirrored at random.

Fine-tuning (chapter 6): ``init`` starts a new run from a checkpoint's weights with a fresh optimiser
(the card records the parent); ``freeze_bn`` trains with batch normalisation in eval mode, so that
small batches do not re-estimate the running scales the trained network relies on; ``contact_boost``
oversamples the Moving Leaves pairs that the past predicts to be a first contact of the two disks.
"""
from __future__ import annotations

import csv
import io
import math
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import pair_windows
from .files import atomic_save, atomic_write_text
from .metrics import psnr
from .unet import UNet, stack_inputs

__all__ = [
    "TrainConfig",
    "TrainingDiverged",
    "DataSource",
    "LeavesSource",
    "Davis32Source",
    "DATA_SOURCES",
    "make_source",
    "derive_seed",
    "sample_sigmas",
    "add_noise",
    "Trainer",
    "train",
    "read_checkpoint",
    "CHECKPOINT_NAME",
    "BEST_NAME",
    "LOG_NAME",
    "TRAIN_FORMAT",
]

TRAIN_FORMAT = "scoretutor-train-v1"
CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"  # the state of the epoch with the lowest validation loss so far
LOG_NAME = "log.csv"
LOG_FIELDS = ("epoch", "train_loss", "val_loss", "val_psnr", "lr", "seconds")


# --------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """Everything a training run needs. Fields in :attr:`RUNTIME` may change when resuming."""

    data: str = "leaves"
    k: int = 2
    width: int = 64
    scales: int = 3
    prediction_only: bool = False
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 5  # epochs without improvement before the learning rate is halved
    min_lr: float = 1e-6
    train_sequences: int = 2000  # fresh sequences per epoch
    val_sequences: int = 200  # fixed validation sequences
    seed: int = 0
    p_larger_front: float | None = None  # leaves only: stochastic occlusion rule with this probability
    contact_boost: int = 1  # leaves only: predicted first-contact pairs repeated this many times per epoch
    init: str | None = None  # a checkpoint (shipped name, .pt file, run folder) whose weights start a new run
    freeze_bn: bool = False  # batch norm in eval mode while training: fixed running scales (for fine-tuning)
    # run-time settings (free to change on resume)
    out: str = "runs/train"
    device: str | None = None
    amp: bool = True  # mixed precision on CUDA (bf16 if compute capability >= 8, else fp16 + GradScaler)
    channels_last: bool | None = None  # None: on CUDA only
    compile: bool = False
    time_limit: float | None = None  # minutes
    threads: int | None = None

    RUNTIME = ("epochs", "out", "device", "amp", "channels_last", "compile", "time_limit", "threads", "patience")

    def __post_init__(self):
        ints = {
            "k": 0, "width": 1, "scales": 1, "epochs": 1, "batch_size": 1, "patience": 0,
            "train_sequences": 1, "val_sequences": 1, "seed": 0, "contact_boost": 1,
        }
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("lr", "min_lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be a positive number of minutes or None, got {self.time_limit!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")
        if self.data not in DATA_SOURCES:
            raise ValueError(f"unknown data {self.data!r}; available: {', '.join(sorted(DATA_SOURCES))}")
        if self.prediction_only and self.k == 0:
            raise ValueError("prediction_only needs k >= 1")
        if self.p_larger_front is not None:
            if self.data != "leaves":
                raise ValueError(f"p_larger_front only applies to data='leaves', not data={self.data!r}")
            if isinstance(self.p_larger_front, bool) or not isinstance(self.p_larger_front, (int, float)) \
                    or not 0.0 <= self.p_larger_front <= 1.0:
                raise ValueError(f"p_larger_front must be a probability in [0, 1], got {self.p_larger_front!r}")
        if self.contact_boost > 1:
            if self.data != "leaves":
                raise ValueError(f"contact_boost only applies to data='leaves', not data={self.data!r}")
            if self.k < 2:
                raise ValueError(f"contact_boost > 1 needs k >= 2 past frames (motion is extrapolated), got k={self.k}")
        if self.init is not None and (not isinstance(self.init, str) or not self.init):
            raise ValueError(f"init must be a checkpoint name or path (a non-empty str) or None, got {self.init!r}")

    def model_config(self) -> dict:
        return {"k": self.k, "width": self.width, "scales": self.scales, "prediction_only": self.prediction_only}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in d.items() if key in names})


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says where and what to try."""


# --------------------------------------------------------------------------- data sources


def derive_seed(seed: int, *key: int) -> int:
    """A 32-bit seed derived from ``(seed, *key)`` (NumPy SeedSequence): independent streams per key."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(int(k) for k in key))
    return int(ss.generate_state(1)[0])


class DataSource:
    """Interface of a training data source: frames ``float32 (N, T, H, W)`` in [0, 1] as NumPy arrays."""

    name = "abstract"

    def train_frames(self, epoch: int) -> np.ndarray:  # fresh (or fixed) training sequences for an epoch
        raise NotImplementedError

    def val_frames(self) -> np.ndarray:  # fixed validation sequences
        raise NotImplementedError

    def describe(self) -> str:  # one line for model cards
        raise NotImplementedError


# Stream keys for derive_seed: training epochs use (0, epoch), validation (1,). Held-out evaluation
# sets use their own fixed seed (HELD_OUT_SEED), which no training run derives.
_TRAIN_KEY, _VAL_KEY = 0, 1
HELD_OUT_SEED = 1_000_003


class LeavesSource(DataSource):
    """Moving Leaves (chapter 3): ``train_sequences`` fresh sequences per epoch, drawn with
    ``leaves.generate(n, seed=derive_seed(seed, 0, epoch))``; validation ``leaves.generate(n,
    seed=derive_seed(seed, 1))``. ``options`` are passed to :func:`scoretutor.leaves.generate`.

    ``contact_boost`` > 1 (with ``k`` >= 2 past frames) oversamples the moment that decides an
    occlusion order (chapter 6): each epoch is then returned as its ``(k + 1)``-frame pairs, ``(M, k + 1,
    H, W)``, and every pair that :func:`scoretutor.leaves.predicted_contacts` flags (apart in the last
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
        self.contact_boost = int(contact_boost)
        self.k = int(k)
        if self.contact_boost < 1:
            raise ValueError(f"contact_boost must be an integer >= 1, got {contact_boost!r}")
        if self.contact_boost > 1 and self.k < 2:
            raise ValueError(f"contact_boost > 1 needs k >= 2 past frames (motion is extrapolated), got k={k}")
        self.options = dict(options)

    def _generate(self, n: int, seed: int, with_meta: bool = False):
        from . import leaves

        frames, meta = leaves.generate(n, seed=seed, **self.options)
        frames = np.asarray(frames, dtype=np.float32)
        return (frames, meta) if with_meta else frames

    def train_frames(self, epoch: int) -> np.ndarray:
        seed = derive_seed(self.seed, _TRAIN_KEY, epoch)
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
        return self._generate(self.val_sequences, derive_seed(self.seed, _VAL_KEY))

    def held_out_frames(self, n: int, seed: int = HELD_OUT_SEED) -> np.ndarray:
        """Sequences for evaluation, from a seed that training never derives."""
        return self._generate(n, seed)

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        boost = (f"; pairs predicted from the past to be a first contact (scoretutor.leaves.predicted_contacts, "
                 f"k={self.k}) repeated {self.contact_boost} times per epoch" if self.contact_boost > 1 else "")
        return (
            f"Moving Leaves (scoretutor.leaves.generate{'(' + opts + ')' if opts else ', default options'}): "
            f"{self.train_sequences} fresh sequences per epoch from seeds derived from (seed={self.seed}, epoch)"
            f"{boost}; {self.val_sequences} fixed validation sequences from a separate derived seed"
        )


class Davis32Source(DataSource):
    """DAVIS32 (chapter 7): the clips of the ``"train"`` split of :func:`scoretutor.davis.load_davis32`
    (``$SCORETUTOR_DAVIS_ROOT``, or the downloaded copy), 11 frames of 32×32.

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

    def _clips(self, split: str):
        from .davis import load_davis32

        return load_davis32(split, **self.options)  # Davis32: frames uint8 (N, T, H, W), manifest

    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        if self._train is None:
            data = self._clips("train")
            self._manifest, clips = data.manifest, data.frames
            held = np.zeros(len(clips), dtype=bool)
            held[:: self.val_every] = True
            self._train, self._val = clips[~held], clips[held]
        return self._train, self._val

    def train_frames(self, epoch: int) -> np.ndarray:
        clips = self._split()[0]
        rng = np.random.default_rng(derive_seed(self.seed, _TRAIN_KEY, epoch))
        flip = rng.random(len(clips)) < 0.5
        out = clips.astype(np.float32) / np.float32(255.0)
        out[flip] = out[flip, :, :, ::-1]
        return out

    def val_frames(self) -> np.ndarray:
        return self._split()[1].astype(np.float32) / np.float32(255.0)

    def held_out_frames(self, n: int, seed: int = HELD_OUT_SEED) -> np.ndarray:
        """``n`` test-split clips, evenly spaced over the split (all of them when ``n`` exceeds it);
        ``seed`` is unused (the test split is fixed)."""
        clips = self._clips("test").frames
        idx = np.unique(np.linspace(0, len(clips) - 1, min(int(n), len(clips))).round().astype(int))
        return clips[idx].astype(np.float32) / np.float32(255.0)

    def describe(self) -> str:
        train, val = self._split()
        manifest = self._manifest
        return (
            f"DAVIS32 (scoretutor.davis.load_davis32) built from {len(manifest['sequences'])} DAVIS sequences "
            f"({manifest['frames']} frames); train split: {len(train)} clips, each epoch mirrored left-right "
            f"at random; every {self.val_every}th train clip ({len(val)}) held back for validation; "
            f"test sequences never used in training"
        )


def _leaves_source(cfg: "TrainConfig") -> LeavesSource:
    options = {} if cfg.p_larger_front is None else {"rule": "stochastic", "p_larger_front": float(cfg.p_larger_front)}
    return LeavesSource(cfg.seed, cfg.train_sequences, cfg.val_sequences,
                        contact_boost=cfg.contact_boost, k=cfg.k, **options)


#: name -> factory(config) returning a DataSource
DATA_SOURCES: dict[str, Callable[["TrainConfig"], DataSource]] = {
    "leaves": _leaves_source,
    "davis32": lambda cfg: Davis32Source(cfg.seed),
}


def make_source(config: TrainConfig) -> DataSource:
    """The data source that ``config.data`` names."""
    return DATA_SOURCES[config.data](config)


# --------------------------------------------------------------------------- noise and pairs


def sample_sigmas(n: int, *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """``n`` noise levels with ``sqrt(sigma) ~ U(0, 1)``: float32 ``(n,)`` in [0, 1]. Taught in chapter 5.

    The density of ``sigma`` is ``1 / (2 sqrt(sigma))``: small levels are drawn more often than with a
    uniform law, which the fine details of the score need.
    """
    u = torch.rand(n, generator=generator, device=device)
    return u * u


def add_noise(target: torch.Tensor, sigma: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``target + sigma * z`` with ``z ~ N(0, I)``: ``target (B, 1, H, W)``, ``sigma (B,)``. Taught in chapter 5."""
    z = torch.randn(target.shape, generator=generator, device=target.device, dtype=target.dtype)
    return target + sigma.to(target.dtype).view(-1, *([1] * (target.dim() - 1))) * z


# --------------------------------------------------------------------------- the trainer


def _amp_dtype(device: torch.device, amp: bool):
    if not amp or device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


class Trainer:
    """One optimisation step of the blind universal denoising objective, on any device.

    Holds the model, the optimiser and the precision settings; :meth:`step` takes a batch of
    ``past (B, k, H, W)`` and ``target (B, 1, H, W)`` on the model's device, draws the noise with
    ``generator`` and returns the loss as a 0-d tensor (not synchronised). The benchmark uses it too.
    """

    def __init__(self, model: UNet, *, lr: float = 1e-3, device=None, amp: bool = True,
                 channels_last: bool | None = None, compile: bool = False, freeze_bn: bool = False):
        self.freeze_bn = bool(freeze_bn)
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model = model.to(self.device)
        self.amp_dtype = _amp_dtype(self.device, amp)
        self.channels_last = (self.device.type == "cuda") if channels_last is None else bool(channels_last)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.device.type == "cuda" or compile:
            # the loss is checked instead (avoids a device sync per step, and a graph break under compile)
            self.model.check_finite = False
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.net = torch.compile(self.model) if compile else self.model

    def _input(self, past, noisy):
        x = stack_inputs(past, None if self.model.prediction_only else noisy)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def step(self, past: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # freeze_bn: the network trains exactly as it is evaluated (running scales fixed, still learnable gains)
        self.model.train(not self.freeze_bn)
        sigma = sample_sigmas(target.shape[0], generator=generator, device=target.device)
        noisy = add_noise(target, sigma, generator=generator)
        x = self._input(past, noisy)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            out = self.net(x)
        loss = F.mse_loss(out.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Eval-mode outputs (float32) for an input ``(B, C, H, W)``, in batches."""
        self.model.eval()
        outs = []
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size]
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
                outs.append(self.model(xb).float())
        return torch.cat(outs)


# --------------------------------------------------------------------------- random states


def _rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state({
        "bit_generator": n["bit_generator"],
        "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
        "has_gauss": n["has_gauss"],
        "gauss": n["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- helpers


def git_commit() -> str:
    """The code's git commit (``HEAD``, with ``+dirty`` when tracked files differ from it). Outside a
    git checkout (a copy of the tree sent to a GPU machine): ``$SCORETUTOR_COMMIT`` if set, marked as
    such, else ``"unknown"``."""
    import os
    import subprocess

    outside = os.environ.get("SCORETUTOR_COMMIT")
    outside = f"{outside} (from $SCORETUTOR_COMMIT)" if outside else "unknown"

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=here)
        if head.returncode != 0 or not head.stdout.strip():
            return outside
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, cwd=here)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return outside


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA), torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    threads = torch.get_num_threads()
    return f"CPU {cpu}, {threads} thread{'' if threads == 1 else 's'}, torch {torch.__version__}"


def _write_log(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({key: row[key] for key in LOG_FIELDS})
    atomic_write_text(buf.getvalue(), path)


def read_checkpoint(run_dir, which: str = "last") -> dict:
    """Read a run folder's ``checkpoint.pt`` (``which="last"``, what resuming continues from) or
    ``best.pt`` (``which="best"``, the epoch with the lowest validation loss) as a dict (weights_only)."""
    if which not in ("last", "best"):
        raise ValueError(f"which must be 'last' or 'best', got {which!r}")
    path = Path(run_dir) / (CHECKPOINT_NAME if which == "last" else BEST_NAME)
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} cannot be read as a scoretutor training checkpoint: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("format") != TRAIN_FORMAT:
        raise ValueError(f"{path} is not a scoretutor training checkpoint (format {TRAIN_FORMAT!r})")
    return obj


_PARENT_KEYS = ("command", "commit", "data", "epochs", "wall_time_s", "hardware")


def _load_init(model: UNet, init: str) -> dict:
    """Copy the weights of checkpoint ``init`` (shipped name, ``.pt`` file or run folder) into ``model``,
    whose architecture must match; returns a record of the parent for the new run's model card."""
    from .checkpoints import load, resolve

    path = resolve(init)
    parent_model, card = load(path, with_card=True)
    if parent_model.config != model.config:
        raise ValueError(
            f"init checkpoint {init!r} has architecture {parent_model.config}, but this run asks for {model.config}"
        )
    model.load_state_dict(parent_model.state_dict())
    record = {"checkpoint": str(init)}
    record.update({key: card[key] for key in _PARENT_KEYS if card.get(key) is not None})
    if card.get("parent"):
        record["parent"] = card["parent"]  # the lineage, however long
    return record


def _diverged_message(epoch, step, steps, value, lr, batch_size, amp_dtype, last_epoch) -> str:
    kept = f"the checkpoint of epoch {last_epoch} is kept" if last_epoch else "no checkpoint was written"
    tips = [f"a lower learning rate (e.g. --lr {lr / 4:g})", f"a smaller batch size than {batch_size}"]
    if amp_dtype is not None:
        tips.append("full precision (--no-amp)")
    return (
        f"training stopped: the loss became {value} at epoch {epoch}, step {step} of {steps}; {kept}. "
        f"Try {', or '.join(tips)}, then resume (--resume) or start a fresh run folder."
    )


# --------------------------------------------------------------------------- the loop


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    source: DataSource | None = None,
    command: str | None = None,
    progress: bool | None = None,
    verbose: bool = False,
) -> dict:
    """Train (or resume) a run in ``config.out``; returns ``{"history", "stopped", "epoch", "run_dir"}``.

    ``stopped`` is ``"epochs"`` (all done), ``"time_limit"`` (stopped cleanly after an epoch, resumable).
    A NaN or infinite loss raises :class:`TrainingDiverged`; the last checkpoint stays valid.
    ``resume=True`` continues from ``config.out/checkpoint.pt`` if it exists (else starts fresh); the
    architecture and data fields of ``config`` must then match the saved run.
    ``source`` overrides the data source that ``config.data`` names (tests use it).
    """
    from .config import get_device, show_progress

    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    t_start = time.perf_counter()
    run_dir = Path(config.out)
    ckpt_path = run_dir / CHECKPOINT_NAME
    saved = None
    if ckpt_path.exists():
        if not resume:
            raise ValueError(
                f"{ckpt_path} exists: pass resume=True (--resume) to continue that run, or choose another output folder"
            )
        saved = read_checkpoint(run_dir)
        old = TrainConfig.from_dict(saved["config"])
        diffs = [
            f"{f.name}: saved {getattr(old, f.name)!r}, given {getattr(config, f.name)!r}"
            for f in fields(TrainConfig)
            if f.name not in TrainConfig.RUNTIME and getattr(old, f.name) != getattr(config, f.name)
        ]
        if diffs:
            raise ValueError(f"cannot resume {run_dir}: the configuration differs from the saved run ({'; '.join(diffs)})")
    run_dir.mkdir(parents=True, exist_ok=True)

    if config.threads:
        torch.set_num_threads(config.threads)
    device = get_device(config.device, verbose=False)
    if progress is None:
        progress = show_progress()
    say = (lambda *a: print(*a, flush=True)) if verbose else (lambda *a: None)

    torch.manual_seed(config.seed)
    model = UNet(**config.model_config())
    parent = None
    if saved is not None:
        model.load_state_dict(saved["model"])
        parent = saved.get("parent")
    elif config.init is not None:
        parent = _load_init(model, config.init)
        say(f"initialised from {parent['checkpoint']}")
    trainer = Trainer(model, lr=config.lr, device=device, amp=config.amp,
                      channels_last=config.channels_last, compile=config.compile, freeze_bn=config.freeze_bn)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        trainer.optimizer, mode="min", factor=0.5, patience=config.patience, min_lr=config.min_lr
    )
    history: list[dict] = []
    start_epoch = 0
    wall_before = 0.0
    commands: list[str] = []
    hardware: list[str] = []
    commits: list[str] = []
    if saved is not None:
        trainer.optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scheduler.patience = config.patience  # the one schedule setting a resumed run may change
        if saved.get("scaler"):
            trainer.scaler.load_state_dict(saved["scaler"])
        _set_rng_state(saved["rng"])
        history = list(saved["history"])
        start_epoch = int(saved["epoch"])
        wall_before = float(saved.get("wall_time_s", 0.0))
        commands = list(saved.get("commands", []))
        hardware = list(saved.get("hardware", []))
        commits = list(saved.get("commits", []))
        say(f"resuming {run_dir} after epoch {start_epoch}")
    elif resume:
        say(f"no checkpoint in {run_dir}: starting a new run")
    commands.append(command or " ".join(sys.argv))
    hw = _hardware(device)
    if hw not in hardware:
        hardware.append(hw)
    commit = git_commit()
    if commit not in commits:
        commits.append(commit)

    source = source if source is not None else make_source(config)
    data_description = source.describe()
    k = config.k

    # fixed validation set and noise
    val = torch.from_numpy(np.ascontiguousarray(source.val_frames(), dtype=np.float32))
    if val.dim() != 4 or val.shape[1] <= k:
        raise ValueError(f"validation frames must be (N, T, H, W) with T > k={k}, got {tuple(val.shape)}")
    g_val = torch.Generator().manual_seed(derive_seed(config.seed, _VAL_KEY, 1))
    val_index = torch.arange(val.shape[0] * (val.shape[1] - k))
    val_past, val_target = pair_windows(val, k, val_index)
    val_sigma = sample_sigmas(val_target.shape[0], generator=g_val)
    val_noisy = add_noise(val_target, val_sigma, generator=g_val)
    val_x = stack_inputs(val_past, None if config.prediction_only else val_noisy).to(device)
    val_target = val_target.to(device)

    epoch_iter = range(start_epoch, config.epochs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, initial=start_epoch, desc="epochs", leave=False)
    stopped = "epochs"
    check_every = 1 if device.type == "cpu" else 50
    last_seconds = 0.0
    try:
        for epoch in epoch_iter:
            t0 = time.perf_counter()
            frames = torch.from_numpy(np.ascontiguousarray(source.train_frames(epoch), dtype=np.float32)).to(device)
            if frames.dim() != 4 or frames.shape[1] <= k:
                raise ValueError(f"training frames must be (N, T, H, W) with T > k={k}, got {tuple(frames.shape)}")
            n_pairs = frames.shape[0] * (frames.shape[1] - k)
            steps = n_pairs // config.batch_size
            if steps == 0:
                raise ValueError(
                    f"batch_size={config.batch_size} exceeds the {n_pairs} training pairs of an epoch; "
                    "use more training sequences or a smaller batch"
                )
            gen = torch.Generator(device=device).manual_seed(derive_seed(config.seed, _TRAIN_KEY, epoch, 1))
            perm = torch.randperm(n_pairs, generator=gen, device=device)
            lr = trainer.optimizer.param_groups[0]["lr"]
            losses: list[torch.Tensor] = []
            for step in range(steps):
                idx = perm[step * config.batch_size:(step + 1) * config.batch_size]
                past, target = pair_windows(frames, k, idx)
                losses.append(trainer.step(past, target, gen))
                if (step + 1) % check_every == 0 or step + 1 == steps:
                    recent = torch.stack(losses[-check_every:])
                    bad = ~torch.isfinite(recent)
                    if bool(bad.any()):
                        first = int(bad.nonzero()[0, 0])
                        bad_step = len(losses) - recent.shape[0] + first + 1
                        raise TrainingDiverged(_diverged_message(
                            epoch + 1, bad_step, steps, float(recent[first]), lr, config.batch_size,
                            trainer.amp_dtype, len(history)))
            train_loss = float(torch.stack(losses).mean())
            out = trainer.predict(val_x)
            val_loss = float(F.mse_loss(out, val_target))
            val_psnr = float(psnr(out, val_target, reduce=False).mean())
            if not math.isfinite(val_loss):
                raise TrainingDiverged(_diverged_message(
                    epoch + 1, "validation", steps, val_loss, lr, config.batch_size, trainer.amp_dtype, len(history)))
            scheduler.step(val_loss)
            seconds = time.perf_counter() - t0
            last_seconds = seconds
            row = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_psnr": val_psnr,
                   "lr": lr, "seconds": round(seconds, 3)}
            history.append(row)
            elapsed = time.perf_counter() - t_start
            state = {
                "format": TRAIN_FORMAT,
                "config": config.to_dict(),
                "model_config": model.config,
                "model": {key: v.detach().to("cpu") for key, v in model.state_dict().items()},
                "optimizer": trainer.optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": trainer.scaler.state_dict() if trainer.scaler.is_enabled() else {},
                "rng": _rng_state(),
                "epoch": epoch + 1,
                "history": history,
                "wall_time_s": wall_before + elapsed,
                "commands": commands,
                "hardware": hardware,
                "commits": commits,
                "data": data_description,
                "torch_version": str(torch.__version__),
                "parent": parent,
            }
            atomic_save(state, ckpt_path)
            if val_loss <= min(row["val_loss"] for row in history):
                atomic_save(state, run_dir / BEST_NAME)
            _write_log(run_dir / LOG_NAME, history)
            say(
                f"epoch {epoch + 1}/{config.epochs}  train {train_loss:.5f}  val {val_loss:.5f}  "
                f"val PSNR {val_psnr:.2f} dB  lr {lr:.3g}  {seconds:.1f} s"
            )
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
            if config.time_limit is not None and epoch + 1 < config.epochs:
                if elapsed + last_seconds > config.time_limit * 60:
                    stopped = "time_limit"
                    say(f"time limit of {config.time_limit:g} min reached after epoch {epoch + 1}: stopping (resumable)")
                    break
    finally:
        if bar is not None:
            bar.close()
    done_epoch = history[-1]["epoch"] if history else 0
    return {"history": history, "stopped": stopped, "epoch": done_epoch, "run_dir": str(run_dir)}
