"""The library's house rules, checked on its source: every public name of a teaching module names the
chapter that teaches it, the README's layout table lists every module, the 1-D chapters import no
network code, and no module imports another in a cycle."""
import ast
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import scoretutor

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scoretutor"

#: machinery: no chapter teaches it (the command line, the run record, atomic writes, argument checks)
MACHINERY = {"scoretutor.cli", "scoretutor.run_record", "scoretutor.atomic", "scoretutor.checks",
             "scoretutor.__main__"}
CHAPTER = re.compile(r"\b[Cc]hapters? \d|\bExercise \d+\.\d+")


def modules():
    names = ["scoretutor"]
    for info in pkgutil.walk_packages(scoretutor.__path__, "scoretutor."):
        names.append(info.name)
    return sorted(n for n in names if not n.endswith("__main__"))


def teaching(name: str) -> bool:
    return not any(name == m or name.startswith(m + ".") for m in MACHINERY)


@pytest.mark.parametrize("name", [n for n in modules() if teaching(n)])
def test_every_public_name_names_its_chapter(name):
    module = importlib.import_module(name)
    missing = []
    for public in getattr(module, "__all__", []):
        obj = getattr(module, public)
        doc = getattr(obj, "__doc__", None) if callable(obj) or isinstance(obj, type) else None
        if doc is None:  # a constant: its comment lives in the module docstring
            doc = module.__doc__
        if not doc or not CHAPTER.search(doc):
            missing.append(public)
    assert not missing, f"{name}: docstrings that name no chapter: {missing}"
    assert module.__doc__ and CHAPTER.search(module.__doc__), f"{name}: the module docstring names no chapter"


def _layout_rows() -> dict[str, str]:
    """The README's layout table: path -> the row's text."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Layout"):]
    section = section[:section.index("\n## ", 4)]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([^`]+)`", line)
        if m:
            rows[m.group(1)] = line
    return rows


def test_readme_layout_table_lists_every_module():
    rows = _layout_rows()
    modules = [p for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    missing = [f"scoretutor/{p.name}" for p in modules if f"scoretutor/{p.name}" not in rows]
    for package in (p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        key = f"scoretutor/{package.name}/"
        if key not in rows:
            missing.append(key)
        elif package.name in ("data", "cli"):  # their rows name each module (the data's files, the commands)
            inner = [q.stem for q in package.glob("*.py") if q.name != "__init__.py"]
            missing += [f"{key}{name}.py" for name in inner
                        if (f"`{name}.py`" if package.name == "data" else name) not in rows[key]]
    stale = sorted(path for path in rows if path.startswith("scoretutor") and not (ROOT / path).exists())
    assert not missing, f"README's layout table does not list {missing}"
    assert not stale, f"README's layout table lists what does not exist: {stale}"


def test_the_one_dimensional_chapters_need_no_network_code():
    code = ("import sys, scoretutor.toy, scoretutor.schedule; "
            "bad = [m for m in ('torch', 'scoretutor.sampling', 'scoretutor.unet') if m in sys.modules]; "
            "print(bad); raise SystemExit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, f"import scoretutor.toy loads {out.stdout.strip()} {out.stderr[-300:]}"


def _imports(path: Path, name: str) -> set[str]:
    """The scoretutor modules that module ``name`` imports at its top level (not inside functions)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _is_module(candidate) else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {f for f in found if f.startswith("scoretutor")}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def test_no_import_cycles():
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if path.name == "__init__.py" else rel.parts)
        graph[name] = _imports(path, name) - {name}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
