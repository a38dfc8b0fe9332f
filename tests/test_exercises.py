"""The exercise checker (scoretutor.exercises) and every worked solution in solutions/."""
import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import scoretutor.exercises as ex

ROOT = Path(__file__).resolve().parents[1]


def reference(x, a=2.0):
    return a * np.sin(x)


def inputs(rng):
    return (rng.normal(size=5),), {"a": float(rng.uniform(1, 3))}


def test_accepts_a_correct_function(capsys):
    chosen = ex.check_function(lambda x, a=2.0: a * np.sin(x), reference, inputs, name="Exercise 0.1")
    assert chosen is not reference
    assert "correct on 5 random inputs" in capsys.readouterr().out


def test_rejects_a_wrong_function_and_says_where():
    verdict = ex.verify(lambda x, a=2.0: a * np.cos(x), reference, inputs, name="Exercise 0.1", seed=1)
    assert verdict.status == "wrong" and not verdict.ok
    assert "expected" in verdict.message and "got" in verdict.message and "index" in verdict.message


def test_falls_back_on_not_implemented(capsys):
    def stub(x, a=2.0):
        raise NotImplementedError("Exercise 0.1: your code here")

    chosen = ex.check_function(stub, reference, inputs, name="Exercise 0.1")
    assert chosen is reference
    assert "not implemented yet" in capsys.readouterr().out


def test_reports_a_crash_with_its_input():
    verdict = ex.verify(lambda x, a=2.0: x[10], reference, inputs, name="Exercise 0.1", seed=0)
    assert verdict.status == "error"
    assert "IndexError" in verdict.message and "on input (x=[" in verdict.message and "a=" in verdict.message


def test_reports_a_wrong_shape():
    verdict = ex.verify(lambda x, a=2.0: np.zeros(3), reference, inputs, name="Exercise 0.1")
    assert verdict.status == "wrong" and "shape" in verdict.message


def test_reports_non_finite_output():
    verdict = ex.verify(lambda x, a=2.0: np.full_like(x, np.nan), reference, inputs, name="Exercise 0.1")
    assert verdict.status == "wrong" and "non-finite" in verdict.message


def _solution_modules():
    folder = ROOT / "solutions"
    return sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if m.name.startswith("ch"))


def test_every_chapter_with_exercises_has_solutions():
    checks = sorted(m.name for m in pkgutil.iter_modules(ex.__path__) if m.name.startswith("ch"))
    assert checks, "no exercise modules found"
    assert checks == _solution_modules()


@pytest.mark.parametrize("module", _solution_modules())
def test_worked_solutions_pass_their_checks(module):
    solutions = importlib.import_module(f"solutions.{module}")
    checks = importlib.import_module(f"scoretutor.exercises.{module}")
    names = sorted(n for n in dir(checks)
                   if n.startswith("check_") and getattr(getattr(checks, n), "__module__", "") == checks.__name__)
    assert names, f"scoretutor.exercises.{module} defines no check_ function"
    assert sorted(solutions.SOLUTIONS) == names, "every check needs a worked solution, and only those"
    for name in names:
        solution = solutions.SOLUTIONS[name]
        assert getattr(checks, name)(solution) is solution, f"{module}.{name} rejected the worked solution"
