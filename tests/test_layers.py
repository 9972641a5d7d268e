"""The layers the README describes are a rule the build checks (issue 22): `make lint` runs
import-linter with the contracts in pyproject.toml. Here: the tree as it is keeps them, and a
copy with one page importing a model breaks them, naming the import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("web", "cli", "warm", "stack", "service", "flows", "tasks", "models", "policies",
            "settings", "domain")


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
