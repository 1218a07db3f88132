"""The library and the project's tools are lint-clean (ruff) and type-check (mypy, untyped defs too).

The rules are configured in pyproject.toml.  Checked: the library, the benchmarks, the tools, the examples and
dev.py; ruff also checks the tests.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

CHECKED = ["srelu_lib", "benchmarks", "tools", "examples", "dev.py"]
LINTED = [*CHECKED, "tests"]


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)


def test_ruff_is_clean():
    proc = _run("ruff", "check", "--no-cache", *LINTED)
    assert proc.returncode == 0, f"ruff check {' '.join(LINTED)} found problems:\n{proc.stdout}{proc.stderr}"


def test_mypy_is_clean():
    proc = _run("mypy", "--no-incremental", "--cache-dir", "/dev/null", *CHECKED)
    assert proc.returncode == 0, f"mypy {' '.join(CHECKED)} found problems:\n{proc.stdout}{proc.stderr}"


def test_the_project_rules_are_the_ones_applied(tmp_path):
    """The checks above mean something only with the project's rules: each must catch a planted fault."""
    bad = tmp_path / "planted.py"
    bad.write_text("def pairs(a, b):\n    return list(zip(a, b))\n\n\ndef untyped():\n    x: int = 'one'\n"
                   "    return x\n", encoding="utf-8")
    ruff = _run("ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad))
    assert ruff.returncode != 0 and "B905" in ruff.stdout, ruff.stdout  # rule set B is on
    mypy = _run("mypy", "--no-incremental", "--cache-dir", "/dev/null", "--config-file",
                str(ROOT / "pyproject.toml"), str(bad))
    assert mypy.returncode != 0 and "Incompatible types in assignment" in mypy.stdout, mypy.stdout  # untyped defs
