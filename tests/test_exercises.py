"""The exercise checker (scoretutor.exercises) and every worked solution in solutions/."""
import importlib
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

import scoretutor.exercises as ex
from scoretutor.cli import main

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


# --------------------------------------------------------------------------- verdicts on wrong answers


def _checks():
    """Every (module, check name) of every chapter."""
    for module in _solution_modules():
        checks = importlib.import_module(f"scoretutor.exercises.{module}")
        for name in checks.__all__:
            yield module, name


@pytest.mark.parametrize("module, name", list(_checks()))
def test_every_verdict_has_one_prefix_and_names_the_fallback(module, name, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    checks = importlib.import_module(f"scoretutor.exercises.{module}")
    getattr(checks, name)(stub)
    printed = capsys.readouterr().out
    assert max(map(len, printed.splitlines())) <= 88, "a verdict fits the book's column"
    out = _unwrap(printed)
    chapter, exercise = int(module[2:]), name.removeprefix("check_")
    assert re.match(rf"✘ Exercise {chapter}\.\d \({exercise}\): not implemented yet; from here on the notebook "
                    r"uses the reference solution `scoretutor\.[^`]+`\.\n$", out), out


def _unwrap(printed: str) -> str:
    """A verdict as one line: verdicts are printed wrapped to 88 columns, continuations indented."""
    return re.sub(r"\n  (?=\S)", " ", printed)


def _sign_flipped(y, denoised, sigma):
    return (y - denoised) / sigma**2


#: (module, check, a wrong answer, what its verdict must say)
WRONG = [
    ("ch01", "check_score_from_denoiser", _sign_flipped, "Your version has the sign flipped"),
    ("ch01", "check_posterior_mean_two_points",
     lambda y, sigma, a, b, w_a: solutions_fn("ch01", "posterior_mean_two_points")(y, sigma, a, b, 0.5),
     "Your version ignores the weights"),
    ("ch02", "check_most_probable_sigma",
     lambda prior, y, sigmas: sigmas[np.argmax(prior.log_density(np.asarray(y)[..., None], sigmas), axis=-1)],
     "Your version maximises the likelihood p_sigma(y) alone"),
    ("ch02", "check_sampler_step", lambda y, d, t, h0, beta, z: y + h0 * (d - y), "Hint: d = denoised - y"),
    ("ch03", "check_mean_speed",
     lambda c: np.linalg.norm(np.diff(c, axis=-2).mean(axis=-2), axis=-1),
     "Your version averages the displacements before taking their length"),
    ("ch04", "check_bias_free_norm",
     lambda x, sd, scale: (x - x.mean(dim=(0, 2, 3), keepdim=True)) / sd.view(1, -1, 1, 1) * scale.view(1, -1, 1, 1),
     "Your version subtracts a mean: the bias-free layer must not"),
    ("ch04", "check_parameter_count", lambda k, width, scales: 1000, "Hint: count each 3x3 convolution's weights"),
    ("ch04", "check_jvp", lambda model, x, v: model(x), "Your version returns model(x), which is J(x) x"),
    ("ch05", "check_psnr",
     lambda e, r, peak: 10 * np.log10(peak**2 / np.mean((e - r) ** 2)), "Your version averages the MSE"),
    ("ch06", "check_sharpness",
     lambda images: solutions_fn("ch06", "sharpness")(images) ** 2, "Your version returns the mean squared gradient"),
    ("ch06", "check_blend_coefficient",
     lambda frame, first, second: solutions_fn("ch06", "blend_coefficient")(frame, second, first),
     "Your version has the two renderings the wrong way round"),
    ("ch07", "check_linear_extrapolation",
     lambda past: 2 * past[:, -1:] - past[:, -2:-1], "Your version does not clip to [0, 1]"),
    ("ch07", "check_ssim", lambda x, y: 0.5, "Hint: weight the local means"),
]


def solutions_fn(module, name):
    return getattr(importlib.import_module(f"solutions.{module}"), name)


@pytest.mark.parametrize("module, name, wrong, says", WRONG, ids=[f"{m}.{n}" for m, n, _, _ in WRONG])
def test_wrong_answers_get_named_arguments_values_a_seed_and_their_hint(module, name, wrong, says, capsys):
    checks = importlib.import_module(f"scoretutor.exercises.{module}")
    chosen = getattr(checks, name)(wrong, seed=7)
    printed = capsys.readouterr().out
    assert max(map(len, printed.splitlines())) <= 88, "a verdict fits the book's column"
    out = _unwrap(printed)
    assert chosen is not wrong
    assert f"Exercise {int(module[2:])}." in out and says in out, out
    assert re.search(r"on input \(\w+(\[[\d, ]+\])?=", out), "the verdict names the arguments"
    assert "inputs of seed 7: pass seed=7 to the check to replay them" in out
    assert "From here on the notebook uses the reference solution `scoretutor." in out
    getattr(checks, name)(wrong, seed=7)
    assert _unwrap(capsys.readouterr().out) == out  # the seed replays the same inputs, hence the same verdict


def test_a_wrong_elementwise_answer_shows_the_failing_element_of_each_argument():
    verdict = ex.verify(lambda x, a=2.0: a * np.sin(x) + (x > 0.5), reference, inputs, name="Exercise 0.1 (f)",
                        seed=3)
    i = re.search(r"at index \[(\d+)\]", verdict.message).group(1)
    assert f"x[{i}]=" in verdict.message and "a=" in verdict.message


# --------------------------------------------------------------------------- for teachers


def _student_notebook(tmp_path, chapter_file, solved: dict):
    """A copy of a chapter notebook where the stub of each exercise in ``solved`` is replaced by its
    solution's source (as a student would write it)."""
    import inspect
    import json

    nb = json.loads((ROOT / "chapters" / chapter_file).read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for name, fn in solved.items():
            if cell["cell_type"] == "code" and f"def {name}(" in source:
                cell["source"] = "import numpy as np\nfrom scoretutor.schedule import injected_noise, step_size\n\n" \
                                 + inspect.getsource(fn)
    path = tmp_path / chapter_file
    path.write_text(json.dumps(nb))
    return path


def test_check_notebook_runs_a_chapters_checks_on_a_students_functions(tmp_path, capsys):
    solutions = importlib.import_module("solutions.ch02")
    path = _student_notebook(tmp_path, "02_blind_sampler.ipynb", {"most_probable_sigma": solutions.most_probable_sigma})
    verdicts = ex.check_notebook(path, seed=0, quiet=True)
    assert [(v.name, v.status) for v in verdicts] == [("Exercise 2.1 (most_probable_sigma)", "correct"),
                                                      ("Exercise 2.2 (sampler_step)", "not implemented")]
    assert capsys.readouterr().out == ""  # quiet
    assert main(["check-exercises", str(path), "--seed", "0"]) == 1
    out = capsys.readouterr().out
    assert "✔ Exercise 2.1 (most_probable_sigma): correct" in out and "1 of 2 exercises correct" in out
    solved = _student_notebook(tmp_path, "02_blind_sampler.ipynb", {
        "most_probable_sigma": solutions.most_probable_sigma, "sampler_step": solutions.sampler_step})
    assert main(["check-exercises", str(solved)]) == 0


def test_check_chapter_reports_missing_functions():
    verdicts = ex.check_chapter(1, {"score_from_denoiser": importlib.import_module("solutions.ch01").score_from_denoiser},
                                quiet=True)
    assert [v.status for v in verdicts] == ["missing", "correct"]
    assert "no function named 'posterior_mean_two_points' was found" in verdicts[0].message
    with pytest.raises(ValueError, match="chapter 9 has no exercises"):
        ex.check_chapter(9, {})


def test_the_teachers_guide_shows_a_true_verdict_and_the_real_command(capsys):
    page = (ROOT / "book" / "teachers.md").read_text()
    example = page[page.index("```text\n") + 8:]
    example = " ".join(example[:example.index("```")].split())
    checks = importlib.import_module("scoretutor.exercises.ch01")
    checks.check_score_from_denoiser(_sign_flipped, seed=3)
    assert " ".join(capsys.readouterr().out.split()) == example
    assert "python -m scoretutor check-exercises" in page and "file: book/teachers" in (ROOT / "_toc.yml").read_text()


def test_check_notebook_names_a_cell_that_does_not_parse(tmp_path):
    import json

    nb = json.loads((ROOT / "chapters" / "01_tweedie.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "def score_from_denoiser(" in "".join(cell["source"]):
            cell["source"] = "def score_from_denoiser(y, denoised, sigma):\n    return (denoised - y) / sigma**2)\n"
    path = tmp_path / "01_tweedie.ipynb"
    path.write_text(json.dumps(nb))
    verdicts = {v.name: v for v in ex.check_notebook(path, quiet=True)}
    bad = verdicts["Exercise 1.2 (score_from_denoiser)"]
    assert bad.status == "error" and "the cell that defines it does not parse: SyntaxError" in bad.message


def test_check_notebook_never_takes_an_imported_library_function_for_the_students(tmp_path):
    import json

    nb = json.loads((ROOT / "chapters" / "01_tweedie.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "from scoretutor.toy import score_from_denoiser\n"})
    path = tmp_path / "01_tweedie.ipynb"
    path.write_text(json.dumps(nb))
    statuses = [v.status for v in ex.check_notebook(path, quiet=True)]
    assert statuses == ["not implemented", "not implemented"]  # the stubs, not the library's reference


def test_an_endless_loop_gets_a_verdict_and_the_next_exercise_is_still_checked(tmp_path, capsys):
    import json

    nb = json.loads((ROOT / "chapters" / "01_tweedie.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "def posterior_mean_two_points(" in "".join(cell["source"]):
            cell["source"] = ("def posterior_mean_two_points(y, sigma, a, b, w_a):\n    while True:\n"
                              "        try:\n            pass\n        except Exception:\n            pass\n")
    path = tmp_path / "01_tweedie.ipynb"
    path.write_text(json.dumps(nb))
    verdicts = ex.check_notebook(path, quiet=True, time_limit=0.5)
    assert [v.status for v in verdicts] == ["error", "not implemented"]
    assert "did not finish within 0.5 s (an endless loop?)" in verdicts[0].message
    assert main(["check-exercises", str(path), "--time-limit", "0.5"]) == 1
    assert "1.1 (posterior_mean_two_points): the check did not finish within 0.5 s" in capsys.readouterr().out
    assert main(["check-exercises", str(path), "--time-limit", "-1"]) == 2
    assert "error: --time-limit must be >= 0 seconds, got -1" in capsys.readouterr().err
