"""The conditional bias-free U-net of the paper (appendix C). Taught in chapter 4.

The network maps ``k`` past frames and a noisy observation of the next frame, stacked as channels
(oldest past frame first, the observation last), to an estimate of the clean next frame:
input ``(B, k+1, H, W)``, output ``(B, 1, H, W)``, float32, pixels nominally in [0, 1].
A prediction-only variant takes the ``k`` past frames alone, ``(B, k, H, W)``.

Dtype and range: the input must be a floating-point tensor with pixels on the [0, 1] scale (the noisy
observation may leave it). A floating input of another dtype than the weights (float64 made from
NumPy, float16) is converted to the weights' dtype (float32 unless you converted the network), and so
is the output; integer images (``uint8`` 0…255) are refused with a hint (``x.float() / 255``), since
the network was trained on [0, 1].

No layer adds a constant: every convolution and up-sampling has ``bias=None`` and the batch
normalisation only divides by a per-channel standard deviation and multiplies by a learned scale.
With ReLU non-linearities the network is then positively homogeneous in eval mode,
``f(a x) = a f(x)`` for ``a > 0``, hence ``f(x) = J(x) x`` (Euler), with ``J`` its Jacobian.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import checks

__all__ = ["BiasFreeBatchNorm2d", "UNet", "stack_inputs", "apply_in_batches"]

ARCH = "bias-free-unet"


class BiasFreeBatchNorm2d(nn.Module):
    """Batch normalisation without mean subtraction and without shift. Taught in chapter 4.

    ``y = x / sd * scale`` per channel, where ``sd`` is the standard deviation of the channel over
    the batch and space (in training; ``sqrt(var + eps)``), or the running estimate ``running_sd``
    (in eval mode, so the layer is then exactly linear in ``x``). Input and output ``(B, C, H, W)``.
    The only parameter is ``scale`` (shape ``(C,)``, initialised to 1).
    """

    def __init__(self, num_channels: int, *, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        num_channels = checks.integer(num_channels, "num_channels", 1)
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        self.num_channels = num_channels
        self.momentum = momentum
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(num_channels))
        self.register_buffer("running_sd", torch.ones(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"BiasFreeBatchNorm2d({self.num_channels}) expects input of shape (B, {self.num_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        if self.training:
            if x.shape[0] == 0 or x[0].numel() == 0:
                raise ValueError(
                    f"BiasFreeBatchNorm2d got an empty batch {tuple(x.shape)} in training mode: it has no "
                    "statistics to estimate (its running scales would become NaN); skip empty batches, or "
                    "call model.eval() to apply the network to them")
            # statistics in float32 even under mixed precision; E[x^2] - E[x]^2 is about 3x faster on
            # CPU than Tensor.var over (0, 2, 3) and accurate enough here (clamped at 0)
            xf = x.float()
            mean = xf.mean(dim=(0, 2, 3))
            var = ((xf * xf).mean(dim=(0, 2, 3)) - mean * mean).clamp_min(0.0)
            sd = torch.sqrt(var + self.eps)
            with torch.no_grad():
                self.running_sd.mul_(1.0 - self.momentum).add_(self.momentum * sd.detach())
        else:
            sd = self.running_sd
        gain = (self.scale / sd).to(x.dtype)
        return x * gain.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, momentum={self.momentum}, eps={self.eps}"


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two (3x3 convolution without bias -> bias-free batch norm -> ReLU) blocks."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        BiasFreeBatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        BiasFreeBatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Conditional bias-free U-net. Taught in chapter 4.

    Args:
        k: number of past frames used as conditioning (0 to any; the paper uses 0 to 3).
        width: channels at the first scale; doubled at each down-sampling (the paper: 64).
        scales: number of spatial scales (the paper: 3), so ``scales - 1`` 2x down-samplings;
            ``H`` and ``W`` must be divisible by ``2**(scales-1)``.
        prediction_only: if True there is no noisy-observation channel (the paper's baseline that
            predicts the next frame from the past alone); requires ``k >= 1``.

    Input ``(B, k+1, H, W)`` (past frames oldest first, then the noisy observation; see
    :func:`stack_inputs`) or ``(B, k, H, W)`` for prediction-only; output ``(B, 1, H, W)``.
    ``model.config`` is a plain dict from which ``UNet(**{k: v for k, v in config.items() if k != "arch"})``
    rebuilds the same architecture (see :func:`UNet.from_config`).
    """

    def __init__(self, k: int = 2, width: int = 64, scales: int = 3, prediction_only: bool = False):
        super().__init__()
        k, width = checks.integer(k, "k", 0), checks.integer(width, "width", 1)
        scales = checks.integer(scales, "scales", 1)
        if not isinstance(prediction_only, bool):
            raise TypeError(f"prediction_only must be a bool, got {prediction_only!r}")
        if prediction_only and k == 0:
            raise ValueError("prediction_only=True needs at least one past frame (k >= 1), got k=0")
        self.k = k
        self.width = width
        self.scales = scales
        self.prediction_only = prediction_only
        self.in_channels = k if prediction_only else k + 1
        #: check inputs for NaN/inf in forward (costs a device sync on GPU; the trainer turns it off there)
        self.check_finite = True

        chans = [width * 2**s for s in range(scales)]
        self.enc = nn.ModuleList()
        c_in = self.in_channels
        for c in chans:
            self.enc.append(_block(c_in, c))
            c_in = c
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for s in range(scales - 2, -1, -1):
            self.up.append(nn.ConvTranspose2d(chans[s + 1], chans[s], 2, stride=2, bias=False))
            self.dec.append(_block(2 * chans[s], chans[s]))
        self.out = nn.Conv2d(width, 1, 3, padding=1, bias=False)

    @property
    def config(self) -> dict:
        """Plain dict (str/int/bool) that rebuilds this architecture."""
        return {
            "arch": ARCH,
            "k": self.k,
            "width": self.width,
            "scales": self.scales,
            "prediction_only": self.prediction_only,
        }

    @classmethod
    def from_config(cls, config: dict) -> "UNet":
        """Rebuild a network (fresh weights) from :attr:`config`; a different ``arch`` is a ValueError."""
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        arch = config.get("arch", ARCH)
        if arch != ARCH:
            raise ValueError(f"config describes architecture {arch!r}, not {ARCH!r}")
        allowed = {"k", "width", "scales", "prediction_only"}
        unknown = set(config) - allowed - {"arch"}
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; expected {sorted(allowed)}")
        return cls(**{key: config[key] for key in allowed if key in config})

    @property
    def multiple(self) -> int:
        """H and W must be divisible by this number."""
        return 2 ** (self.scales - 1)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError/TypeError naming the problem if ``x`` does not fit this network."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"input must be a floating-point tensor with pixels in [0, 1], got dtype {x.dtype}"
                            + _integer_hint(x.dtype))
        if x.dim() != 4:
            raise ValueError(f"input must have shape (B, C, H, W), got {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            what = (
                f"{self.k} past frames" if self.prediction_only
                else f"{self.k} past frames (oldest first) then the noisy observation"
            )
            raise ValueError(
                f"UNet(k={self.k}, prediction_only={self.prediction_only}) expects {self.in_channels} input "
                f"channels ({what}), got {x.shape[1]} channels in input of shape {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(
                f"input height and width must be divisible by 2**(scales-1) = {self.multiple} "
                f"(scales={self.scales}), got H={h}, W={w}"
            )
        if self.check_finite and not bool(torch.isfinite(x).all()):
            raise ValueError("input contains NaN or infinite values")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        weight_dtype = self.out.weight.dtype
        if x.dtype != weight_dtype:
            x = x.to(weight_dtype)  # e.g. float64 made from NumPy: see the module notes
        skips = []
        h = x
        for s, block in enumerate(self.enc):
            if s > 0:
                h = self.pool(h)
            h = block(h)
            skips.append(h)
        skips.pop()  # the bottom stage feeds the decoder directly
        for up, block in zip(self.up, self.dec):
            h = up(h)
            h = block(torch.cat([skips.pop(), h], dim=1))
        return self.out(h)


