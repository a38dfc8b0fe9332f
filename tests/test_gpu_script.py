"""tools/train_gpu_models.py, the one-call GPU script, at tiny sizes on the CPU: DAVIS jobs one at a
time, export, benchmarks, chapters executed in the full profile (fake ones), results.json and packing."""
import importlib.util
import json
import sys
import tarfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from test_davis import make_davis  # noqa: E402


def _tool():
    spec = importlib.util.spec_from_file_location("train_gpu_models", ROOT / "tools" / "train_gpu_models.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def fakes(tmp_path):
    folder = tmp_path / "chapters"
    folder.mkdir()
    good = _notebook(folder / "98_good.ipynb", "import os\nassert os.environ['SCORETUTOR_PROFILE'] == 'full'\nprint('ok')")
    bad = _notebook(folder / "99_bad.ipynb", "raise RuntimeError('this chapter breaks')")
    return good, bad


def test_one_call_at_tiny_sizes(tmp_path, fakes, monkeypatch, capsys):
    base = np.random.default_rng(0).uniform(0, 255, size=(480, 854))
    root = make_davis(tmp_path / "DAVIS", {"a": 11, "b": 11, "c": 11, "d": 11}, shape=(480, 854),
                      image=lambda s, t: np.roll(base, 2 * t + 50 * (ord(s) - 97), axis=1))
    monkeypatch.setenv("SCORETUTOR_DAVIS_ROOT", str(root))
    monkeypatch.setenv("SCORETUTOR_DATA", str(tmp_path / "data"))
    results, out = tmp_path / "results", tmp_path / "OUT"
    good, bad = fakes
    argv = ["--smoke", "--jobs", "davis_k0", "davis_pred_k2", "--one-at-a-time", "--minutes", "0.05",
            "--epochs", "1", "--results", str(results), "--chapter", str(good), str(bad), "--benchmarks",
            "--throughput-batches", "8", "--sample-n", "8", "--sample-loop", "1", "--pack", str(out),
            "--deadline", "20"]
    before = good.read_text()
    assert _tool().main(argv) == 1  # one chapter failed
    data = json.loads((results / "results.json").read_text())
    for name in ("davis_k0", "davis_pred_k2"):
        job = data["train"][name]
        assert job["status"] == 0 and job["alone"] and job["exported"] and job["epochs"] == 1
        card = (results / "ckpt" / f"{name}.md").read_text()
        assert "Training sequences" in card and "Test sequences" in card and "SMOKE TEST ONLY" in card
    assert data["chapters"]["98_good.ipynb"]["ok"] and data["chapters"]["98_good.ipynb"]["wall_s"] > 0
    failed = data["chapters"]["99_bad.ipynb"]
    assert not failed["ok"] and "this chapter breaks" in failed["log_tail"]
    rates = data["benchmarks"]["train_throughput_batch8"]["rates"]
    assert rates["fast"]["batch"] == 8 and rates["fast"]["samples_per_s"] > 0 and rates["paper loop"]["batch"] == 4
    assert data["benchmarks"]["sampling_speed"]["samples"] == 8
    assert data["host"]["torch"] and data["total_s"] > 0 and data["skipped"] == []
    assert good.read_text() == before  # the originals are never executed in place: copies are
    assert nbformat.read(results / "chapters" / "98_good.ipynb", 4).cells[0].outputs[0]["text"] == "ok\n"
    packed = sorted(p.name for p in out.iterdir())
    assert packed == ["ckpt-1.tar", "logs-1.tar", "notebooks-1.tar", "results.json"]
    with tarfile.open(out / "ckpt-1.tar") as tar:
        assert {"ckpt/davis_k0.pt", "ckpt/davis_k0.md", "ckpt/davis_pred_k2.pt"} <= set(tar.getnames())
    assert all(p.stat().st_size < 15 * 2**20 for p in out.iterdir())


def test_the_deadline_skips_what_does_not_fit(tmp_path, fakes):
    good, _ = fakes
    results = tmp_path / "results"
    argv = ["--smoke", "--results", str(results), "--jobs", "davis_k0", "--one-at-a-time", "--minutes", "1",
            "--no-export", "--chapter", str(good), "--benchmarks", "--deadline", "0.01"]
    assert _tool().main(argv) == 1
    data = json.loads((results / "results.json").read_text())
    assert data["train"] == {} and "training davis_k0: too little time left" in data["skipped"]
    assert data["chapters"]["98_good.ipynb"] == {"ok": False, "finished": False, "note": "not run: out of time"}
    assert "sampling_speed: too little time left" in data["skipped"]


def test_chapters_run_in_plain_python_where_jupyter_is_missing(tmp_path, fakes):
    good, bad = fakes
    pip = _notebook(tmp_path / "chapters" / "97_pip.ipynb",
                    "import importlib.util\nif importlib.util.find_spec('nowhere_pkg') is None:\n"
                    "    %pip install nowhere_pkg\nimport scoretutor\nx = 1")
    results = tmp_path / "results"
    argv = ["--results", str(results), "--no-train", "--plain", "--chapter", str(pip), str(good), str(bad)]
    assert _tool().main(argv) == 1
    data = json.loads((results / "results.json").read_text())
    assert data["chapter_executor"] == "plain"
    assert data["chapters"]["97_pip.ipynb"]["ok"] and data["chapters"]["98_good.ipynb"]["ok"]  # %pip skipped
    failed = data["chapters"]["99_bad.ipynb"]
    assert not failed["ok"] and "RuntimeError: this chapter breaks" in failed["log_tail"]
    assert "cell 0 failed" in failed["log_tail"]


def test_packing_keeps_each_tar_under_the_limit(tmp_path):
    results = tmp_path / "r"
    (results / "ckpt").mkdir(parents=True)
    for i in range(3):
        (results / "ckpt" / f"m{i}.pt").write_bytes(b"x" * 600)
        (results / "ckpt" / f"m{i}.md").write_text("card")
    (results / "results.json").write_text("{}")
    written = _tool()._pack(results, tmp_path / "out", limit=1300)
    names = [p.name for p in written]
    assert names == ["results.json", "ckpt-1.tar", "ckpt-2.tar"]  # two checkpoints, then one, cards beside them
    with tarfile.open(tmp_path / "out" / "ckpt-1.tar") as tar:
        assert sorted(tar.getnames()) == ["ckpt/m0.md", "ckpt/m0.pt", "ckpt/m1.md", "ckpt/m1.pt"]
