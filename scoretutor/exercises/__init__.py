"""Automatic checks for the chapters' exercises.

Every exercise follows one pattern (taught in chapter 1): the notebook holds a stub that raises
``NotImplementedError``; a check from the chapter's module here (``scoretutor.exercises.ch01``
and so on) runs the learner's function against the library's reference on fresh random inputs
and prints a verdict: ``Exercise 2.1 (most_probable_sigma): ...``, naming the arguments and the
values where the answer goes wrong, the hint the check was built for, the seed that replays those
inputs (``check_...(fn, seed=...)``), and which function the notebook goes on with. The check
returns that function: the learner's when it is right, the reference otherwise, so a notebook
always runs end to end. Each side gets its own copy of the inputs, so a function that changes its
arguments in place cannot fool the comparison, and whatever the learner returns (``None``, a
string, a ragged list, complex numbers) gets a verdict, never a crash.

Worked solutions live in ``solutions/`` at the repository root, outside the learner's path; the
references are the library's own functions, importable by anyone: the exercises are for
self-study. Teachers can run every check of a chapter on a student's notebook with
:func:`check_notebook` (``python -m scoretutor check-exercises NOTEBOOK.ipynb``) or on functions
with :func:`check_chapter`; ``book/teachers.md`` explains both.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import importlib
import inspect
import io
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["Verdict", "verify", "check_function", "check_chapter", "check_notebook"]

_FALLBACK = "from here on the notebook uses the reference solution"


@dataclass
class Verdict:
    """Outcome of a check: ``status`` is ``"correct"``, ``"not implemented"``, ``"wrong"``, ``"error"``
    or (teachers' tools only) ``"missing"``; ``inputs`` the failing trial's arguments by name,
    ``seed`` the seed of the trials. The pattern is taught in chapter 1."""

    name: str
    status: str
    message: str
    inputs: dict | None = field(default=None, repr=False)
    seed: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "correct"


# --------------------------------------------------------------------------- what came back


def _to_numpy(x: Any) -> np.ndarray:
    """A trusted value (the reference's) as a float array."""
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _learner_array(x: Any) -> tuple[np.ndarray | None, str | None]:
    """``(array, None)`` for a learner's result made of real numbers, else ``(None, what is wrong)``."""
    if x is None:
        return None, "returned None — did you forget `return`?"
    if isinstance(x, (str, bytes)):
        text = repr(x) if len(repr(x)) <= 40 else repr(x)[:37] + "..."
        return None, f"returned a {type(x).__name__} ({text}), not numbers"
    if isinstance(x, (dict, set, frozenset)) or callable(x):
        return None, f"returned a {type(x).__name__}, not an array of numbers"
    try:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        raw = np.asarray(x)
    except (ValueError, TypeError, RuntimeError):
        return None, f"returned a {type(x).__name__} that is not a rectangular array (rows of different lengths?)"
    if raw.dtype.kind == "c":
        return None, "returned complex numbers; the result must be real (take .real only if you are sure why)"
    if raw.dtype.kind not in "biuf":
        return None, (f"returned a {type(x).__name__} that is not a rectangular array of numbers "
                      f"(dtype {raw.dtype}: rows of different lengths, or non-numbers inside?)")
    return raw.astype(float), None


def _shape_text(arr: np.ndarray) -> str:
    return "a single number" if arr.ndim == 0 else f"an array of shape {tuple(arr.shape)}"


# --------------------------------------------------------------------------- naming the inputs


def _named(reference: Callable, args: tuple, kwargs: dict) -> dict:
    """The trial's arguments by the reference's parameter names (``arg0``... when it has none)."""
    try:
        bound = inspect.signature(reference).bind(*args, **kwargs)
        return dict(bound.arguments)
    except (TypeError, ValueError):
        named = {f"arg{i}": a for i, a in enumerate(args)}
        named.update(kwargs)
        return named


def _index_text(index: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _value_text(name: str, value, index: tuple | None, out_shape: tuple | None) -> str:
    """``y[13]=0.52`` at the failing index for an array shaped like the output, ``sigma=0.28`` for a
    number, small arrays in full, other arrays by shape, anything else by a short repr."""
    if isinstance(value, np.ndarray) or hasattr(value, "detach"):
        arr = _to_numpy(value)
        if index is not None and index and tuple(arr.shape) == out_shape:
            return f"{name}{_index_text(index)}={float(arr[index]):.4g}"
        if arr.size <= 6:
            return f"{name}={np.array2string(arr, precision=4, separator=', ')}"
        return f"{name}=array of shape {tuple(arr.shape)}"
    if isinstance(value, (bool, np.bool_)):
        return f"{name}={bool(value)}"
    if isinstance(value, (int, np.integer)):
        return f"{name}={int(value)}"
    if isinstance(value, (float, np.floating)):
        return f"{name}={float(value):.4g}"
    text = repr(value)
    return f"{name}={text if len(text) <= 60 else text[:57] + '...'}"


def _describe(named: dict, index: tuple | None = None, out_shape: tuple | None = None, limit: int = 400) -> str:
    """A short text naming the inputs of a failed trial."""
    text = ", ".join(_value_text(k, v, index, out_shape) for k, v in named.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- the check


def _spec(make_inputs, rng) -> tuple[tuple, dict]:
    spec = make_inputs(rng)
    if isinstance(spec, dict):
        return (), spec
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict) and isinstance(spec[0], tuple):
        return spec
    return tuple(spec), {}


def _matches(candidate: Callable, args, kwargs, got: np.ndarray, rtol, atol) -> bool:
    """Whether ``candidate`` (a known mistake) gives ``got`` on these inputs."""
    try:
        theirs = _to_numpy(candidate(*copy.deepcopy(args), **copy.deepcopy(kwargs)))
    except Exception:  # noqa: BLE001 - a mistake that cannot run on these inputs does not match
        return False
    return theirs.shape == got.shape and bool(np.allclose(theirs, got, rtol=rtol, atol=atol, equal_nan=True))


def _fallback_text(reference_name: str | None) -> str:
    return f"{_FALLBACK} `{reference_name}`." if reference_name else f"{_FALLBACK}."


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
    hint: str | None = None,
    mistakes: tuple = (),
    reference_name: str | None = None,
) -> Verdict:
    """Run ``learner`` and ``reference`` on ``trials`` random inputs and compare the outputs.

    ``make_inputs(rng)`` returns the positional arguments as a tuple, keyword arguments as a dict,
    or a pair ``(args, kwargs)``; each side gets its own deep copy. Outputs are compared elementwise
    with ``np.allclose``. ``seed`` (default: a fresh one, named in the verdict) draws the inputs;
    ``hint`` is what the trials were built to catch, said when the answer is wrong; ``mistakes`` are
    ``(description, function)`` pairs of known wrong versions: when the learner's output matches one,
    the verdict says ``your version <description>``; ``reference_name`` names the function the
    notebook falls back on. Taught in chapter 1.
    """
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**31)
    rng = np.random.default_rng(seed)
    fallback = _fallback_text(reference_name)
    replay = f"(inputs of seed {seed}: pass seed={seed} to the check to replay them)"

    def verdict(status, text, named=None):
        return Verdict(name, status, f"{name}: {text}", named, seed)

    for trial in range(trials):
        args, kwargs = _spec(make_inputs, rng)
        named = _named(reference, args, kwargs)
        try:
            got = learner(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except NotImplementedError:
            return verdict("not implemented", f"not implemented yet; {fallback}")
        except Exception as exc:  # a learner's bug: report it, do not crash the notebook
            return verdict("error", f"raised {type(exc).__name__}: {exc} on input ({_describe(named)}) {replay}; "
                                    f"{fallback}", named)
        want = _to_numpy(reference(*copy.deepcopy(args), **copy.deepcopy(kwargs)))
        g, problem = _learner_array(got)
        if problem is not None:
            return verdict("wrong", f"{problem} (expected {_shape_text(want)}) on input ({_describe(named)}) "
                                    f"{replay}; {fallback}", named)
        if g.shape != want.shape:
            if g.size != want.size:
                return verdict("wrong", f"returned {_shape_text(g)}, expected {_shape_text(want)}, on input "
                                        f"({_describe(named)}) {replay}; {fallback}", named)
            g = g.reshape(want.shape)
        tip = _tip(learner_out=g, args=args, kwargs=kwargs, hint=hint, mistakes=mistakes, rtol=rtol, atol=atol)
        if not np.all(np.isfinite(g) == np.isfinite(want)):
            bad = np.argwhere(np.isfinite(g) != np.isfinite(want))[0] if g.ndim else ()
            index = tuple(int(j) for j in bad)
            where = f"at index {_index_text(index)} " if index else ""
            return verdict("wrong", f"returned a non-finite value, {float(g[index])!r}, {where}where the "
                                    f"reference gives {float(want[index]):.6g}, on input "
                                    f"({_describe(named, index, want.shape)}) {replay}.{tip} "
                                    f"{fallback[0].upper() + fallback[1:]}", named)
        if not np.allclose(g, want, rtol=rtol, atol=atol, equal_nan=True):
            err = np.abs(g - want)
            index = tuple(int(j) for j in np.unravel_index(np.nanargmax(err), err.shape)) if err.ndim else ()
            where = f" at index {_index_text(index)}" if index else ""
            return verdict("wrong", f"wrong on input ({_describe(named, index, want.shape)}):{where} expected "
                                    f"{float(want[index]):.6g}, got {float(g[index]):.6g} (largest error "
                                    f"{float(err[index]):.3g}) {replay}.{tip} "
                                    f"{fallback[0].upper() + fallback[1:]}", named)
    return verdict("correct", f"correct on {trials} random inputs. Well done! From here on the notebook uses "
                              "your function.")


def _tip(*, learner_out, args, kwargs, hint, mistakes, rtol, atol) -> str:
    """`` Your version <description>.`` for a known mistake the output matches, else `` Hint: ...``."""
    for description, candidate in mistakes:
        if _matches(candidate, args, kwargs, learner_out, rtol, atol):
            return f" Your version {description}."
    return f" Hint: {hint}" + ("" if hint.endswith(".") else ".") if hint else ""


# --------------------------------------------------------------------------- in the notebook

_collected: list | None = None


def _public_name(fn: Callable) -> str | None:
    module, qualname = getattr(fn, "__module__", ""), getattr(fn, "__qualname__", "")
    parts = f"{module}.{qualname}".split(".")
    if not module or "<" in qualname or any(p.startswith("_") for p in parts):
        return None
    return f"{module}.{qualname}"


def check_function(learner: Callable, reference: Callable, make_inputs: Callable, *, name: str,
                   reference_name: str | None = None, **kw) -> Callable:
    """Print the verdict of :func:`verify` and return the function the notebook should use next.
    ``reference_name`` (default: the reference's own dotted name when public) is said after a
    rejected answer. Taught in chapter 1."""
    reference_name = reference_name or _public_name(reference)
    verdict = verify(learner, reference, make_inputs, name=name, reference_name=reference_name, **kw)
    if _collected is not None:
        _collected.append(verdict)
    _say(("✔ " if verdict.ok else "✘ ") + verdict.message)
    return learner if verdict.ok else reference


def _say(line: str) -> None:
    """Print a verdict wrapped to the book's column (88 characters), continuation lines indented."""
    print(textwrap.fill(line, width=88, subsequent_indent="  ", break_long_words=False,
                        break_on_hyphens=False))


# --------------------------------------------------------------------------- for teachers


def _chapter_module(chapter):
    """``scoretutor.exercises.chNN`` for ``chapter`` (a number, ``"ch02"`` or the module itself)."""
    if inspect.ismodule(chapter):
        return chapter
    text = str(chapter)
    m = re.fullmatch(r"(?:ch)?0?(\d+)", text)
    if not m:
        raise ValueError(f"chapter must be a number such as 2 or a name such as 'ch02', got {chapter!r}")
    try:
        return importlib.import_module(f"{__name__}.ch{int(m.group(1)):02d}")
    except ModuleNotFoundError:
        raise ValueError(f"chapter {chapter!r} has no exercises (scoretutor.exercises has no "
                         f"ch{int(m.group(1)):02d})") from None


def check_chapter(chapter, functions: dict, *, seed: int | None = None, quiet: bool = False,
                  time_limit: float | None = None) -> list[Verdict]:
    """Run every check of ``chapter`` (2, ``"ch02"`` or the module) on ``functions`` (exercise name ->
    the student's function, e.g. ``{"most_probable_sigma": f}``) and return the verdicts (printed
    unless ``quiet``); a missing function gets the status ``"missing"``. With ``time_limit`` (seconds,
    Unix main thread only), a check still running after that long gets an ``"error"`` verdict (an
    endless loop) and the next one runs. Taught in chapter 1."""
    global _collected
    module = _chapter_module(chapter)
    verdicts = []
    for check_name in module.__all__:
        exercise = check_name.removeprefix("check_")
        number = re.match(r"\s*Exercise (\d+\.\d+)", getattr(module, check_name).__doc__ or "")
        label = f"Exercise {number.group(1)} ({exercise})" if number else exercise
        fn = functions.get(exercise)
        if fn is None and exercise in _UNPARSED:
            verdict = Verdict(label, "error", f"{label}: the cell that defines it does not parse: "
                                              f"{_UNPARSED[exercise]}")
            verdicts.append(verdict)
            if not quiet:
                _say("✘ " + verdict.message)
            continue
        if fn is None or not callable(fn):
            what = "no function" if fn is None else f"a {type(fn).__name__}, not a function,"
            verdict = Verdict(label, "missing", f"{label}: {what} named {exercise!r} was found")
            verdicts.append(verdict)
            if not quiet:
                _say("✘ " + verdict.message)
            continue
        _collected = []
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext(), _alarm(time_limit):
                getattr(module, check_name)(fn, seed=seed)
            verdicts += _collected
        except _TimeLimit:
            verdict = Verdict(label, "error", f"{label}: the check did not finish within {time_limit:g} s "
                                              "(an endless loop?); the other exercises were still checked")
            verdicts.append(verdict)
            if not quiet:
                print("✘ " + verdict.message)
        finally:
            _collected = None
    return verdicts


class _TimeLimit(BaseException):
    """Raised by the alarm of :func:`_alarm` (a BaseException, so a student's ``except Exception`` lets it by)."""


@contextlib.contextmanager
def _alarm(seconds: float | None):
    """Raise :class:`_TimeLimit` in the block after ``seconds`` (no limit if None, off the main thread or
    without ``signal.setitimer``)."""
    import signal
    import threading

    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(signum, frame):
        raise _TimeLimit

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: exercise name -> why the notebook cell that defines it does not parse (filled by _definitions)
_UNPARSED: dict[str, str] = {}

_CHAPTER_IMPORT = re.compile(r"scoretutor\.exercises\s+import\s+ch(\d+)|scoretutor\.exercises\.ch(\d+)")


def _notebook_cells(path: Path) -> list[str]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in nb["cells"] if c.get("cell_type") == "code"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a readable Jupyter notebook: {exc}") from None


def _definitions(sources: list[str]) -> dict:
    """Run the imports, function and class definitions and literal constants of the cells, in
    order, in a fresh namespace (nothing else: no training, no figures); returns the functions that
    the notebook's own ``def`` statements made, by name (the last one of each name), so that an import
    of the library's function of the same name never stands in for the student's."""
    namespace: dict = {"__name__": "student_notebook"}
    defined: dict = {}
    _UNPARSED.clear()
    for source in sources:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError as exc:
            for name in re.findall(r"^def (\w+)\(", source, re.M):  # what the cell meant to define
                _UNPARSED[name] = f"SyntaxError: {exc.msg} (line {exc.lineno} of its cell)"
            continue
        for node in tree.body:
            keep = isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                                     ast.ClassDef))
            if isinstance(node, ast.Assign):
                try:
                    ast.literal_eval(node.value)
                    keep = True
                except ValueError:
                    keep = False
            if keep:
                try:
                    exec(compile(ast.Module(body=[node], type_ignores=[]), "<notebook>", "exec"), namespace)
                except Exception:  # noqa: BLE001 - e.g. an import that only works on Colab
                    continue
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    defined[node.name] = namespace[node.name]
                    _UNPARSED.pop(node.name, None)
    return defined


