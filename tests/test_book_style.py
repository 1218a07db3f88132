"""The book's house style, checked on the stored chapters.

- Code lines are at most 80 characters (code cells and code blocks in the text), so a rendered
  page needs no horizontal scroll at 1280 px.
- One dash: a spaced em dash (" — "). No hyphen or double hyphen used as a dash, no en dash.
- One name per concept: the finite-difference step is h (not a second epsilon), the format of an
  array is read with ``dims(X)`` (MATLAB's function) rather than the ``.fmt`` attribute.
- Python a reader sees runs: no Python listing in the markdown (an exercise's solution included,
  where a fence sits inside a directive's fence); it goes in a code cell that is executed, as in
  the gated ``solution-start`` / ``solution-end`` form. A listing in another language names it.
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


# The info string of a fence that shows Python: a reader takes it for code that runs. An
# unlabelled fence counts too, since Sphinx highlights it as Python.
PYTHON_LANGUAGES = {"", "python", "python3", "py", "py3", "ipython", "ipython3", "pycon"}
# MyST directives whose content is a code listing; the argument names the language.
CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode"}


def fence_language(info: str) -> str | None:
    """The language of a fence with info string ``info`` ("" if unlabelled), None for a directive
    that is not a code listing (``{note}``, ``{solution}``, ...), whose content is markdown."""
    if not info.startswith("{"):
        return info.split()[0].lower() if info else ""
    name, _, argument = info[1:].partition("}")
    if name not in CODE_DIRECTIVES:
        return None
    return argument.split()[0].lower() if argument.split() else ""


def parse_markdown(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(prose lines, code blocks as (language, lines)) of a markdown text.

    Fences nest as MyST nests them: inside a directive (```` ````{solution} ````) a shorter
    fence opens a block of its own, a code block when it is a plain fence (```` ```python ````,
    an unlabelled ```` ``` ````) or a code directive. Inside a code block nothing opens.
    """
    prose: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    open_fences: list[tuple[str, str | None]] = []  # (marker, language; None for a directive)
    for line in text.splitlines():
        m = FENCE.match(line)
        top = open_fences[-1] if open_fences else None
        in_code = top is not None and top[1] is not None
        if m:
            marker, info = m.group(2), m.group(3).strip()
            if top is not None and not info and marker[0] == top[0][0] and len(marker) >= len(top[0]):
                open_fences.pop()
                continue
            if not in_code:
                language = fence_language(info)
                open_fences.append((marker, language))
                if language is not None:
                    blocks.append((language, []))
                continue
        if in_code:
            blocks[-1][1].append(line)
        elif not line.lstrip().startswith(":"):  # directive options such as :label:
            prose.append(line)
    return prose, blocks


def split_markdown(text: str) -> tuple[list[str], list[str]]:
    """(prose lines, code lines) of a markdown text; MyST directives that are not code stay prose."""
    prose, blocks = parse_markdown(text)
    return prose, [line for _, lines in blocks for line in lines]


def markdown_texts() -> list[tuple[str, str]]:
    """(where, text) for every markdown cell of a chapter and every .md page."""
    found = []
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        found += [(f"{path.name} cell {index}", source(cell)) for index, cell in enumerate(nb["cells"])
                  if cell["cell_type"] == "markdown"]
    found += [(path.name, path.read_text(encoding="utf-8")) for path in PAGES]
    return found


def chapters() -> list[tuple[str, list[str], list[str]]]:
    """(where, prose lines, code lines) for every markdown cell, code cell and .md page."""
    found = []
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        found += [(f"{path.name} cell {index}", [], source(cell).splitlines())
                  for index, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"]
    found += [(where, *split_markdown(text)) for where, text in markdown_texts()]
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
    (r"\S -$", "a hyphen ending a line, used as a dash"),
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


def test_math_has_no_dashes():
    """A dash inside math is a minus sign that a text substitution turned into punctuation."""
    found = []
    for where, prose, _ in chapters():
        in_math = False
        for line in prose:
            if line.strip().startswith("$$"):
                in_math = not in_math or line.strip().count("$$") == 2
                continue
            math = [line] if in_math else re.findall(r"\$[^$]*\$", line)
            if any(dash in part for part in math for dash in "\u2014\u2013"):
                found.append(f"{where}: {line.strip()[:100]}")
    assert not found, "a dash in math (write a minus sign as -):\n" + "\n".join(found)


def test_one_symbol_for_the_finite_difference_step():
    found = [f"{where}: {line.strip()[:100]}" for where, prose, _ in chapters()
             for line in prose if "\\varepsilon" in line]
    assert not found, "the step of a finite difference is h; epsilon is machine epsilon:\n" + "\n".join(found)


def test_python_a_reader_sees_runs_in_a_code_cell():
    found = [f"{where}: ```{language} block starting {next(iter(lines), '').strip()[:60]!r}"
             for where, text in markdown_texts() for language, lines in parse_markdown(text)[1]
             if language in PYTHON_LANGUAGES]
    assert not found, (
        "Python in the markdown is never executed, so what it shows (outputs, numbers, errors) is"
        " unchecked. Put it in a code cell (an exercise's solution: the gated solution-start /"
        " solution-end form); a listing in another language names it (```matlab, ```text,"
        " ```shell):\n" + "\n".join(found))


def test_book_code_reads_formats_with_dims():
    found = [f"{where}: {line.strip()}" for where, _, code in chapters() for line in code
             if re.search(r"\w\.fmt\b", line)]
    assert not found, "read an array's format with dims(X), as MATLAB does:\n" + "\n".join(found)


def test_the_style_checks_see_what_they_look_for():
    prose, code = split_markdown("A - B and C\n```python\nx = 1 - 2\n```\n```{note}\nD - E\n```\n:label: a - b")
    assert prose == ["A - B and C", "D - E"] and code == ["x = 1 - 2"]
    assert without_code_and_math("`a - b` and $x - y$") == "`…` and $…$"


def test_the_style_checks_see_code_nested_in_a_directive():
    solution = "\n".join([
        "````{solution} ex-1", ":class: dropdown", "Prose - one.",
        "```python", "x = 1 - 2", "```",
        "```", "unlabelled = 1", "```",
        "```matlab", "y = sqrt(2);", "```",
        "```{code-block} py", "z = 3", "```",
        "```{math}", "a - b", "```",
        "After - all.", "````", "Outside."])
    prose, blocks = parse_markdown(solution)
    assert prose == ["Prose - one.", "a - b", "After - all.", "Outside."]
    assert blocks == [("python", ["x = 1 - 2"]), ("", ["unlabelled = 1"]),
                      ("matlab", ["y = sqrt(2);"]), ("py", ["z = 3"])]
    assert split_markdown(solution)[1] == ["x = 1 - 2", "unlabelled = 1", "y = sqrt(2);", "z = 3"]
    # a fence inside a code block is code, and only a bare fence as long as the opener closes it
    prose, blocks = parse_markdown("````text\n```python\n```\n````\nafter")
    assert blocks == [("text", ["```python", "```"])] and prose == ["after"]
    shown_python = [language for language, _ in parse_markdown(solution)[1] if language in PYTHON_LANGUAGES]
    assert shown_python == ["python", "", "py"]  # the MATLAB listing stays allowed
