"""Checks for chapter 4's exercises (the conditional bias-free U-net). Each runs the learner's function
and the library's own on fresh random inputs and returns the function the notebook should go on with."""
from __future__ import annotations

import numpy as np
import torch

from .. import linearity
from ..unet import BiasFreeBatchNorm2d, UNet
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_bias_free_norm", "check_parameter_count", "check_jvp"]


def _tensor(rng: np.random.Generator, shape, low=None, high=None) -> torch.Tensor:
    values = rng.uniform(low, high, size=shape) if low is not None else rng.normal(size=shape)
    return torch.from_numpy(values.astype(np.float32))


def _library_norm(x: torch.Tensor, running_sd: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The library's :class:`BiasFreeBatchNorm2d` in eval mode with the given statistics and scale."""
    layer = BiasFreeBatchNorm2d(x.shape[1])
    with torch.no_grad():
        layer.running_sd.copy_(running_sd)
        layer.scale.copy_(scale)
    layer.eval()
    with torch.no_grad():
        return layer(x)


def check_bias_free_norm(fn):
    """Exercise 4.1: ``fn(x, running_sd, scale)`` -> the bias-free batch norm's output in eval mode,
    ``x (B, C, H, W)``, ``running_sd (C,)``, ``scale (C,)`` (reference:
    :class:`scoretutor.unet.BiasFreeBatchNorm2d` in eval mode). The inputs have a clearly non-zero
    mean, so a version that subtracts a mean is caught."""

    def inputs(rng):
        b, c, h, w = (int(v) for v in rng.integers(1, 6, size=4))
        x = _tensor(rng, (b, c, h, w)) + float(rng.uniform(1, 3))
        return (x, _tensor(rng, (c,), 0.2, 3.0), _tensor(rng, (c,), -2.0, 2.0))

    return _check_function(fn, _library_norm, inputs, name="Exercise 4.1 (bias_free_norm)",
                          trials=6, rtol=1e-5, atol=1e-6)


def _library_count(k: int, width: int, scales: int) -> int:
    """Number of trainable parameters of the library's ``UNet(k, width, scales)``."""
    return sum(p.numel() for p in UNet(k=k, width=width, scales=scales).parameters())


def check_parameter_count(fn):
    """Exercise 4.2: ``fn(k, width, scales)`` -> the number of trainable parameters of the conditional
    bias-free U-net (reference: counting the parameters of :class:`scoretutor.unet.UNet`)."""

    def inputs(rng):
        return (int(rng.integers(0, 4)), int(rng.integers(1, 25)), int(rng.integers(1, 5)))

    return _check_function(fn, _library_count, inputs, name="Exercise 4.2 (parameter_count)",
                          trials=8, rtol=0, atol=0)


class _SmallUNet(UNet):
    """A UNet whose repr is one line, so that a verdict names it briefly."""

    def __repr__(self) -> str:
        return f"UNet(k={self.k}, width={self.width})"


def _small_net(rng: np.random.Generator) -> tuple[UNet, int]:
    """A small U-net in eval mode with running statistics set by a few training-mode passes."""
    k, width = int(rng.integers(0, 3)), int(rng.integers(2, 5))
    torch.manual_seed(int(rng.integers(2**31)))
    model = _SmallUNet(k=k, width=width)
    with torch.no_grad():
        for _ in range(2):
            model(_tensor(rng, (4, k + 1, 8, 8), 0.0, 1.0))
    return model.eval(), k


def check_jvp(fn):
    """Exercise 4.3: ``fn(model, x, v)`` -> the Jacobian-vector product ``J(x) v`` of ``model`` at ``x``,
    shape of the output ``(B, 1, H, W)`` (reference: :func:`scoretutor.linearity.jvp`). The direction
    ``v`` is random, not ``x``, so returning ``model(x)`` is not enough."""

    def inputs(rng):
        model, k = _small_net(rng)
        b = int(rng.integers(1, 3))
        return (model, _tensor(rng, (b, k + 1, 8, 8), 0.0, 1.0), _tensor(rng, (b, k + 1, 8, 8)))

    return _check_function(fn, linearity.jvp, inputs, name="Exercise 4.3 (jvp)", trials=4, rtol=1e-4, atol=1e-6)
