"""The book builds strictly, and its notebooks are stored executed, error-free and listed in the TOC."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, toc_files, toc_source

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def test_strict_build_has_no_warnings(book_build):
    problems = [line for line in book_build.log.splitlines() if re.search(r"\b(WARNING|ERROR)\b", line)]
    assert book_build.returncode == 0, (
        f"`jupyter-book build . -W -n --keep-going --all` exited {book_build.returncode}; "
        f"log in _build/build.log. Warnings/errors:\n" + "\n".join(problems or book_build.log.splitlines()[-40:])
    )
    assert not problems, "build log has warnings/errors:\n" + "\n".join(problems)
    assert (book_build.html / "index.html").is_file()
    for docname in toc_files():
        assert (book_build.html / f"{docname}.html").is_file(), f"{docname}.html was not built"


def test_every_toc_entry_exists():
    missing = [d for d in toc_files() if toc_source(d) is None]
    assert not missing, f"_toc.yml lists files that do not exist (as .ipynb or .md): {missing}"


def test_every_notebook_is_in_the_toc():
    listed = set(toc_files())
    unlisted = [nb.relative_to(ROOT).as_posix() for nb in NOTEBOOKS
                if nb.relative_to(ROOT).with_suffix("").as_posix() not in listed]
    assert not unlisted, f"notebooks missing from _toc.yml: {unlisted}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_notebook_is_stored_executed_without_errors(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    kernel = nb.get("metadata", {}).get("kernelspec", {})
    assert kernel.get("name") == "python3", f"kernelspec name is {kernel.get('name')!r}, expected 'python3'"
    assert nb.get("metadata", {}).get("language_info", {}).get("name", "python") == "python"
    errors, unexecuted = [], []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if source.strip() and cell.get("execution_count") is None:
            unexecuted.append(index)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"cell {index}: {out.get('ename')}: {out.get('evalue')}")
    assert not errors, f"stored error outputs (re-run `python3 dev.py execute {path.relative_to(ROOT)}`): {errors}"
    assert not unexecuted, f"code cells never executed: {unexecuted} (run `python3 dev.py execute`)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_first_cell_installs_srelu_lib_from_the_configured_repository(path: Path):
    """Colab: the first code cell installs the package from _config.yml's repository URL, if missing."""
    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    nb = json.loads(path.read_text(encoding="utf-8"))
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    source = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
    assert "import srelu_lib" in source and "except ImportError" in source, "first code cell is not the bootstrap"
    assert f"git+{url}" in source, f"the bootstrap cell does not install from the repository URL {url}"
    assert not first.get("outputs"), "the bootstrap cell must print nothing when srelu_lib is installed"
