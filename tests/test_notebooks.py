"""The course's notebook conventions, checked on every chapter without running it.

(Running them is nbval's job: `pytest` collects chapters/*.ipynb too.)
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
BADGE = "https://colab.research.google.com/github/scoretutor/scoretutor/blob/main/chapters/{name}"


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def code_cells(path):
    return [c for c in cells(path) if c["cell_type"] == "code" and source(c).strip()]


def test_there_are_chapters():
    assert CHAPTERS


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_opens_with_title_badge_and_objectives(path):
    first = source(cells(path)[0])
    assert first.startswith("# Chapter "), "the first cell is the chapter's title"
    assert BADGE.format(name=path.name) in first, "Open in Colab badge pointing at this very notebook"
    assert "learning objectives" in first.lower()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_first_code_cell_installs_and_sets_up(path):
    first = source(code_cells(path)[0])
    assert 'find_spec("scoretutor")' in first and "pip install" in first
    assert "setup(" in first


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_committed_executed_in_order(path):
    counts = [c.get("execution_count") for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), "restart the kernel and run all (tools/execute_notebooks.py)"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_progress_bars_errors_or_warnings_in_outputs(path):
    for cell in code_cells(path):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"a stored error in: {source(cell)[:60]!r}"
            if out["output_type"] == "stream" and out["name"] == "stderr":
                pytest.fail(f"stderr output (warning or progress bar) in: {source(cell)[:60]!r}: {out['text'][:200]!r}")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_ends_by_asserting_its_claims(path):
    tail = code_cells(path)[-2:]
    assert all("assert " in source(c) for c in tail), "the last cells assert the chapter's claims"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_ignore_output_tags_are_rare(path):
    tagged = [c for c in code_cells(path) if "nbval-ignore-output" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) <= 2, "nbval-ignore-output only where an output truly varies"


def test_table_of_contents_lists_every_chapter():
    toc = (ROOT / "_toc.yml").read_text()
    listed = re.findall(r"file:\s*chapters/(\S+)", toc)
    assert listed == [p.stem for p in CHAPTERS]
