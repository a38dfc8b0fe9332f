"""Blind universal denoising training of the conditional U-net. Taught in chapter 5.

The objective (paper, section 2.2): for each training pair (``k`` past frames ``c``, next frame ``x``),
draw a noise level with ``sqrt(sigma) ~ U(0, 1)`` (pixels in [0, 1], so ``sigma`` in [0, 1]), observe
``y = x + sigma * z`` with ``z ~ N(0, I)`` (the past stays clean), and minimise the mean squared
error between ``f(c, y)`` and ``x``. The network is never told ``sigma``: it must infer it.

:func:`train` runs the loop with Adam and a learning rate halved when a deterministic validation
loss (fixed validation sequences and fixed noise) stops improving. After every epoch the run's
record (:mod:`scoretutor.run_record`) writes the whole state to the run folder, atomically, so that
``resume=True`` continues exactly where it stopped: every epoch's data and noise come from
generators seeded by ``(seed, epoch)``, and a run stopped and resumed gives the same losses as one
that was not stopped (on the same device and threads). The data come from a training source of
:mod:`scoretutor.data.sources` (``config.data``: Moving Leaves or DAVIS32).

Fine-tuning (chapter 6): ``init`` starts a new run from a checkpoint's weights with a fresh optimiser
(the card records the parent); ``freeze_bn`` trains with batch normalisation in eval mode, so that
small batches do not re-estimate the running scales the trained network relies on; ``contact_boost``
oversamples the Moving Leaves pairs that the past predicts to be a first contact of the two disks.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F

from . import checks
from .cards import parent_record
from .checkpoints import load, resolve
from .data.pairs import pair_windows
from .data.sources import DATA_SOURCES, TRAIN_STREAM, VAL_STREAM, make_source
from .metrics import psnr
from .run_record import RunRecord, diverged_message
from .runtime import derive_seed, get_device, show_progress
from .unet import UNet, apply_in_batches, stack_inputs

__all__ = ["sample_sigmas", "add_noise", "TrainConfig", "TrainingDiverged", "Trainer", "train"]


# --------------------------------------------------------------------------- the noise law


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


# --------------------------------------------------------------------------- configuration


def _option(default, help: str, **cli):
    """A :class:`TrainConfig` field with its command-line help (``cli``: extra argparse settings)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Everything a training run needs. Taught in chapter 5.

    Each field's ``metadata["help"]`` is its command-line help: ``python -m scoretutor train`` derives
    its options and their defaults from these fields. Fields in :attr:`RUNTIME` may change when resuming.
    """

    data: str = _option("leaves", "training data", choices=tuple(DATA_SOURCES))
    k: int = _option(2, "number of past frames")
    width: int = _option(64, "channels at the first scale")
    scales: int = _option(3, "spatial scales of the U-net")
    prediction_only: bool = _option(False, "no noisy observation channel: predict from the past alone")
    epochs: int = _option(100, "total number of epochs of the run")
    batch_size: int = _option(32, "batch size (the paper: 4)")
    lr: float = _option(1e-3, "initial learning rate of Adam")
    patience: int = _option(5, "epochs without validation improvement before halving the learning rate")
    min_lr: float = _option(1e-6, "lowest learning rate")
    train_sequences: int = _option(2000, "fresh training sequences per epoch")
    val_sequences: int = _option(200, "fixed validation sequences")
    seed: int = _option(0, "seed of the initialisation and the data")
    p_larger_front: float | None = _option(
        None, "leaves only: the stochastic occlusion rule, larger disk in front with this probability "
              "(default: the larger disk is always in front)")
    contact_boost: int = _option(
        1, "leaves, k >= 2: repeat the pairs predicted from the past to be a first contact of the two disks "
           "this many times per epoch (1: no oversampling; chapter 6)")
    init: str | None = _option(
        None, "start a new run from the weights of this checkpoint (a shipped name, a .pt file or a run "
              "folder of the same architecture), with a fresh optimiser: fine-tuning")
    freeze_bn: bool = _option(
        False, "train with batch normalisation in eval mode (its running scales fixed): for fine-tuning "
               "with --init, where small batches would otherwise re-estimate those scales noisily")
    # run-time settings (free to change on resume)
    out: str = _option("runs/train", "run folder (checkpoint.pt, best.pt, log.csv)")
    device: str | None = _option(None, "cpu, cuda, cuda:1, mps (default: automatic)")
    amp: bool = _option(True, "mixed precision on CUDA (bf16 if compute capability >= 8, else fp16 + GradScaler)")
    channels_last: bool | None = _option(None, "channels-last memory format (default: on CUDA only)")
    compile: bool = _option(False, "torch.compile the network (worth it on GPU)")
    time_limit: float | None = _option(
        None, "minutes: stop cleanly after the epoch that would overrun this budget (resumable)")
    threads: int | None = _option(None, "CPU threads for torch (default: torch's choice)")

    #: this session's settings: a resumed run never reads them back from the saved one
    SESSION = ("epochs", "out", "device", "amp", "channels_last", "compile", "time_limit", "threads")
    #: the fields that may differ from the saved run when resuming (the patience is kept unless given)
    RUNTIME = SESSION + ("patience",)

    def __post_init__(self):
        lows = {"k": 0, "width": 1, "scales": 1, "epochs": 1, "batch_size": 1, "patience": 0,
                "train_sequences": 1, "val_sequences": 1, "seed": 0, "contact_boost": 1}
        for name, low in lows.items():
            checks.integer(getattr(self, name), name, low)
        for name in ("lr", "min_lr"):
            checks.positive(getattr(self, name), name)
        if self.time_limit is not None:
            checks.number(self.time_limit, "time_limit", low=0, low_open=True, hint="minutes, or None")
        if self.threads is not None:
            checks.integer(self.threads, "threads", 1, alternatives="or None")
        if self.device is not None:
            checks.device(self.device, "device", available=False)
        if not isinstance(self.out, str) or not self.out.strip():
            raise ValueError(f"out must be a run folder's path (a non-empty str), got {self.out!r}")
        if self.data not in DATA_SOURCES:
            raise ValueError(f"unknown data {self.data!r}; available: {', '.join(sorted(DATA_SOURCES))}")
        if self.prediction_only and self.k == 0:
            raise ValueError("prediction_only needs k >= 1")
        if self.p_larger_front is not None:
            if self.data != "leaves":
                raise ValueError(f"p_larger_front only applies to data='leaves', not data={self.data!r}")
            checks.probability(self.p_larger_front, "p_larger_front")
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
    """The loss became NaN or infinite; the message says where and what to try. Taught in chapter 5."""


# --------------------------------------------------------------------------- the trainer


def _amp_dtype(device: torch.device, amp: bool):
    if not amp or device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


class Trainer:
    """One optimisation step of the blind universal denoising objective, on any device. Taught in chapter 5.

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

    def _forward(self, net, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        dtype = self.amp_dtype or torch.float32
        with torch.autocast(self.device.type, dtype=dtype, enabled=self.amp_dtype is not None):
            return net(x)

    def step(self, past: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # freeze_bn: the network trains exactly as it is evaluated (running scales fixed, still learnable gains)
        self.model.train(not self.freeze_bn)
        sigma = sample_sigmas(target.shape[0], generator=generator, device=target.device)
        noisy = add_noise(target, sigma, generator=generator)
        out = self._forward(self.net, stack_inputs(past, None if self.model.prediction_only else noisy))
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
        return apply_in_batches(lambda xb: self._forward(self.model, xb).float(), x, batch_size=batch_size)


# --------------------------------------------------------------------------- the loop


def _frames(array, k: int, device, what: str) -> torch.Tensor:
    """A source's frames as a float32 ``(N, T, H, W)`` tensor on ``device``, with ``T > k``."""
    frames = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device)
    if frames.dim() != 4:
        raise ValueError(f"{what} frames must be (N, T, H, W), got {tuple(frames.shape)}")
    if frames.shape[1] <= k:
        t = frames.shape[1]
        raise ValueError(f"k must be <= {t - 1} for {t}-frame sequences (k past frames and the next one), "
                         f"got {k}")
    return frames


def _validation_set(source, config: TrainConfig, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair of the fixed validation sequences with fixed noise: the network's input and target."""
    val = _frames(source.val_frames(), config.k, "cpu", "validation")
    g_val = torch.Generator().manual_seed(derive_seed(config.seed, VAL_STREAM, 1))
    past, target = pair_windows(val, config.k, torch.arange(val.shape[0] * (val.shape[1] - config.k)))
    noisy = add_noise(target, sample_sigmas(target.shape[0], generator=g_val), generator=g_val)
    return stack_inputs(past, None if config.prediction_only else noisy).to(device), target.to(device)


def _check_losses(losses: list[torch.Tensor], recent: int, where: dict) -> None:
    """Raise :class:`TrainingDiverged` if one of the last ``recent`` losses is NaN or infinite."""
    window = torch.stack(losses[-recent:])
    bad = ~torch.isfinite(window)
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        step = len(losses) - window.shape[0] + first + 1
        raise TrainingDiverged(diverged_message(step=step, value=float(window[first]), **where))


def train(config: TrainConfig, *, resume: bool = False, source=None, command: str | None = None,
          progress: bool | None = None, verbose: bool = False) -> dict:
    """Train (or resume) a run in ``config.out``; returns ``{"history", "stopped", "epoch", "run_dir"}``.
    Taught in chapter 5.

    ``stopped`` is ``"epochs"`` (all done), ``"time_limit"`` (stopped cleanly after an epoch, resumable).
    A NaN or infinite loss raises :class:`TrainingDiverged`; the last checkpoint stays valid.
    ``resume=True`` continues from ``config.out/checkpoint.pt`` if it exists (else starts fresh); the
    architecture and data fields of ``config`` must then match the saved run.
    ``source`` overrides the data source that ``config.data`` names (tests use it).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if config.device is not None:  # before the run folder is touched
        checks.device(config.device, "device")
    elif os.environ.get("SCORETUTOR_DEVICE"):
        checks.device(os.environ["SCORETUTOR_DEVICE"], "$SCORETUTOR_DEVICE")
    t_start = time.perf_counter()
    record = RunRecord.open(config, resume=resume, command=command)
    try:
        return _run(record, config, t_start, resume, source, progress, verbose)
    finally:
        record.close()


def _run(record: RunRecord, config: TrainConfig, t_start: float, resume: bool, source, progress,
         verbose: bool) -> dict:
    """The body of :func:`train`, once the run folder is open (and locked)."""
    show = show_progress() if progress is None else bool(progress)
    say = _say(show) if verbose else (lambda *a: None)
    for note in record.notes:
        say(f"note: {note}") if verbose else warnings.warn(note, RuntimeWarning, stacklevel=3)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = get_device(config.device, verbose=False)
    record.note_device(device)

    torch.manual_seed(config.seed)
    model = UNet(**config.model_config())
    if record.saved is None and config.init is not None:
        record.parent = _init_weights(model, config.init)
        say(f"initialised from {record.parent['checkpoint']}")
    trainer = Trainer(model, lr=config.lr, device=device, amp=config.amp,
                      channels_last=config.channels_last, compile=config.compile, freeze_bn=config.freeze_bn)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        trainer.optimizer, mode="min", factor=0.5, patience=config.patience, min_lr=config.min_lr)
    record.restore(model, trainer.optimizer, scheduler, trainer.scaler, patience=config.patience)
    if record.saved is not None and record.epoch >= config.epochs:
        done = f"{record.epoch} epoch{'' if record.epoch == 1 else 's'}"
        note = (f"the run in {record.run_dir} has already finished {done}, no fewer than the {config.epochs} "
                "asked for (--epochs): nothing to train; ask for more epochs to continue it")
        say(f"note: {note}") if verbose else warnings.warn(note, RuntimeWarning, stacklevel=3)
    elif record.saved is not None:
        say(f"resuming {record.run_dir} after epoch {record.epoch}")
    elif resume:
        say(f"no checkpoint in {record.run_dir}: starting a new run")

    source = source if source is not None else make_source(config)
    record.data = source.describe()
    record.data_fields = source.data_fields()
    val_x, val_target = _validation_set(source, config, device)
    k, batch = config.k, config.batch_size
    check_every = 1 if device.type == "cpu" else 50  # a loss check costs a device sync on a GPU
    stopped, last_seconds = "epochs", 0.0
    for epoch in range(record.epoch, config.epochs):
        t0 = time.perf_counter()
        frames = _frames(source.train_frames(epoch), k, device, "training")
        n_pairs = frames.shape[0] * (frames.shape[1] - k)
        steps = n_pairs // batch
        if steps == 0:
            raise ValueError(f"batch_size={batch} exceeds the {n_pairs} training pairs of an epoch; "
                             "use more training sequences or a smaller batch")
        gen = torch.Generator(device=device).manual_seed(derive_seed(config.seed, TRAIN_STREAM, epoch, 1))
        perm = torch.randperm(n_pairs, generator=gen, device=device)
        lr = trainer.optimizer.param_groups[0]["lr"]
        where = dict(epoch=epoch + 1, steps=steps, lr=lr, batch_size=batch, amp_dtype=trainer.amp_dtype,
                     last_epoch=len(record.history))
        losses: list[torch.Tensor] = []
        with _step_bar(show, steps, epoch + 1, config.epochs) as bar:
            for step in range(steps):
                past, target = pair_windows(frames, k, perm[step * batch:(step + 1) * batch])
                losses.append(trainer.step(past, target, gen))
                if (step + 1) % check_every == 0 or step + 1 == steps:
                    _check_losses(losses, check_every, where)
                    if bar is not None:
                        # drawn at least once per epoch, at its last step, however fast the steps
                        bar.set_postfix(loss=f"{float(losses[-1]):.4f}", refresh=step + 1 == steps)
                if bar is not None:
                    bar.update(1)
        out = trainer.predict(val_x)
        val_loss = float(F.mse_loss(out, val_target))
        if not math.isfinite(val_loss):
            raise TrainingDiverged(diverged_message(step="validation", value=val_loss, **where))
        scheduler.step(val_loss)
        last_seconds = time.perf_counter() - t0
        row = {"epoch": epoch + 1, "train_loss": float(torch.stack(losses).mean()), "val_loss": val_loss,
               "val_psnr": float(psnr(out, val_target, reduce=False).mean()), "lr": lr,
               "seconds": round(last_seconds, 3)}
        elapsed = time.perf_counter() - t_start
        record.save_epoch(row, model, trainer.optimizer, scheduler, trainer.scaler, elapsed)
        say(f"epoch {epoch + 1}/{config.epochs}  train {row['train_loss']:.5f}  val {val_loss:.5f}  "
            f"val PSNR {row['val_psnr']:.2f} dB  lr {lr:.3g}  {last_seconds:.1f} s")
        if config.time_limit is not None and epoch + 1 < config.epochs \
                and elapsed + last_seconds > config.time_limit * 60:
            stopped = "time_limit"
            say(f"time limit of {config.time_limit:g} min reached after epoch {epoch + 1}: stopping (resumable)")
            break
    done = record.history[-1]["epoch"] if record.history else 0
    return {"history": record.history, "stopped": stopped, "epoch": done, "run_dir": str(record.run_dir)}


def _say(show: bool):
    """Print a line, through ``tqdm.write`` when bars are drawn (so it does not land on a bar)."""
    if not show:
        return lambda *a: print(*a, flush=True)
    from tqdm.auto import tqdm

    return lambda *a: tqdm.write(" ".join(str(x) for x in a))


def _step_bar(show: bool, steps: int, epoch: int, epochs: int):
    """A tqdm bar over one epoch's steps, with the loss (a no-op context giving None when not shown)."""
    if not show:
        return contextlib.nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False)


def _option_text(key: str, value) -> str:
    """A config field as the command-line option that sets it (``width=32`` -> ``--width 32``)."""
    flag = "--" + key.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else f"no {flag}"
    return f"{flag} {value}"


def _init_weights(model: UNet, init: str) -> dict:
    """Copy the weights of checkpoint ``init`` (shipped name, ``.pt`` file or run folder) into ``model``,
    whose architecture must match; returns the parent's record for the new run's card (its lineage)."""
    parent_model, card = load(resolve(init), with_card=True)
    if parent_model.config != model.config:
        differ = [key for key, value in parent_model.config.items() if model.config.get(key) != value]
        has = ", ".join(f"{key} {parent_model.config[key]}" for key in differ)
        asks = ", ".join(f"{key} {model.config.get(key)}" for key in differ)
        fix = ", ".join(_option_text(key, parent_model.config[key]) for key in differ)
        raise ValueError(f"init checkpoint {init!r} has architecture ({has}), but this run asks for "
                         f"({asks}): give the same architecture ({fix})")
    model.load_state_dict(parent_model.state_dict())
    return parent_record(init, card)
