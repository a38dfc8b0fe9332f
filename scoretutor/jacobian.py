"""The Jacobian of a conditional denoiser, opened: its rows as adaptive filters, its split into the
past's blocks and the observation's block, and cheap estimators of its trace, its asymmetry and its
top eigenvectors. Taught in chapter 8.

For a conditional bias-free U-net (:class:`scoretutor.unet.UNet`) in eval mode with input
``x = (c_1, ..., c_k, y)`` (past frames oldest first, then the noisy observation), the estimate is
exactly ``f(x) = sum_t J_{c,t}(x) c_t + J_y(x) y`` (Euler's identity, chapter 4), with ``J_{c,t}`` and
``J_y`` the ``N x N`` blocks (``N = H W`` pixels) of the Jacobian for past frame ``t`` and for the
observation. For the least-squares optimal denoiser ``J_y = Cov[x | y, c] / sigma**2`` (second-order
Tweedie), hence ``sigma**2 tr J_y`` is its expected squared error and Stein's unbiased risk estimate
``|f(y) - y|**2 - N sigma**2 + 2 sigma**2 tr J_y`` grades any denoiser without clean data.

Everything here takes a network in eval mode and *one* input ``(C, H, W)`` or ``(1, C, H, W)``, except
:func:`contributions`, :func:`hutchinson_trace` and :func:`sure`, which also take batches
``(B, C, H, W)`` (each image gets its own Jacobian). Products with ``J`` go through
:func:`scoretutor.linearity.jvp` (forward mode); products with ``J^T`` through :func:`torch.func.vjp`
(reverse mode).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from . import checks
from .linearity import jvp
from .unet import apply_in_batches

__all__ = [
    "full_jacobian",
    "split_jacobian",
    "contributions",
    "observation_vjp",
    "hutchinson_trace",
    "trace_from_probes",
    "power_iteration",
    "asymmetry",
    "asymmetry_estimate",
    "top_eigen",
    "sure",
]

_WHY = "its batch normalisation would mix the images of a batch, and one input's Jacobian would not be defined"


def _check_model(model, *, needs_observation: bool = False) -> None:
    checks.eval_network(model, why=_WHY)
    if needs_observation and getattr(model, "prediction_only", False):
        raise ValueError("model is a prediction-only network: it has no noisy-observation input, so it has no J_y "
                         "(its whole Jacobian is past blocks J_c); use a conditional denoiser (prediction_only=False)")


def _check_x(model, x, *, single: bool) -> torch.Tensor:
    """``x`` as a 4-d floating tensor that fits ``model``; with ``single``, exactly one input."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        what = "(C, H, W) or (1, C, H, W)" if single else "(B, C, H, W)"
        raise ValueError(f"x must have shape {what}, got {tuple(x.shape)}")
    if single and x.shape[0] != 1:
        raise ValueError(f"x must hold one input, (C, H, W) or (1, C, H, W), got a batch of shape {tuple(x.shape)}: "
                         "a Jacobian belongs to one input; loop over the batch")
    if hasattr(model, "check_input"):
        model.check_input(x)
    return x.detach()


def _in_dtype(model: nn.Module, x: torch.Tensor, dtype) -> tuple[nn.Module, torch.Tensor]:
    """``model`` and ``x`` in ``dtype`` (a float64 copy of the model when asked; the model is left as it is)."""
    if dtype is None:
        return model, x
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32, torch.float64 or None, got {dtype!r}")
    param = next(model.parameters(), None)
    if param is not None and param.dtype != dtype:
        model = copy.deepcopy(model).to(dtype)
    return model, x.to(dtype)


def _one_channel(out: torch.Tensor) -> None:
    if out.dim() != 4 or out.shape[1] != 1:
        raise ValueError(f"model must return one channel (B, 1, H, W), got {tuple(out.shape)}")