def check_notebook(path, *, seed: int | None = None, quiet: bool = False,
                   time_limit: float | None = None) -> list[Verdict]:
    """Run the exercise checks of a student's chapter notebook on the functions it defines.

    The chapter comes from the notebook's ``scoretutor.exercises.chNN`` import (else its file name,
    ``NN_*.ipynb``). Only the notebook's imports, ``def``/``class`` statements and literal constants
    are run (in order, in a fresh namespace), then each check on the function that the notebook's
    last ``def`` of the exercise's name made (an imported library function of that name does not
    count). This runs the student's code, as the notebook itself would. Returns the verdicts (printed
    unless ``quiet``); ``time_limit`` as in :func:`check_chapter`. Taught in chapter 1."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no notebook at {path}")
    sources = _notebook_cells(path)
    found = _CHAPTER_IMPORT.search("\n".join(sources))
    number = next(g for g in found.groups() if g) if found else None
    if number is None:
        m = re.match(r"(\d+)_", path.name)
        if not m:
            raise ValueError(f"cannot tell which chapter {path} is: it imports no scoretutor.exercises.chNN "
                             "and its name does not start with the chapter number (NN_...)")
        number = m.group(1)
    try:
        return check_chapter(int(number), _definitions(sources), seed=seed, quiet=quiet, time_limit=time_limit)
    finally:
        _UNPARSED.clear()
