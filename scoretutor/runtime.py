"""Run-time set-up shared by every chapter: seeding, device choice and the experiment profile.
Taught in chapter 1.

One switch chooses between two budgets (taught in chapter 1, used everywhere):

* ``"quick"``: CPU-sized experiments (small sample counts, pretrained checkpoints) that run in a
  few minutes on a 2-core laptop;
* ``"full"``: the paper's full-size experiments, for a GPU kernel.

The profile follows the device (GPU → full, otherwise quick) unless the environment variable
``SCORETUTOR_PROFILE`` says ``quick`` or ``full``. The device itself can be forced with
``SCORETUTOR_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``). :func:`derive_seed` gives the
independent random streams of a training run (chapter 5).
"""
from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass

import numpy as np

from . import checks

__all__ = ["PROFILES", "seed_everything", "derive_seed", "get_device", "get_profile", "Setup", "setup",
           "headless", "show_progress"]

PROFILES = ("quick", "full")


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python's, NumPy's and PyTorch's global generators; return a fresh NumPy Generator.

    Chapters call this once at the top so that every figure and number is reproducible. Taught in chapter 1.
    """
    seed = checks.integer(seed, "seed", 0)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # the toy chapters need no torch
        pass
    return np.random.default_rng(seed)


def derive_seed(seed: int, *key: int) -> int:
    """A 32-bit seed derived from ``(seed, *key)`` (NumPy SeedSequence): independent streams per key.
    Taught in chapter 5 (a training run's data and noise, epoch by epoch)."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(int(k) for k in key))
    return int(ss.generate_state(1)[0])


def get_device(override: str | None = None, *, verbose: bool = True):
    """Pick the torch device: ``override``, else ``$SCORETUTOR_DEVICE``, else CUDA, MPS, CPU.

    When no GPU is found it says so loudly: the chapter then runs its CPU-quick profile. Taught in chapter 1.
    """
    import torch

    if override:
        return checks.device(override, "device")
    name = os.environ.get("SCORETUTOR_DEVICE") or None
    if name:
        return checks.device(name, "$SCORETUTOR_DEVICE")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    if verbose:
        print(
            "*** No GPU found: running on the CPU. ***\n"
            "Chapters then use their quick profile (small experiments, pretrained checkpoints)\n"
            "unless SCORETUTOR_PROFILE=full. On Colab: Runtime > Change runtime type > GPU."
        )
    return torch.device("cpu")


def get_profile(device=None, override: str | None = None) -> str:
    """Return ``"quick"`` or ``"full"``: ``override``, else ``$SCORETUTOR_PROFILE``, else by device.
    Taught in chapter 1."""
    name = override or os.environ.get("SCORETUTOR_PROFILE") or None
    if name is not None:
        if name not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {name!r}")
        return name
    return "full" if device is not None and str(device).startswith("cuda") else "quick"


@dataclass(frozen=True)
class Setup:
    """What a chapter's first cell returns: the device, the profile and the seed. Taught in chapter 1."""

    device: object
    profile: str
    seed: int

    @property
    def quick(self) -> bool:
        return self.profile == "quick"

    def pick(self, quick, full):
        """Choose an experiment size by profile: ``S.pick(quick=200, full=10_000)``."""
        return quick if self.quick else full


def setup(seed: int = 0, *, device: str | None = None, profile: str | None = None) -> Setup:
    """Seed everything, choose the device and the profile, and print a one-line summary. Taught in chapter 1."""
    seed_everything(seed)
    dev = get_device(device)
    prof = get_profile(dev, profile)
    print(f"device: {dev.type} | profile: {prof} | seed: {seed}")
    return Setup(device=dev, profile=prof, seed=seed)


def headless() -> bool:
    """True when no person is watching: ``SCORETUTOR_HEADLESS=1`` (set by the test suite and by
    ``tools/execute_notebooks.py``). Then no progress bar is drawn and widgets fall back to a static
    figure, so committed and compared outputs stay free of anything that varies. Chapter 1 explains it."""
    return os.environ.get("SCORETUTOR_HEADLESS", "0") not in ("0", "false", "False", "")


def show_progress() -> bool:
    """Whether library loops should draw tqdm bars: not when headless, else in a notebook or a terminal
    (chapter 1)."""
    if headless():
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()
