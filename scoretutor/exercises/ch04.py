"""Checks for chapter 4's exercises (the conditional bias-free U-net). Each runs the learner's function
and the library's own on fresh random inputs and returns the function the notebook should go on with."""
from __future__ import annotations

import numpy as np
import torch

from .. import linearity
from ..unet import BiasFreeBatchNorm2d, UNet
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_parameter_count", "check_bias_free_norm", "check_jvp"]


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


def _norm_minus_mean(x, running_sd, scale):
    return (x - x.mean(dim=(0, 2, 3), keepdim=True)) / running_sd.view(1, -1, 1, 1) * scale.view(1, -1, 1, 1)


def _norm_batch_sd(x, running_sd, scale):
    sd = torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False, keepdim=True) + 1e-5)
    return x / sd * scale.view(1, -1, 1, 1)


def check_bias_free_norm(fn, *, seed=None):
    """Exercise 4.2: ``fn(x, running_sd, scale)`` -> the bias-free batch norm's output in eval mode,
    ``x (B, C, H, W)``, ``running_sd (C,)``, ``scale (C,)`` (reference:
    :class:`scoretutor.unet.BiasFreeBatchNorm2d` in eval mode). The inputs have a clearly non-zero
    mean, so a version that subtracts a mean is caught."""

    def inputs(rng):
        b, c, h, w = (int(v) for v in rng.integers(1, 6, size=4))
        x = _tensor(rng, (b, c, h, w)) + float(rng.uniform(1, 3))
        return (x, _tensor(rng, (c,), 0.2, 3.0), _tensor(rng, (c,), -2.0, 2.0))

    return _check_function(
        fn, _library_norm, inputs, name="Exercise 4.2 (bias_free_norm)", trials=6, rtol=1e-5, atol=1e-6,
        seed=seed, reference_name="scoretutor.unet.BiasFreeBatchNorm2d (in eval mode)",
        mistakes=(("subtracts a mean: the bias-free layer must not (it would add a constant to the network)",
                   _norm_minus_mean),
                  ("divides by the batch's own standard deviation: in eval mode the layer uses running_sd",
                   _norm_batch_sd)),
        hint="in eval mode the layer is x / running_sd * scale, per channel (axis 1: reshape both to "
             "(1, C, 1, 1)), with no mean subtracted and no shift added")


def _library_count(k: int, width: int, scales: int) -> int:
    """Number of trainable parameters of the library's ``UNet(k, width, scales)``."""
    return sum(p.numel() for p in UNet(k=k, width=width, scales=scales).parameters())


def check_parameter_count(fn, *, seed=None):
    """Exercise 4.1: ``fn(k, width, scales)`` -> the number of trainable parameters of the conditional
    bias-free U-net (reference: counting the parameters of :class:`scoretutor.unet.UNet`)."""

    def inputs(rng):
        return (int(rng.integers(0, 4)), int(rng.integers(1, 25)), int(rng.integers(1, 5)))

    return _check_function(
        fn, _library_count, inputs, name="Exercise 4.1 (parameter_count)", trials=8, rtol=0, atol=0, seed=seed,
        reference_name="scoretutor.unet.UNet(k, width, scales), its parameters counted",
        hint="count each 3x3 convolution's weights (c_in * c_out * 9, no biases), each batch norm's scale (one "
             "per channel), the 2x2 transposed convolutions of the decoder and the output convolution; the "
             "input has k + 1 channels, the channels double at each scale, and the decoder's blocks take the "
             "skip connection and the up-sampled features side by side")


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


def check_jvp(fn, *, seed=None):
    """Exercise 4.3: ``fn(model, x, v)`` -> the Jacobian-vector product ``J(x) v`` of ``model`` at ``x``,
    shape of the output ``(B, 1, H, W)`` (reference: :func:`scoretutor.linearity.jvp`). The direction
    ``v`` is random, not ``x``, so returning ``model(x)`` is not enough."""

    def inputs(rng):
        model, k = _small_net(rng)
        b = int(rng.integers(1, 3))
        return (model, _tensor(rng, (b, k + 1, 8, 8), 0.0, 1.0), _tensor(rng, (b, k + 1, 8, 8)))

    return _check_function(
        fn, linearity.jvp, inputs, name="Exercise 4.3 (jvp)", trials=4, rtol=1e-4, atol=1e-6, seed=seed,
        reference_name="scoretutor.linearity.jvp",
        mistakes=(("returns model(x), which is J(x) x, not J(x) v", lambda model, x, v: model(x)),
                  ("returns model(v): that is J(x) v only for a linear network, and the ReLUs make it "
                   "piecewise linear", lambda model, x, v: model(v))),
        hint="J(x) v is the derivative of t -> model(x + t v) at t = 0: torch.func.jvp(model, (x,), (v,)) "
             "returns it (with model(x))")
