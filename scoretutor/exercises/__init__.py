"""Automatic checks for the chapters' exercises.

Every exercise follows one pattern (taught in chapter 1): the notebook holds a stub that raises
``NotImplementedError``; a check from the chapter's module here (``scoretutor.exercises.ch01``
and so on) runs the learner's function against the library's reference on fresh random inputs
and prints a verdict that says what is wrong and on which input. The check returns the function
the notebook should go on with: the learner's when it is right, the reference otherwise, so a
notebook always runs end to end. Worked solutions live in ``solutions/`` at the repository root,
outside the learner's path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Verdict", "verify", "check_function"]


@dataclass
class Verdict:
    """Outcome of a check: ``status`` is ``"correct"``, ``"not implemented"``, ``"wrong"`` or ``"error"``. The pattern is taught in chapter 1."""

    name: str
    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "correct"


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _describe(args: tuple, kwargs: dict, limit: int = 160) -> str:
    """A short text naming the input of a failed trial (small arrays in full, large ones by shape)."""

    def short(v):
        if isinstance(v, np.ndarray) or hasattr(v, "detach"):
            arr = _to_numpy(v)
            return f"array of shape {tuple(arr.shape)}" if arr.size > 6 else np.array2string(arr, precision=4, separator=", ")
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.4g}"
        return repr(v)

    text = ", ".join([short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def verify(
    learner: Callable,
    reference: Callable,
    make_inputs: Callable[[np.random.Generator], tuple | dict | tuple[tuple, dict]],
    *,
    name: str,
    trials: int = 5,
    seed: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> Verdict:
    """Run ``learner`` and ``reference`` on ``trials`` random inputs and compare the outputs.

    ``make_inputs(rng)`` returns the positional arguments as a tuple, keyword arguments as a dict,
    or a pair ``(args, kwargs)``. Outputs are compared elementwise with ``np.allclose``. Taught in chapter 1.
    """
    rng = np.random.default_rng(seed)
    for trial in range(trials):
        spec = make_inputs(rng)
        if isinstance(spec, dict):
            args, kwargs = (), spec
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict) and isinstance(spec[0], tuple):
            args, kwargs = spec
        else:
            args, kwargs = tuple(spec), {}
        try:
            got = learner(*args, **kwargs)
        except NotImplementedError:
            return Verdict(name, "not implemented",
                           f"{name}: not implemented yet. The notebook continues with the reference solution.")
        except Exception as exc:  # a learner's bug: report it, do not crash the notebook
            return Verdict(name, "error",
                           f"{name}: raised {type(exc).__name__}: {exc} on input ({_describe(args, kwargs)}). "
                           "The notebook continues with the reference solution.")
        want = reference(*args, **kwargs)
        g, w = _to_numpy(got), _to_numpy(want)
        if g.shape != w.shape:
            try:
                np.broadcast_to(g, w.shape)
                same_shape = g.size == w.size
            except ValueError:
                same_shape = False
            if not same_shape:
                return Verdict(name, "wrong",
                               f"{name}: returned shape {g.shape}, expected {w.shape} on input "
                               f"({_describe(args, kwargs)}). The notebook continues with the reference solution.")
            g = g.reshape(w.shape)
        if not np.all(np.isfinite(g) == np.isfinite(w)):
            return Verdict(name, "wrong",
                           f"{name}: returned non-finite values where the reference is finite, on input "
                           f"({_describe(args, kwargs)}). The notebook continues with the reference solution.")
        if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
            err = np.abs(g - w)
            i = np.unravel_index(np.nanargmax(err), err.shape) if err.ndim else ()
            return Verdict(name, "wrong",
                           f"{name}: wrong on input ({_describe(args, kwargs)}): at index {tuple(int(j) for j in i)} "
                           f"expected {float(w[i]):.6g}, got {float(g[i]):.6g} (largest error {float(err[i]):.3g}). "
                           "The notebook continues with the reference solution.")
    return Verdict(name, "correct", f"{name}: correct on {trials} random inputs. Well done!")


def check_function(learner: Callable, reference: Callable, make_inputs: Callable, *, name: str, **kw) -> Callable:
    """Print the verdict of :func:`verify` and return the function the notebook should use next. Taught in chapter 1."""
    verdict = verify(learner, reference, make_inputs, name=name, **kw)
    print(("✔ " if verdict.ok else "✘ ") + verdict.message)
    return learner if verdict.ok else reference
