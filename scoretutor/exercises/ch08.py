"""Checks for chapter 8's exercises (opening the network: the observation's contribution from one JVP,
Hutchinson's trace estimate, the power iteration). Each runs the learner's function and the library's
own on fresh random inputs and returns the function the notebook should go on with."""
from __future__ import annotations

import numpy as np
import torch

from .. import jacobian
from ..unet import UNet
from . import check_function as _check_function  # private name: only check_<exercise> names are public

__all__ = ["check_observation_contribution", "check_trace_from_probes", "check_power_iteration"]


class _SmallUNet(UNet):
    """A UNet whose repr is one line, so that a verdict names it briefly."""

    def __repr__(self) -> str:
        return f"UNet(k={self.k}, width={self.width})"


def _small_net(rng: np.random.Generator, k_low: int = 0) -> _SmallUNet:
    k, width = int(rng.integers(k_low, 3)), int(rng.integers(2, 5))
    torch.manual_seed(int(rng.integers(2**31)))
    model = _SmallUNet(k=k, width=width, scales=2)
    with torch.no_grad():
        for _ in range(2):
            model(torch.from_numpy(rng.uniform(size=(4, k + 1, 8, 8)).astype(np.float32)))
    return model.eval()


def _observation_contribution(model, x):
    return jacobian.contributions(model, x)[1]


def check_observation_contribution(fn, *, seed=None):
    """Exercise 8.1: ``fn(model, x)`` -> ``J_y y``, the part of the estimate that comes from the noisy
    observation ``y = x[:, -1:]``, shape ``(B, 1, H, W)``, by one Jacobian-vector product along the
    input with every past channel zeroed (reference: :func:`scoretutor.jacobian.contributions`, its
    second output). The networks have k = 1 or 2 past frames, so the past matters."""

    def inputs(rng):
        model = _small_net(rng, k_low=1)
        b = int(rng.integers(1, 3))
        return (model, torch.from_numpy(rng.uniform(size=(b, model.k + 1, 8, 8)).astype(np.float32)))

    def only_y(model, x):
        v = torch.zeros_like(x)
        v[:, -1] = x[:, -1]
        return model(v)

    return _check_function(
        fn, _observation_contribution, inputs, name="Exercise 8.1 (observation_contribution)", trials=4,
        rtol=1e-4, atol=1e-6, seed=seed, reference_name="scoretutor.jacobian.contributions",
        mistakes=(("returns model(x), the whole estimate J_c c + J_y y", lambda model, x: model(x)),
                  ("returns model(x with the past zeroed): that runs the network at another input, whose "
                   "Jacobian is not J_y(x)", only_y)),
        hint="v = torch.zeros_like(x); v[:, -1] = x[:, -1]; then the tangent of torch.func.jvp(model, (x,), (v,)) "
             "(or scoretutor.linearity.jvp(model, x, v)): the Jacobian at x itself, applied to y alone")


def check_trace_from_probes(fn, *, seed=None):
    """Exercise 8.2: ``fn(model, x, z)`` -> Hutchinson's estimate of ``tr J_y`` at one input ``x``
    ``(1, k+1, H, W)``: the mean over the probes ``z`` ``(P, H, W)`` of ``z_p^T J_y z_p``, each
    ``J_y z_p`` a JVP along ``z_p`` placed in the observation channel, a number (reference:
    :func:`scoretutor.jacobian.trace_from_probes`). The probes are Rademacher (+-1) images."""

    def inputs(rng):
        model = _small_net(rng)
        x = torch.from_numpy(rng.uniform(size=(1, model.k + 1, 8, 8)).astype(np.float32))
        z = torch.from_numpy(rng.choice([-1.0, 1.0], size=(int(rng.integers(2, 6)), 8, 8)).astype(np.float32))
        return (model, x, z)

    def summed(model, x, z):
        return jacobian.trace_from_probes(model, x, z) * z.shape[0]

    return _check_function(
        fn, jacobian.trace_from_probes, inputs, name="Exercise 8.2 (trace_from_probes)", trials=4, rtol=1e-4,
        atol=1e-5, seed=seed, reference_name="scoretutor.jacobian.trace_from_probes",
        mistakes=(("sums z^T J_y z over the probes: the estimate is their mean", summed),),
        hint="for each probe, v = zeros_like(x) with v[0, -1] = z_p; J_y z_p is the JVP's tangent [0, 0]; "
             "(z_p * J_y z_p).sum() is one estimate; average them")


def check_power_iteration(fn, *, seed=None):
    """Exercise 8.3: ``fn(matvec, v0, iters)`` -> the vector after ``iters`` steps of the power iteration
    ``v <- A v / |A v|`` from ``v0 / |v0|``, with ``matvec(v) = A v`` (reference:
    :func:`scoretutor.jacobian.power_iteration`). The trials use random symmetric matrices of size 6 to
    20 with eigenvalues in [0, 1], and few enough steps that the path matters, not only the limit."""

    def inputs(rng):
        n = int(rng.integers(6, 21))
        q = np.linalg.qr(rng.normal(size=(n, n)))[0]
        a = torch.from_numpy((q * rng.uniform(0, 1, size=n)) @ q.T)
        return (lambda v: a @ v, torch.from_numpy(rng.normal(size=n)), int(rng.integers(1, 8)))

    def unnormalised(matvec, v0, iters):
        v = v0
        for _ in range(iters):
            v = matvec(v)
        return v

    return _check_function(
        fn, jacobian.power_iteration, inputs, name="Exercise 8.3 (power_iteration)", trials=6, rtol=1e-8,
        atol=1e-10, seed=seed, reference_name="scoretutor.jacobian.power_iteration",
        mistakes=(("never normalises: A^n v0 has the right direction but its length shrinks or grows with the "
                   "eigenvalues", unnormalised),),
        hint="v = v0 / v0.norm(); then iters times: w = matvec(v); v = w / w.norm()")
