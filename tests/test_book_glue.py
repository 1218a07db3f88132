"""Numbers in the prose come from cells: every glue reference in a chapter names a value that a
cell of that chapter stored (myst-nb ``glue``), once, and numeric formats get a number.

The book renders the values stored by the last execution (``python3 dev.py execute``), so a
reference to a name that no cell glues would render as a build warning at best and a stale
number at worst.  These checks read the stored notebooks only; they need no kernel.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))

# {glue}`key`, {glue:}`key`, {glue:any}`key`, {glue:text}`key:.3g`, {glue:md}`key`
GLUE_ROLE = re.compile(r"\{glue(?::(any|text|md)?)?\}`([^`]+)`")
# ```{glue} key   /  ```{glue:figure} key  /  ```{glue:math} key
GLUE_DIRECTIVE = re.compile(r"^\s*(`{3,}|:{3,})\{glue(?::\w*)?\}\s+(\S+)", re.MULTILINE)
GLUE_CALL = re.compile(r"""\bglue\(\s*(["'])([^"']+)\1""")
NUMERIC_TYPES = set("eEfFgGn%bcdoxX")


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def references(text: str) -> list[tuple[str, str, str]]:
    """(role kind, key, format spec) for every glue reference in markdown ``text``."""
    found = []
    for kind, content in GLUE_ROLE.findall(text):
        key, spec = content, ""
        if kind == "text" and ":" in content:
            key, spec = content.rsplit(":", 1)
        found.append((kind, key, spec))
    found += [("directive", key, "") for _, key in GLUE_DIRECTIVE.findall(text)]
    return found


def stored_glue(nb: dict) -> list[tuple[str, dict]]:
    """(name, output) for every glued value stored in the notebook's outputs, in order."""
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            meta = out.get("metadata", {}).get("scrapbook")
            if meta:
                found.append((meta["name"], out))
    return found


def plain_text(output: dict) -> str:
    for key, value in output.get("data", {}).items():
        if key.endswith("text/plain"):
            return "".join(value) if isinstance(value, list) else value
    return ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_every_glue_reference_names_a_value_glued_in_the_same_notebook(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    defined = {name for name, _ in stored_glue(nb)}
    missing = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for kind, key, _ in references(source(cell)):
            if "::" in key:
                missing.append(f"cell {index}: {key!r} refers to another document; glue it here")
            elif key not in defined:
                missing.append(f"cell {index}: {{glue:{kind}}} {key!r} is not glued by any cell")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_every_glue_name_is_defined_once_and_used(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    counts = Counter(name for name, _ in stored_glue(nb))
    twice = sorted(name for name, n in counts.items() if n > 1)
    assert not twice, f"glue names stored more than once (the prose would show one of them): {twice}"
    used = {key for cell in nb["cells"] if cell["cell_type"] == "markdown"
            for _, key, _ in references(source(cell))}
    unused = sorted(set(counts) - used)
    assert not unused, f"glued values the prose never uses (remove them or use them): {unused}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_glue_calls_match_the_stored_outputs(path: Path):
    """A glue call whose value is not in the stored outputs means the notebook was not re-executed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    stored = {name for name, _ in stored_glue(nb)}
    called = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            called.update(name for _, name in GLUE_CALL.findall(source(cell)))
    assert called <= stored, f"glued in code but not in the stored outputs: {sorted(called - stored)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_numeric_glue_formats_get_numbers(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    values = {name: plain_text(out) for name, out in stored_glue(nb)}
    bad = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for kind, key, spec in references(source(cell)):
            if kind != "text" or not spec or spec[-1] not in NUMERIC_TYPES or key not in values:
                continue
            try:
                value = ast.literal_eval(values[key])
            except (ValueError, SyntaxError):
                value = None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                bad.append(f"{key!r} is formatted as a number ({spec!r}) but stores {values[key]!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_markdown_pages_do_not_use_glue(path: Path):
    """A .md page has no cells, so a glue reference there can only come from another document."""
    text = path.read_text(encoding="utf-8")
    assert not references(text), f"{path.name} refers to glued values: {references(text)}"


def test_the_checks_see_a_reference_to_a_missing_name():
    text = "Speed-up {glue:text}`ratio:.1f`, bytes {glue:}`nbytes`, {glue}`plain`.\n```{glue:figure} fig\n```"
    assert references(text) == [("text", "ratio", ".1f"), ("", "nbytes", ""), ("", "plain", ""),
                                ("directive", "fig", "")]
