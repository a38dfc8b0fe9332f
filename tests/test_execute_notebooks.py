"""tools/execute_notebooks.py: how chapters are committed executed."""
import importlib.util
import os
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "tools" / "execute_notebooks.py")
execute_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute_notebooks)


def test_executes_in_place_headless_and_in_order(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A tiny chapter"),
        nbformat.v4.new_code_cell("import os\nprint(os.environ['SCORETUTOR_HEADLESS'])"),
        nbformat.v4.new_code_cell("from pathlib import Path\nPath.cwd().name"),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert execute_notebooks.main([str(path)]) == 0
    assert "executed in" in capsys.readouterr().out
    done = nbformat.read(path, as_version=4)
    code = [c for c in done.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2]
    assert code[0].outputs[0]["text"] == "1\n"  # headless: no bars, static widgets
    assert code[1].outputs[0]["data"]["text/plain"] == repr(tmp_path.name)  # runs from the notebook's folder
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)
    assert done.metadata["kernelspec"]["name"] == "python3"


def test_drops_the_widget_state_the_kernel_left(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import ipywidgets\nipywidgets.IntSlider(3)")]
    # What nbclient itself stores: the state this executor must drop.
    from nbclient import NotebookClient

    raw = nbformat.from_dict(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(nb.cells[0].source)]))
    NotebookClient(raw, kernel_name="python3").execute()
    assert "widgets" in raw.metadata
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert execute_notebooks.main([str(path)]) == 0
    assert "widgets" not in nbformat.read(path, as_version=4).metadata
