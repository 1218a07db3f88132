"""Numbers and tables for the book: glued values, aligned text tables, source listings, benchmark files.

The book states no number in its prose that a cell did not compute: a cell
calls :func:`glue` and the text refers to the value by name (myst-nb's
``{glue:text}`name:.3g``` role).  The other helpers print what a cell
measured as a readable table, so that the cell shows the measurement and not
the string formatting.

Example:
    >>> print_table(["name", "bytes"], [("X", 2400), ("tl", 24)], formats=[None, ","])
    name  bytes
    ----  -----
    X     2,400
    tl       24
"""

from __future__ import annotations

import ast
import csv
import inspect
import numbers
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = ["glue", "print_table", "source_text", "read_benchmark", "benchmark_rows", "benchmark_value"]

# myst-nb's glue format (myst_nb.ext.glue): a display_data output whose metadata names the value.
_GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` in the notebook under ``name`` for the prose, as myst-nb's ``glue`` does.

    Use it for every number the text states: the chapter's markdown writes
    ``{glue:text}`name:.3g``` (a formatted number) or ``{glue:}`name```, and
    the book renders the value stored by the last run of the cell.  Unlike
    ``myst_nb.glue`` it needs no myst-nb in the kernel (Colab), and it turns
    NumPy scalars into Python numbers, whose text form (``0.25``, not
    ``np.float64(0.25)``) the ``{glue:text}`` role can format.

    Caveat: the value is stored as its ``repr``; glue plain numbers, booleans
    or short strings, not arrays.

    Args:
        name: the key the prose refers to; unique within the notebook.
        value: a number (Python or NumPy scalar), a bool or a str.
        display: also show the value as the cell's output (default: stored only).

    It returns nothing, so a cell that ends with a ``glue`` call prints nothing more.

    Raises:
        TypeError: ``value`` is not a scalar number, bool or str.
        ValueError: ``name`` is empty or contains whitespace or a colon.

    Example:
        >>> glue("ratio", np.float64(0.25))  # stored in the notebook as 0.25
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name) or ":" in name:
        raise ValueError(f"glue name must be a non-empty string without spaces or ':'; got {name!r}")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (numbers.Number, str)) or isinstance(value, complex):
        raise TypeError(f"glue {name!r}: value must be a real number, a bool or a str; got {type(value).__name__}")
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipython_display

    bundle, metadata = format_display_data(value)
    prefix = "" if display else _GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipython_display({prefix + key: data for key, data in bundle.items()}, raw=True, metadata=metadata)


def _cell(value: Any, spec: str | None) -> str:
    if value is None or (isinstance(value, str) and value == ""):
        return "-"
    if spec is None or isinstance(value, str):
        return str(value)
    return format(value, spec)


def print_table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    formats: Sequence[str | None] | None = None,
    file: TextIO | None = None,
) -> None:
    """Print ``rows`` under ``header`` as an aligned text table.

    Numbers are right-aligned, text left-aligned; ``None`` or an empty string
    prints as ``-``.  Columns are separated by two spaces.

    Args:
        header: one title per column.
        rows: the rows, each with one value per column.
        formats: one format spec per column (``",", ".2f", ".1e"`` ...) applied
            to numbers; ``None`` (or a missing list) prints ``str(value)``.
        file: where to print (default: ``sys.stdout``).

    Raises:
        ValueError: a row does not have one value per column, or ``formats``
            has the wrong length.

    Example:
        >>> print_table(["x", "y"], [(1, 0.5), (10, 0.25)], formats=["d", ".2f"])
         x     y
        --  ----
         1  0.50
        10  0.25
    """
    header = [str(h) for h in header]
    formats = list(formats) if formats is not None else [None] * len(header)
    if len(formats) != len(header):
        raise ValueError(f"formats has {len(formats)} entries; expected one per column ({len(header)})")
    rows = [list(r) for r in rows]
    for k, r in enumerate(rows):
        if len(r) != len(header):
            raise ValueError(f"row {k} has {len(r)} values; expected one per column ({len(header)})")
    text = [[_cell(v, f) for v, f in zip(r, formats, strict=True)] for r in rows]
    numeric = [all(isinstance(r[j], numbers.Number) or r[j] is None for r in rows) and bool(rows)
               for j in range(len(header))]
    widths = [max([len(header[j])] + [len(t[j]) for t in text]) for j in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    print(line(header), file=file)
    print(line(["-" * w for w in widths]), file=file)
    for t in text:
        print(line(t), file=file)


def source_text(obj: Any, docstrings: bool = True) -> str:
    """The source code of a function or class, optionally without its docstrings.

    Use it to show a library function in a chapter: with ``docstrings=False``
    the docstring of ``obj`` and of every function and class inside it are
    left out, so the listing shows the code only.

    Args:
        obj: a function, method or class with retrievable source.
        docstrings: keep the docstrings (default) or drop them.

    Returns:
        The dedented source, ending with a newline.

    Example:
        >>> def f(x):
        ...     '''Twice x.'''
        ...     return 2 * x
        >>> print(source_text(f, docstrings=False), end="")  # doctest: +SKIP
        def f(x):
            return 2 * x
    """
    source = textwrap.dedent(inspect.getsource(obj))
    if docstrings:
        return source if source.endswith("\n") else source + "\n"
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                drop.update(range(first.lineno - 1, first.end_lineno))  # type: ignore[arg-type]
    kept = "".join(line for k, line in enumerate(lines) if k not in drop)
    return kept if kept.endswith("\n") else kept + "\n"


def read_benchmark(path: str | Path) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    """Read a CSV file written by ``benchmarks/bench_srelu.py``.

    The file starts with ``# key: value`` lines describing the machine and
    the software, followed by a CSV table.

    Returns:
        ``(machine, rows)``: the ``# key: value`` lines as a dict of lists (a
        key may repeat) and the table as a list of dicts of strings.

    Example:
        >>> import io, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "b.csv")
        >>> _ = open(path, "w").write("# cpu: test\\nimpl,size\\nnumba,10\\n")
        >>> read_benchmark(path)
        ({'cpu': ['test']}, [{'impl': 'numba', 'size': '10'}])
    """
    machine: dict[str, list[str]] = {}
    table: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# "):
                key, _, value = line[2:].partition(": ")
                machine.setdefault(key.strip(), []).append(value.strip())
            elif line.strip():
                table.append(line)
    return machine, list(csv.DictReader(table))


def benchmark_rows(rows: Sequence[dict[str, str]], size: int, dtype: str, layout: str | None = None,
                   impl: str | None = None) -> list[dict[str, str]]:
    """The rows of a benchmark table measured at about ``size`` elements (within a factor of 2).

    Args:
        rows: rows from :func:`read_benchmark`.
        size: the problem size asked for (the benchmark rounds shapes, so the
            stored size is near it).
        dtype: ``"float32"`` or ``"float64"``.
        layout: keep only this layout (``"SSCB"``, ``"CB"``), or all.
        impl: keep only this version (``"numba"``, ``"floor:copy"`` ...), or all.
    """
    return [r for r in rows
            if size / 2 <= int(r["size"]) < 2 * size and r["dtype"] == dtype
            and (layout is None or r["layout"] == layout) and (impl is None or r["impl"] == impl)]


def benchmark_value(rows: Sequence[dict[str, str]], column: str, *, impl: str, size: int, dtype: str,
                    layout: str) -> float:
    """One number of a benchmark table, for example the numba backward's ratio to its floor.

    Raises:
        LookupError: no row, or more than one, matches; or the cell is empty.
    """
    found = benchmark_rows(rows, size, dtype, layout, impl)
    if len(found) != 1:
        raise LookupError(f"{len(found)} rows match impl={impl!r}, size~{size}, dtype={dtype}, layout={layout}")
    value = found[0].get(column, "")
    if value in ("", None):
        raise LookupError(f"column {column!r} is empty for impl={impl!r}")
    return float(value)
