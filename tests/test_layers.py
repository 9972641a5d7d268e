"""The layers the README describes are a rule the build checks (issue 22): `make lint` runs
import-linter with the contracts in pyproject.toml. Here: the tree as it is keeps them, and a
copy with one page importing a model breaks them, naming the import."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())[
    "tool"]["importlinter"]["root_packages"]
# What the tasks are made of: the decorators (retries) and the engine that applies a step once.
TASK_MACHINERY = {"retrying", "transitions"}


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--config",
         str(ROOT / "pyproject.toml")], cwd=tree, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def test_the_tree_keeps_its_layers() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_page_that_reads_a_model_breaks_the_build(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    page = tmp_path / "web" / "routes" / "public.py"
    page.write_text(page.read_text() + "\nfrom models.case import Case  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "web.routes.public -> models.case" in result.stdout
    assert "Pages and the CLI reach data only through the service BROKEN" in result.stdout


def test_every_module_in_tasks_holds_prefect_tasks() -> None:
    """tasks/ is where Prefect tasks live; what defines none has a home named for what it is
    (adapters/, models/, domain/)."""
    decorators = {"task", "case_task", "pause_task"}
    without = set()
    for path in sorted((ROOT / "tasks").glob("*.py")):
        if path.stem in TASK_MACHINERY | {"__init__"}:
            continue
        tree = ast.parse(path.read_text())
        functions = [node for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
        used = {d.id if isinstance(d, ast.Name) else getattr(d.func, "id", "")
                for node in functions for d in node.decorator_list
                if isinstance(d, ast.Name | ast.Call)}
        if not used & decorators:
            without.add(path.stem)
    assert without == set()
    assert all((ROOT / "tasks" / f"{name}.py").is_file() for name in TASK_MACHINERY)
