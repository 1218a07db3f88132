"""Dimension labels: the valid labels, their canonical order, and the checks of a format string.

A format has one label per dimension: ``S`` (spatial, any number), ``C``
(channel), ``B`` (batch), ``T`` (time) - each of these three at most once -
and ``U`` (unspecified, any number).  Formatted data is stored in the
canonical order ``S…, C, B, T, U…`` (see :mod:`srelu_lib.arrays`).
"""

from __future__ import annotations

import functools

__all__ = ["LABELS", "canonical_permutation", "check_format", "stored_format_problem"]

#: The valid dimension labels, in canonical order.
LABELS = "SCBTU"
_SINGLE = "CBT"  # labels that may appear at most once


def canonical_permutation(fmt: str) -> tuple[tuple[int, ...], str]:
    """Return ``(perm, canonical_fmt)`` that sorts ``fmt`` into S…, C, B, T, U… order.

    The sort is stable, so several S (or U) dimensions keep their relative order.
    ``np.transpose(data, perm)`` puts data labelled ``fmt`` into canonical order.
    """
    perm = tuple(sorted(range(len(fmt)), key=lambda i: LABELS.index(fmt[i])))
    return perm, "".join(fmt[i] for i in perm)


def _label_problem(fmt: str) -> str:
    """What is wrong with the labels of ``fmt`` ("" if nothing)."""
    bad = sorted(set(fmt) - set(LABELS))
    if bad:
        return f"fmt {fmt!r} has invalid label(s) {''.join(bad)!r}; valid labels are S, C, B, T, U"
    for label in _SINGLE:
        if fmt.count(label) > 1:
            return f"fmt {fmt!r} has more than one {label!r} label; at most one is allowed"
    return ""


def check_format(fmt: str, ndim: int) -> None:
    """Check a format given to :func:`~srelu_lib.dlarray` for data with ``ndim`` dimensions.

    A longer format is allowed (the missing trailing dimensions are singletons).

    Raises:
        TypeError: ``fmt`` is not a str.
        ValueError: an invalid or repeated label, or fewer labels than dimensions.
    """
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a str of dimension labels; got {type(fmt).__name__}")
    problem = _label_problem(fmt)
    if problem:
        raise ValueError(problem)
    if fmt and len(fmt) < ndim:
        raise ValueError(
            f"fmt {fmt!r} labels {len(fmt)} dimension(s) but the data has {ndim}; give one label per dimension"
        )


@functools.lru_cache(maxsize=256)
def stored_format_problem(fmt: str, ndim: int) -> str:
    """What is wrong with ``fmt`` as the format of *stored* data with ``ndim`` dimensions ("" if nothing).

    Stored formats have exactly one label per dimension, in canonical order.
    """
    problem = _label_problem(fmt)
    if problem:
        return problem
    if len(fmt) != ndim:
        return f"fmt {fmt!r} has {len(fmt)} label(s) but the data has {ndim} dimension(s); give one label per dimension"
    if canonical_permutation(fmt)[1] != fmt:
        return f"fmt {fmt!r} is not in canonical order S, C, B, T, U (dlarray() permutes the data for you)"
    return ""
