"""The book's house style, checked on the stored chapters.

- Code lines are at most 80 characters (code cells and code blocks in the text), so a rendered
  page needs no horizontal scroll at 1280 px.
- One dash: a spaced em dash (" — "). No hyphen or double hyphen used as a dash, no en dash.
- One name per concept: the finite-difference step is h (not a second epsilon), the format of an
  array is read with ``dims(X)`` (MATLAB's function) rather than the ``.fmt`` attribute.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))
MAX_CODE_LINE = 80
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def split_markdown(text: str) -> tuple[list[str], list[str]]:
    """(prose lines, code lines) of a markdown text; MyST directives that are not code stay prose."""
    prose, code = [], []
    fence: str | None = None
    is_code = False
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            fence, info = m.group(2), m.group(3).strip()
            is_code = not info.startswith("{") or info.startswith(("{code", "{code-cell"))
            continue
        if fence is not None and m and m.group(2).startswith(fence[0] * len(fence)) and not m.group(3).strip():
            fence = None
            continue
        if fence is not None and is_code:
            code.append(line)
        elif not line.lstrip().startswith(":"):  # directive options such as :label:
            prose.append(line)
    return prose, code


def chapters() -> list[tuple[str, list[str], list[str]]]:
    """(where, prose lines, code lines) for every markdown cell, code cell and .md page."""
    found = []
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for index, cell in enumerate(nb["cells"]):
            where = f"{path.name} cell {index}"
            if cell["cell_type"] == "code":
                found.append((where, [], source(cell).splitlines()))
            elif cell["cell_type"] == "markdown":
                found.append((where, *split_markdown(source(cell))))
    for path in PAGES:
        found.append((path.name, *split_markdown(path.read_text(encoding="utf-8"))))
    return found


def without_code_and_math(line: str) -> str:
    line = re.sub(r"`[^`]*`", "`…`", line)  # inline code and roles' targets
    return re.sub(r"\$[^$]*\$", "$…$", line)  # inline math


def test_code_lines_fit_in_80_characters():
    long = [f"{where}: {len(line)} chars: {line[:60]}..." for where, _, code in chapters()
            for line in code if len(line) > MAX_CODE_LINE]
    assert not long, f"{len(long)} code lines are longer than {MAX_CODE_LINE} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("pattern, why", [
    (r"\S - \S", "a hyphen between spaces used as a dash"),
    (r"\s--\s|\S--\S", "a double hyphen used as a dash"),
    ("\u2013", "an en dash (write ranges as 'from a to b')"),
    (r"\S\u2014|\u2014\S", "an unspaced em dash (the book's dash is ' — ')"),
])
def test_one_dash_style(pattern, why):
    found = []
    for where, prose, _ in chapters():
        in_math = False
        for line in prose:
            if line.strip().startswith("$$"):
                in_math = not in_math or line.strip().count("$$") == 2
                continue
            if in_math or line.lstrip().startswith(("|---", "| ---")):
                continue
            text = without_code_and_math(line)
            if re.search(pattern, text):
                found.append(f"{where}: {line.strip()[:100]}")
    assert not found, f"{why}:\n" + "\n".join(found)


def test_one_symbol_for_the_finite_difference_step():
    found = [f"{where}: {line.strip()[:100]}" for where, prose, _ in chapters()
             for line in prose if "\\varepsilon" in line]
    assert not found, "the step of a finite difference is h; epsilon is machine epsilon:\n" + "\n".join(found)


def test_book_code_reads_formats_with_dims():
    found = [f"{where}: {line.strip()}" for where, _, code in chapters() for line in code
             if re.search(r"\w\.fmt\b", line)]
    assert not found, "read an array's format with dims(X), as MATLAB does:\n" + "\n".join(found)


def test_the_style_checks_see_what_they_look_for():
    prose, code = split_markdown("A - B and C\n```python\nx = 1 - 2\n```\n```{note}\nD - E\n```\n:label: a - b")
    assert prose == ["A - B and C", "D - E"] and code == ["x = 1 - 2"]
    assert without_code_and_math("`a - b` and $x - y$") == "`…` and $…$"
