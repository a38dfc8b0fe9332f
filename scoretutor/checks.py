"""Argument checks shared by the whole library (machinery, not taught in a chapter).

Each check returns the value in a plain Python type or raises a ``ValueError`` whose message names
the argument, says what it must be and shows what it got, e.g. ``"k must be an integer >= 0, got
-1"``. ``bool`` is refused wherever a number is expected (``True`` is an ``int`` in Python, but
nobody means ``k=True``).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["integer", "number", "positive", "unit_interval", "probability", "device", "eval_network", "denoiser"]


def integer(value, name: str, minimum: int | None = None, maximum: int | None = None, *,
            alternatives: str | None = None, hint: str | None = None) -> int:
    """``value`` as an ``int``; ValueError unless it is an integer within ``[minimum, maximum]``.

    ``alternatives`` names what else the caller accepts (checked by the caller), e.g. ``"or None"``;
    ``hint`` is appended to the message in parentheses (why the bound, what to do).
    """
    ok = not isinstance(value, bool) and isinstance(value, (numbers.Integral, np.integer))
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        bounds = [f">= {minimum}"] if minimum is not None else []
        bounds += [f"<= {maximum}"] if maximum is not None else []
        what = " ".join(["an integer", " and ".join(bounds), alternatives or ""]).strip()
        what = " ".join(what.split())
        raise ValueError(f"{name} must be {what}, got {value!r}" + (f" ({hint})" if hint else ""))
    return int(value)


def _where(low, high, low_open: bool, high_open: bool) -> str:
    """``"in (0, 1]"``, ``"> 0"``, ``"<= 2"`` ... : the admissible range in words."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def number(value, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False, finite: bool = True, hint: str | None = None) -> float:
    """``value`` as a ``float``; ValueError unless it is a real number (not NaN) within the bounds.

    ``low`` / ``high``: bounds, inclusive unless ``low_open`` / ``high_open``; ``finite=False`` also
    admits infinities that the bounds allow; ``hint`` is appended to the message in parentheses.
    """
    where = _where(low, high, low_open, high_open)
    where = " " + where if where else ""
    tail = f" ({hint})" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{name} must be a number{where}, got {value!r}{tail}")
    value = float(value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{where}, got {value!r}{tail}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        raise ValueError(f"{name} must be{where}, got {value!r}{tail}")
    return value


def positive(value, name: str, *, finite: bool = True, hint: str | None = None) -> float:
    """``value`` as a ``float`` > 0 (infinity allowed with ``finite=False``); ValueError otherwise."""
    return number(value, name, low=0.0, low_open=True, finite=finite, hint=hint)


def unit_interval(value, name: str) -> float:
    """``value`` as a ``float`` in (0, 1] (a step size, a fraction of a step); ValueError otherwise."""
    return number(value, name, low=0.0, high=1.0, low_open=True)


def probability(p, name: str):
    """``p`` checked to be a probability in [0, 1]: a number comes back as a ``float``, an array (or a
    list) as a float64 array; ValueError naming the first bad value otherwise (``bool`` refused)."""
    if isinstance(p, bool) or (isinstance(p, np.ndarray) and p.dtype == bool):
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    try:
        arr = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}") from None
    bad = ~(np.isfinite(arr) & (arr >= 0) & (arr <= 1))
    if bad.any():
        raise ValueError(f"{name} must be a probability in [0, 1], got {float(arr[bad].flat[0])!r}")
    return float(arr) if arr.ndim == 0 and isinstance(p, numbers.Real) else arr


_DEVICE_TYPES = ("cpu", "cuda", "mps")


def device(value, name: str = "device", *, available: bool = True):
    """``value`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``) as a ``torch.device``;
    ValueError unless torch knows it as one of those types and, with ``available``, this machine has it."""
    import torch

    what = f"{name} must be cpu, cuda, cuda:N or mps"
    if isinstance(value, torch.device):
        dev = value
    elif isinstance(value, str):
        try:
            dev = torch.device(value)
        except (RuntimeError, ValueError):
            raise ValueError(f"{what}, got {value!r}") from None
    else:
        raise ValueError(f"{what}, got {value!r}")
    if dev.type not in _DEVICE_TYPES:
        raise ValueError(f"{what}, got {value!r}")
    if not available:
        return dev
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name} {value!r} was asked for, but this machine has no CUDA GPU; use cpu")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{name} {value!r} was asked for, but this machine has {count} CUDA GPU(s) "
                             f"(cuda:0 to cuda:{count - 1})")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{name} {value!r} was asked for, but this machine has no Apple GPU (MPS); use cpu")
    return dev


def _module(model) -> None:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (e.g. scoretutor.unet.UNet), got {type(model).__name__}")


def eval_network(model, *, why: str) -> None:
    """TypeError unless ``model`` is a ``torch.nn.Module``; ValueError if any of its modules is in
    training mode (``why``: what batch normalisation would then do to the caller's computation)."""
    _module(model)
    if any(m.training for m in model.modules()):
        raise ValueError(f"model is in training mode: {why}; call model.eval() first")


def denoiser(model, *, needs_observation: bool, why: str) -> int:
    """Check a conditional denoiser in eval mode (:func:`eval_network`) with an integer attribute ``k``
    (its number of past frames, like :class:`scoretutor.unet.UNet`), and, with ``needs_observation``,
    not prediction-only; returns ``k``."""
    _module(model)
    k = getattr(model, "k", None)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise TypeError("model must be a conditional denoiser with an integer attribute k >= 0 (the number of past "
                        f"frames it conditions on), like scoretutor.unet.UNet; got k={k!r}")
    if needs_observation and getattr(model, "prediction_only", False):
        raise ValueError("model is a prediction-only network (no noisy-observation input): it cannot denoise, so it "
                         "cannot be sampled; use a conditional denoiser (prediction_only=False), or one_step() for its "
                         "least-squares prediction")
    eval_network(model, why=why)
    return k
