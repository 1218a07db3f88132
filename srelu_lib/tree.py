"""Nested parameter structures ("trees"): apply a function leaf by leaf, keeping the nesting.

A network's learnable parameters are usually a nested ``dict``/``list``/``tuple``
of arrays (MATLAB uses a struct or a table).  :func:`tree_map` walks one or
several such structures in lockstep; it is what :func:`~srelu_lib.adamupdate`
uses to update every parameter with its own gradient and moving averages.

Containers are ``dict`` (and subclasses such as ``OrderedDict`` and
``defaultdict``, rebuilt with their own type and settings), ``list``, ``tuple`` and namedtuples;
everything else (a DLArray, an ndarray, a number, ``None``) is a *leaf*.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["tree_map", "tree_leaves", "is_container"]


def is_container(x: Any) -> bool:
    """True for the containers :func:`tree_map` descends into: dict, list, tuple (incl. namedtuple)."""
    return isinstance(x, (dict, list, tuple))


def _rebuild(template: Any, children: Sequence[Any]) -> Any:
    if isinstance(template, dict):
        pairs = zip(template.keys(), children, strict=True)
        if type(template) is dict:
            return dict(pairs)
        # A dict subclass may take other constructor arguments (defaultdict takes its
        # default_factory first): copy it, with its attributes, and refill it.
        rebuilt = copy.copy(template)
        rebuilt.clear()
        rebuilt.update(pairs)
        return rebuilt
    if isinstance(template, tuple) and hasattr(template, "_fields"):  # namedtuple
        return type(template)(*children)
    return type(template)(children)


def _describe(x: Any) -> str:
    if isinstance(x, dict):
        return f"a dict with keys {sorted(map(str, x.keys()))}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of length {len(x)}"
    return f"a leaf ({type(x).__name__})"


def _walk(
    fn: Callable[..., Any], trees: tuple, names: Sequence[str], path: str, num_outputs: int | None, with_path: bool
) -> Any:
    first = trees[0]
    if not is_container(first):
        for other, name in zip(trees[1:], names[1:], strict=True):
            if is_container(other):
                raise ValueError(
                    f"{name}{path} is {_describe(other)} but {names[0]}{path} is {_describe(first)}; "
                    f"the structures must match"
                )
        result = fn(path, *trees) if with_path else fn(*trees)
        if num_outputs is not None and (not isinstance(result, tuple) or len(result) != num_outputs):
            raise ValueError(f"tree_map: fn must return a tuple of {num_outputs} values at {names[0]}{path}")
        return result

    if isinstance(first, dict):
        keys = list(first.keys())
        for other, name in zip(trees[1:], names[1:], strict=True):
            if not isinstance(other, dict):
                raise ValueError(
                    f"{name}{path} is {_describe(other)} but {names[0]}{path} is {_describe(first)}; "
                    f"the structures must match"
                )
            missing = [k for k in keys if k not in other]
            extra = [k for k in other if k not in first]
            if missing or extra:
                what = f"lacks key {missing[0]!r}" if missing else f"has extra key {extra[0]!r}"
                raise ValueError(
                    f"{name}{path} {what} compared with {names[0]}{path}; the structures must match"
                )
        children = [
            _walk(fn, tuple(t[k] for t in trees), names, f"{path}[{k!r}]", num_outputs, with_path)
            for k in keys
        ]
    else:
        for other, name in zip(trees[1:], names[1:], strict=True):
            if not isinstance(other, (list, tuple)) or len(other) != len(first):
                raise ValueError(
                    f"{name}{path} is {_describe(other)} but {names[0]}{path} is {_describe(first)}; "
                    f"the structures must match"
                )
        children = [
            _walk(fn, tuple(t[i] for t in trees), names, f"{path}[{i}]", num_outputs, with_path)
            for i in range(len(first))
        ]

    if num_outputs is None:
        return _rebuild(first, children)
    return tuple(_rebuild(first, [c[j] for c in children]) for j in range(num_outputs))


def tree_map(
    fn: Callable[..., Any],
    tree: Any,
    *rest: Any,
    names: Sequence[str] | None = None,
    num_outputs: int | None = None,
    with_path: bool = False,
) -> Any:
    """Apply ``fn`` to corresponding leaves of one or more identically nested structures.

    Use it to update a whole parameter structure at once, e.g. one optimizer
    step per array.

    Caveat: the structures must match exactly (same container kinds, same
    dict keys, same sequence lengths); a list may stand where a tuple is.  The
    result has the nesting and container types of ``tree``.

    Args:
        fn: called as ``fn(leaf, *corresponding_leaves_of_rest)``.
        tree: the structure whose shape the result takes.
        *rest: further structures with the same nesting.
        names: one name per structure, used in error messages
            (default ``"tree"``, ``"tree2"``, …).
        num_outputs: if given, ``fn`` returns a tuple of that many values and
            ``tree_map`` returns that many structures (an "unzip").
        with_path: if true, ``fn`` receives the leaf's path first, as a
            string such as ``"['fc'][0]"`` (for error messages).

    Returns:
        The mapped structure, or a tuple of ``num_outputs`` structures.

    Raises:
        ValueError: the structures differ; the message names the first
            mismatching path, e.g. ``grads['fc'][1] is a leaf (DLArray) but
            params['fc'][1] is a dict ...``.

    Example:
        >>> tree_map(lambda a, b: a + b, {"w": 1, "b": [2, 3]}, {"w": 10, "b": [20, 30]})
        {'w': 11, 'b': [22, 33]}
        >>> tree_map(lambda a: (a, -a), [1, 2], num_outputs=2)
        ([1, 2], [-1, -2])
    """
    trees = (tree, *rest)
    if names is None:
        names = ["tree"] + [f"tree{i + 2}" for i in range(len(rest))]
    if len(names) != len(trees):
        raise ValueError(f"tree_map: got {len(trees)} structures but {len(names)} names")
    return _walk(fn, trees, list(names), "", num_outputs, with_path)


def tree_leaves(tree: Any) -> list:
    """The leaves of ``tree`` in traversal order (dict insertion order, then sequence order).

    Example:
        >>> tree_leaves({"a": [1, 2], "b": (3,)})
        [1, 2, 3]
    """
    found: list = []
    tree_map(found.append, tree)
    return found