def _integer_hint(dtype: torch.dtype) -> str:
    if dtype == torch.uint8:
        return " (an 8-bit image? use x.float() / 255)"
    return " (convert with x.float())"


def _floating(t: torch.Tensor, name: str) -> None:
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor with pixels in [0, 1], got dtype {t.dtype}"
                        + _integer_hint(t.dtype))


def stack_inputs(past: torch.Tensor, noisy: torch.Tensor | None = None) -> torch.Tensor:
    """Stack past frames and the noisy observation into the network's input. Taught in chapter 4.

    Args:
        past: ``(B, k, H, W)`` past frames, oldest first (``k`` may be 0), or ``(k, H, W)``.
        noisy: ``(B, 1, H, W)`` or ``(B, H, W)`` noisy observation of
            the next frame, or None for a prediction-only network.

    Returns ``(B, k+1, H, W)`` (or ``(B, k, H, W)`` when ``noisy`` is None): past first, noisy last,
    in the dtype of ``past``. Both must be floating-point tensors on the [0, 1] scale (integer images
    such as ``uint8`` are refused: divide them by 255 first).
    """
    if not isinstance(past, torch.Tensor):
        raise TypeError(f"past must be a torch.Tensor, got {type(past).__name__}")
    _floating(past, "past")
    if past.dim() == 3:
        past = past.unsqueeze(0)
    if past.dim() != 4:
        raise ValueError(f"past must have shape (B, k, H, W) or (k, H, W), got {tuple(past.shape)}")
    if noisy is None:
        return past
    if not isinstance(noisy, torch.Tensor):
        raise TypeError(f"noisy must be a torch.Tensor or None, got {type(noisy).__name__}")
    _floating(noisy, "noisy")
    if noisy.dim() == 3:
        noisy = noisy.unsqueeze(1)  # (B, H, W) -> (B, 1, H, W)
    if noisy.dim() != 4 or noisy.shape[1] != 1:
        raise ValueError(f"noisy must have shape (B, 1, H, W), got {tuple(noisy.shape)}")
    if noisy.shape[0] != past.shape[0] or noisy.shape[-2:] != past.shape[-2:]:
        raise ValueError(
            f"past {tuple(past.shape)} and noisy {tuple(noisy.shape)} disagree in batch size or frame size"
        )
    return torch.cat([past, noisy.to(past.dtype)], dim=1)


def apply_in_batches(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor,
                     batch_size: int | None = None) -> torch.Tensor:
    """``fn`` applied to consecutive chunks of at most ``batch_size`` rows of ``tensors`` (sliced together
    along their first axis), the results concatenated: ``fn(*tensors)`` with bounded memory (all rows at
    once when ``batch_size`` is None). The one chunked evaluation loop of the library: the sampler
    (chapter 6), the denoising table and the trainer's validation (chapter 5), and Hutchinson's trace
    (chapter 8) all use it."""
    n = tensors[0].shape[0]
    step = max(n, 1) if batch_size is None else checks.integer(batch_size, "batch_size", 1)
    return torch.cat([fn(*(t[i:i + step] for t in tensors)) for i in range(0, max(n, 1), step)])
