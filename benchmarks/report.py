"""The SReLU benchmark's output: the machine it ran on, the table, its legend, and the CSV file.

The rows are dicts made by ``bench_srelu.measure`` (keys: :data:`FIELDS`); a missing value prints as ``-``,
a value that could not be measured (NaN) as ``n/a``.
"""

from __future__ import annotations

import csv
import datetime
import math
import os
import platform
import sys
from typing import Any

import numpy as np

__all__ = ["FIELDS", "LEGEND", "machine_info", "format_table", "write_csv"]

FIELDS = ["size", "dtype", "layout", "impl", "fwd_ms", "bwd_ms", "fwdbwd_ms", "fwd_per_copy", "fwd_per_copy_alloc",
          "bwd_per_add", "bwd_per_add_alloc", "fwd_per_auto", "bwd_per_auto", "speedup_vs_literal", "mem_fwd",
          "mem_bwd"]


def machine_info() -> dict[str, str]:
    """Date, CPU, Python, NumPy and numba (when the run imported it), for the header of the output."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"date": datetime.date.today().isoformat(), "cpu": cpu, "cpu_count": str(os.cpu_count()),
            "python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform()}
    numba = sys.modules.get("numba")  # imported by its backend when the run used it
    if numba is not None:
        info["numba"] = getattr(numba, "__version__", "?")
    return info


def _fmt(value: Any, spec: str) -> str:
    if value == "" or value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return format(value, spec)


# (title, key, format, width) of every column after the impl's name
COLUMNS = [("fwd ms", "fwd_ms", "9.2f", 9), ("bwd ms", "bwd_ms", "9.2f", 9), ("f+b ms", "fwdbwd_ms", "9.2f", 9),
           ("fwd/copy", "fwd_per_copy", "8.2f", 8), ("fwd/cpyA", "fwd_per_copy_alloc", "8.2f", 8),
           ("bwd/add", "bwd_per_add", "8.2f", 8), ("bwd/addA", "bwd_per_add_alloc", "8.2f", 8),
           ("fwd/auto", "fwd_per_auto", "8.2f", 8), ("bwd/auto", "bwd_per_auto", "8.2f", 8),
           ("x lit", "speedup_vs_literal", "6.1f", 6), ("memF", "mem_fwd", "5.2f", 5), ("memB", "mem_bwd", "5.2f", 5)]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a fixed-width text table, one line per row."""
    head = f"{'size':>11} {'dtype':<7} {'layout':<6} {'impl':<16} " + " ".join(
        f"{title:>{width}}" for title, _, _, width in COLUMNS)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['size']:>11,} {r['dtype']:<7} {r['layout']:<6} {r['impl']:<16} " + " ".join(
            f"{_fmt(r.get(key), spec):>{width}}" for _, key, spec, width in COLUMNS))
    return "\n".join(lines)


LEGEND = """\
Ratios are medians of per-round ratios (each against the floor timed just before, in the same round).
fwd/copy, bwd/add: time / preallocated floor (np.copyto(dst, X); np.add(X, dLdY, out=D)).
fwd/cpyA, bwd/addA: time / allocating floor (X.copy(); X + dLdY) -- fair for functions that return new arrays.
fwd/auto, bwd/auto: time / srelu_lib's default path (the auto row) in the same round; above 1: slower than it.
x lit: forward+backward speed-up over the literal three-mask translation (same-round pairs).
memF, memB: peak extra memory (tracemalloc) beyond the returned outputs, as a multiple of the input's bytes;
n/a: not traced (PyTorch and JAX allocate outside tracemalloc's view)."""


def write_csv(path: str, rows: list[dict[str, Any]], info: dict[str, str], notes: list[str]) -> None:
    """Every row to ``path`` (columns :data:`FIELDS`), after ``# key: value`` lines for ``info`` and ``notes``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        for key, value in info.items():
            f.write(f"# {key}: {value}\n")
        for note in notes:
            f.write(f"# note: {note}\n")
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (round(v, 4) if isinstance(v, float) and not math.isnan(v) else
                                 ("" if isinstance(v, float) else v)) for k, v in r.items()})
