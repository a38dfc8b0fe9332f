"""Local linearity of bias-free networks: homogeneity, Jacobian-vector products, Jacobian rows,
and the split of an estimate into the contributions of its input channels. Taught in chapter 4.

A bias-free ReLU network in eval mode (:class:`scoretutor.unet.UNet`) is positively homogeneous,
``f(a x) = a f(x)`` for ``a > 0``, and so, by Euler's theorem for homogeneous functions,
``f(x) = J(x) x`` with ``J(x)`` the Jacobian at ``x``: the network acts on each input as a linear
filter ``J(x)`` that it adapts to that input. Because the input stacks several channels (past
frames, then the noisy observation), ``J(x) x`` splits into one term per channel,
``f(x) = sum_c J_c(x) x_c``.

Every function here takes a network in **eval mode** (in training mode a batch normalisation mixes
the images of a batch, and the Jacobian of one image is not defined on its own) and inputs
``x`` of shape ``(B, C, H, W)`` (floating point). Outputs are computed in ``x``'s dtype; use
float64 (``model.double()``) where exactness matters more than speed.
"""
from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from . import checks
from .unet import BiasFreeBatchNorm2d

__all__ = [
    "jvp",
    "euler_error",
    "homogeneity_error",
    "jacobian_row",
    "input_contributions",
    "with_biases",
]


def _quiet_jvp(*args):
    """``torch.func.jvp`` without the DeprecationWarning that its first call raises on recent torch
    (it imports decompositions that still use ``torch.jit.script``): nothing the learner can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated", category=DeprecationWarning)
        return torch.func.jvp(*args)


_quiet_jvp(torch.neg, (torch.zeros(1),), (torch.ones(1),))  # that first call, now: later calls are quiet too


def _check_model(model) -> None:
    checks.eval_network(model, why="its batch normalisation mixes the images of a batch")


def _check_input(x, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """``|a - b| / |b|`` (Frobenius norms), 0 when both are zero."""
    num = float((a - b).norm())
    den = float(b.norm())
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


def jvp(model: nn.Module, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The Jacobian-vector product ``J(x) v`` of ``model`` at ``x`` along ``v``. Taught in chapter 4.

    ``x`` and ``v``: ``(B, C, H, W)``, same shape; returns the network's output shape, e.g.
    ``(B, 1, H, W)``, each image's product with its own Jacobian. Exact (forward-mode automatic
    differentiation, :func:`torch.func.jvp`): one pass, no finite differences.
    """
    _check_model(model)
    _check_input(x, "x")
    _check_input(v, "v")
    if v.shape != x.shape:
        raise ValueError(f"v must have the shape of x {tuple(x.shape)}, got {tuple(v.shape)}")
    _, tangent = _quiet_jvp(model, (x.detach(),), (v.detach().to(x.dtype),))
    return tangent.detach()


def euler_error(model: nn.Module, x: torch.Tensor) -> float:
    """Relative error of the Euler identity, ``|J(x) x - f(x)| / |f(x)|``. Taught in chapter 4.

    Zero (to rounding) for a positively homogeneous network, such as a bias-free U-net in eval mode.
    """
    _check_model(model)
    _check_input(x)
    with torch.no_grad():
        fx = model(x)
    return _relative(jvp(model, x, x), fx)


def homogeneity_error(model: nn.Module, x: torch.Tensor, alpha: float) -> float:
    """Relative error ``|f(alpha x) - alpha f(x)| / |alpha f(x)|`` for a factor ``alpha > 0``. Taught in chapter 4."""
    _check_model(model)
    _check_input(x)
    alpha = float(alpha)
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha!r}")
    with torch.no_grad():
        return _relative(model(alpha * x), alpha * model(x))


def jacobian_row(model: nn.Module, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """Gradient of one output pixel with respect to the whole input. Taught in chapter 4.

    ``x``: one input ``(C, H, W)`` or ``(1, C, H, W)``; ``(row, col)``: the output pixel. Returns
    ``(C, H, W)``: the row of ``J(x)`` for that pixel, i.e. the weights of the linear filter that the
    network applies at ``x`` to produce it (``f(x)[row, col] = sum(jacobian_row * x)``).
    """
    _check_model(model)
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        x = x.unsqueeze(0)
    _check_input(x)
    if x.shape[0] != 1:
        raise ValueError(f"x must hold one input, (C, H, W) or (1, C, H, W), got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if not (0 <= int(row) < h and 0 <= int(col) < w):
        raise ValueError(f"(row, col) = ({row}, {col}) lies outside the {h}x{w} frame")
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    if out.dim() != 4 or out.shape[1] != 1:
        raise ValueError(f"model must return one channel (B, 1, H, W), got {tuple(out.shape)}")
    (grad,) = torch.autograd.grad(out[0, 0, int(row), int(col)], x)
    return grad[0].detach()


def input_contributions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Split ``J(x) x`` by input channel: ``J_c(x) x_c`` for each channel ``c``. Taught in chapter 4.

    ``x``: ``(B, C, H, W)``; returns ``(B, C, H, W)`` (for a one-channel output), whose sum over the
    channel axis is ``J(x) x``, which equals ``f(x)`` for a homogeneous network. For the U-net's
    input (past frames oldest first, then the noisy observation) the last channel is the part of
    the estimate that comes from the observation, the others the parts that come from the past.
    """
    _check_model(model)
    _check_input(x)
    parts = []
    for c in range(x.shape[1]):
        v = torch.zeros_like(x)
        v[:, c] = x[:, c]
        out = jvp(model, x, v)
        if out.shape[1] != 1:
            raise ValueError(f"model must return one channel (B, 1, H, W), got {tuple(out.shape)}")
        parts.append(out[:, 0])
    return torch.stack(parts, dim=1)


def with_biases(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with additive constants put back, for contrast. Taught in chapter 4.

    Every convolution and transposed convolution keeps its weights and gains a bias, drawn as
    PyTorch draws it by default (uniform in ``+-1/sqrt(fan_in)``, from ``seed``); every
    :class:`~scoretutor.unet.BiasFreeBatchNorm2d` becomes a standard :class:`torch.nn.BatchNorm2d`
    (mean subtraction and a learned shift, starting at 0) with the same scale and running standard
    deviation and a running mean of 0. The copy is in the same mode as ``model``; ``model`` is
    left untouched. Such a network is not homogeneous: ``f(0)`` is not 0.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    g = torch.Generator().manual_seed(int(seed))
    twin = copy.deepcopy(model)

    def convert(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, BiasFreeBatchNorm2d):
                bn = nn.BatchNorm2d(child.num_channels, eps=child.eps, momentum=child.momentum)
                with torch.no_grad():
                    bn.weight.copy_(child.scale)
                    bn.running_var.copy_((child.running_sd**2 - child.eps).clamp_min(0.0))
                bn.to(child.scale.device, child.scale.dtype)
                bn.train(child.training)
                setattr(parent, name, bn)
            elif isinstance(child, (nn.Conv2d, nn.ConvTranspose2d)) and child.bias is None:
                weight = child.weight
                bias = torch.empty(child.out_channels, dtype=weight.dtype)
                fan_in = weight.shape[1] * weight[0, 0].numel()  # PyTorch's rule: weight.size(1) * kh * kw
                bound = 1.0 / fan_in**0.5
                bias.uniform_(-bound, bound, generator=g)
                child.bias = nn.Parameter(bias.to(weight.device))
            else:
                convert(child)

    convert(twin)
    return twin