def full_jacobian(model: nn.Module, x: torch.Tensor, *, pixels=None, chunk: int = 32,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """The Jacobian of ``model`` at one input ``x``, one row per output pixel. Taught in chapter 8.

    ``x``: ``(C, H, W)`` or ``(1, C, H, W)``. Returns ``(H*W, C, H, W)``: row ``i`` is the gradient of
    output pixel ``i`` (row-major: ``i = row * W + col``) with respect to the whole input, the weights
    of the filter that produces that pixel. ``pixels``: optional flat indices; then only those rows,
    ``(len(pixels), C, H, W)``. ``dtype=torch.float64`` works on a float64 copy of the model.

    One forward pass (:func:`torch.func.vjp`), then the backward pass vectorised with
    :func:`torch.func.vmap` over one-hot output cotangents, ``chunk`` rows at a time. Peak memory: the
    result (``H W x C H W`` numbers: 12.6 MB in float32 for ``C = 3`` at 32x32) plus the forward's saved
    activations plus ``chunk`` times one image's backward activations (about 4 MB for the 64-channel
    U-net at 32x32 in float32: about 0.8 GB more at ``chunk = 64``, measured by
    ``benchmarks/jacobian_speed.py``); a smaller ``chunk`` bounds it. On a CPU the pass is
    compute-bound and about as fast as one row at a time (0.7x to 1.1x on the course's 2-core CPU;
    the benchmark prints the figures); its gain is one call instead of ``H W`` and, on a GPU, batches
    that fill the device.
    """
    _check_model(model)
    x = _check_x(model, x, single=True)
    chunk = checks.integer(chunk, "chunk", 1)
    model, x = _in_dtype(model, x, dtype)
    h, w = x.shape[-2:]
    n = h * w
    if pixels is None:
        index = torch.arange(n)
    else:
        index = torch.as_tensor(pixels, dtype=torch.long).reshape(-1)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
            raise ValueError(f"pixels must be flat indices in [0, {n}) for a {h}x{w} frame, "
                             f"got values from {int(index.min())} to {int(index.max())}")
    out, vjp_fn = torch.func.vjp(model, x)
    _one_channel(out)
    rows = torch.empty((index.numel(),) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    for start in range(0, index.numel(), chunk):
        part = index[start:start + chunk]
        cot = torch.zeros(part.numel(), n, dtype=out.dtype, device=out.device)
        cot[torch.arange(part.numel()), part.to(out.device)] = 1.0
        (grad,) = torch.func.vmap(vjp_fn)(cot.view(part.numel(), *out.shape))
        rows[start:start + part.numel()] = grad[:, 0].detach()
    return rows


def split_jacobian(jac: torch.Tensor, model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The blocks of a full Jacobian: ``(J_c, J_y)``. Taught in chapter 8.

    ``jac``: ``(N, k+1, H, W)`` from :func:`full_jacobian` (``N = H W``). Returns ``J_c`` of shape
    ``(k, N, N)``, one ``N x N`` block per past frame (oldest first), and ``J_y`` ``(N, N)``, the
    observation's block, so that ``f = sum_t J_c[t] @ c_t + J_y @ y`` with images flattened row-major.
    """
    _check_model(model, needs_observation=True)
    k = checks.integer(getattr(model, "k", None), "model.k", 0)
    if not isinstance(jac, torch.Tensor) or jac.dim() != 4 or jac.shape[1] != k + 1 \
            or jac.shape[0] != jac.shape[2] * jac.shape[3]:
        shape = tuple(jac.shape) if isinstance(jac, torch.Tensor) else type(jac).__name__
        raise ValueError(f"jac must be a full Jacobian (H*W, {k + 1}, H, W) of this k={k} network, got {shape}")
    n = jac.shape[0]
    blocks = jac.reshape(n, k + 1, n).permute(1, 0, 2)
    return blocks[:k], blocks[k]


def _only(x: torch.Tensor, channels) -> torch.Tensor:
    v = torch.zeros_like(x)
    v[:, channels] = x[:, channels]
    return v


def contributions(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(J_c c, J_y y)``: the parts of the estimate that come from the past and from the observation.
    Taught in chapter 8.

    ``x``: ``(B, k+1, H, W)`` or ``(k+1, H, W)``; returns two ``(B, 1, H, W)`` tensors, one JVP each
    (:func:`scoretutor.linearity.jvp` along ``x`` with the other channels zeroed), no full Jacobian.
    Their sum is ``f(x)`` for a bias-free network.
    """
    _check_model(model, needs_observation=True)
    x = _check_x(model, x, single=False)
    k = x.shape[1] - 1
    return jvp(model, x, _only(x, slice(0, k))), jvp(model, x, _only(x, slice(k, k + 1)))


def _observation(x: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Input directions that are ``images`` ``(m, H, W)`` in the observation channel, 0 elsewhere."""
    v = torch.zeros((images.shape[0],) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    v[:, -1] = images
    return v


def _jy(model, x, images):
    """``J_y v`` for each of ``images`` ``(m, H, W)`` at the one input ``x``: ``(m, H, W)``."""
    return jvp(model, x.expand(images.shape[0], *x.shape[1:]).contiguous(), _observation(x, images))[:, 0]


def observation_vjp(model: nn.Module, x: torch.Tensor):
    """A function ``u -> J_y^T u`` at one input ``x`` for images ``u`` ``(m, H, W)``: one forward pass,
    then one vectorised backward pass per call. Taught in chapter 8."""
    _check_model(model, needs_observation=True)
    x = _check_x(model, x, single=True)
    out, vjp_fn = torch.func.vjp(model, x)
    _one_channel(out)
    batched = torch.func.vmap(vjp_fn)

    def jyt(images: torch.Tensor) -> torch.Tensor:
        (grad,) = batched(images.to(out.dtype).reshape(images.shape[0], *out.shape))
        return grad[:, 0, -1].detach()

    return jyt


def _rademacher(shape, seed: int, like: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(checks.integer(seed, "seed", 0))
    return (torch.randint(0, 2, shape, generator=g) * 2 - 1).to(like.dtype).to(like.device)


def trace_from_probes(model: nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Hutchinson's estimate of ``tr J_y`` at one input from given probes: the mean of ``z_p^T J_y z_p``
    over the ``P`` images ``z`` ``(P, H, W)`` (one batched JVP). Taught in chapter 8 (exercise 8.2)."""
    _check_model(model, needs_observation=True)
    x = _check_x(model, x, single=True)
    if not isinstance(z, torch.Tensor) or z.dim() != 3 or z.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"z must be probes (P, {x.shape[-2]}, {x.shape[-1]}), got {getattr(z, 'shape', z)!r}")
    z = z.to(x.dtype)
    return (z * _jy(model, x, z)).sum(dim=(-2, -1)).mean()


def hutchinson_trace(model: nn.Module, x: torch.Tensor, probes: int = 32, *, seed: int = 0,
                     batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Hutchinson's estimate of ``tr J_y`` from JVPs: the mean of ``z^T J_y z`` over Rademacher probes
    ``z`` (entries +-1, so ``E[z z^T] = I``). Taught in chapter 8.

    ``x``: ``(B, k+1, H, W)`` or ``(k+1, H, W)``. Returns ``(estimate, standard_error)``, each ``(B,)``:
    the mean over ``probes`` probes per image and its standard error (``nan`` for one probe). Unbiased;
    ``batch`` bounds how many JVPs run together.
    """
    _check_model(model, needs_observation=True)
    x = _check_x(model, x, single=False)
    probes = checks.integer(probes, "probes", 1)
    batch = checks.integer(batch, "batch", 1)
    b, (h, w) = x.shape[0], x.shape[-2:]
    z = _rademacher((b * probes, h, w), seed, x)
    xs = x.repeat_interleave(probes, dim=0)

    def quadratic(xs, zs):  # z^T J_y z, one per probe
        return (zs * jvp(model, xs, _observation(xs, zs))[:, 0]).sum(dim=(-2, -1))

    quad = apply_in_batches(quadratic, xs, z, batch_size=batch).view(b, probes)
    se = quad.std(dim=1) / probes**0.5 if probes > 1 else torch.full((b,), float("nan"), dtype=quad.dtype)
    return quad.mean(dim=1), se


def power_iteration(matvec, v0: torch.Tensor, iters: int = 50) -> torch.Tensor:
    """``iters`` steps of the power iteration ``v <- A v / |A v|`` from ``v0`` (normalised first), for a
    linear map ``matvec(v) = A v`` on vectors of ``v0``'s shape: converges to the eigenvector of the
    eigenvalue largest in magnitude (at the rate of the ratio of the two largest). Taught in chapter 8
    (exercise 8.3); :func:`top_eigen` iterates several vectors at once."""
    iters = checks.integer(iters, "iters", 0)
    if not isinstance(v0, torch.Tensor) or not v0.is_floating_point() or float(v0.norm()) == 0.0:
        raise ValueError("v0 must be a non-zero floating-point tensor")
    v = v0 / v0.norm()
    for _ in range(iters):
        av = matvec(v)
        v = av / av.norm()
    return v


def asymmetry(jy: torch.Tensor) -> float:
    """``|J_y - J_y^T| / |J_y|`` (Frobenius norms) of an ``(N, N)`` block: 0 for a symmetric one, as the
    optimal denoiser's ``Cov[x | y, c] / sigma**2`` is. Taught in chapter 8."""
    if not isinstance(jy, torch.Tensor) or jy.dim() != 2 or jy.shape[0] != jy.shape[1]:
        raise ValueError(f"jy must be a square matrix (N, N), got {getattr(jy, 'shape', type(jy).__name__)}")
    return float((jy - jy.T).norm() / jy.norm())


def asymmetry_estimate(model: nn.Module, x: torch.Tensor, probes: int = 16, *, seed: int = 0) -> float:
    """:func:`asymmetry` of ``J_y`` at one input without the full Jacobian: with Rademacher probes ``z``,
    ``E|(J_y - J_y^T) z|^2 = |J_y - J_y^T|^2`` and ``E|J_y z|^2 = |J_y|^2`` (one JVP and one VJP per probe).
    Taught in chapter 8."""
    _check_model(model, needs_observation=True)
    x = _check_x(model, x, single=True)
    probes = checks.integer(probes, "probes", 1)
    h, w = x.shape[-2:]
    z = _rademacher((probes, h, w), seed, x)
    jz = _jy(model, x, z)
    jtz = observation_vjp(model, x)(z)
    return float(((jz - jtz) ** 2).sum().sqrt() / (jz**2).sum().sqrt())


def top_eigen(model: nn.Module, x: torch.Tensor, m: int = 1, *, iters: int = 60, guard: int = 4, seed: int = 0,
              shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``m`` largest eigenvalues and their eigenvectors of the symmetric part ``S = (J_y + J_y^T) / 2``
    at one input, by subspace (block power) iteration with Rayleigh-Ritz, each step one batch of JVPs
    and one of VJPs. Taught in chapter 8.

    Iterates ``m + guard`` vectors (the guards speed up convergence) on ``S - shift I``; ``shift`` > 0
    makes the iteration find the largest eigenvalues even when a negative one is larger in magnitude.
    Returns ``(values (m,), vectors (m, H, W))``, largest first, vectors of unit norm.
    """
    _check_model(model, needs_observation=True)
    x = _check_x(model, x, single=True)
    m = checks.integer(m, "m", 1)
    guard = checks.integer(guard, "guard", 0)
    iters = checks.integer(iters, "iters", 1)
    shift = checks.number(shift, "shift")
    h, w = x.shape[-2:]
    n, p = h * w, m + guard
    if p > n:
        raise ValueError(f"m + guard = {p} vectors exceed the {n} pixels")
    jyt = observation_vjp(model, x)

    def apply(v):  # (p, N) -> (S - shift I) v, row-wise
        imgs = v.view(-1, h, w)
        return ((_jy(model, x, imgs) + jyt(imgs)) / 2).reshape(-1, n) - shift * v

    g = torch.Generator().manual_seed(checks.integer(seed, "seed", 0))
    v = torch.linalg.qr(torch.randn(n, p, generator=g).to(x.dtype).to(x.device))[0].T
    for _ in range(iters):
        v = torch.linalg.qr(apply(v).T)[0].T
    sv = apply(v)
    small = v @ sv.T
    vals, vecs = torch.linalg.eigh((small + small.T) / 2)
    order = torch.argsort(vals, descending=True)[:m]
    vectors = (vecs[:, order].T @ v).view(m, h, w)
    return vals[order] + shift, vectors


def sure(model: nn.Module, x: torch.Tensor, sigma, *, trace: torch.Tensor | None = None, probes: int = 8,
         seed: int = 0) -> torch.Tensor:
    """Stein's unbiased risk estimate of ``|f(x) - x_clean|^2`` (summed over the pixels), one per image,
    from the noisy input alone: ``|f - y|^2 - N sigma^2 + 2 sigma^2 tr J_y``. Taught in chapter 8.

    ``x``: ``(B, k+1, H, W)`` whose last channel ``y`` is the clean frame plus Gaussian noise of standard
    deviation ``sigma`` (a number, or ``(B,)``); ``trace``: ``tr J_y`` per image if known (exact from
    :func:`full_jacobian`), else :func:`hutchinson_trace` with ``probes`` probes (still unbiased).
    """
    _check_model(model, needs_observation=True)
    x = _check_x(model, x, single=False)
    b = x.shape[0]
    sig = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
    if sig.numel() not in (1, b) or not bool((sig > 0).all()) or not bool(torch.isfinite(sig).all()):
        raise ValueError(f"sigma must be a positive number or ({b},) positive numbers, got {sigma!r}")
    if trace is None:
        trace = hutchinson_trace(model, x, probes, seed=seed)[0]
    trace = torch.as_tensor(trace, dtype=x.dtype, device=x.device).reshape(-1)
    if trace.numel() != b:
        raise ValueError(f"trace must hold one value per image ({b}), got {trace.numel()}")
    with torch.no_grad():
        f = model(x)[:, 0].to(x.dtype)
    n = x.shape[-1] * x.shape[-2]
    return ((f - x[:, -1]) ** 2).sum(dim=(-2, -1)) - n * sig**2 + 2 * sig**2 * trace
