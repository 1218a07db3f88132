"""Every example in srelu_lib's docstrings runs and prints what it shows.

The examples are the API page's runnable documentation: each module of the
package is collected (the PyTorch and JAX ports too, when their framework is
installed) and its docstring examples are run with :mod:`doctest`.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import srelu_lib

OPTIONAL = {"srelu_lib.torch": "torch", "srelu_lib.jax": "jax"}


def _modules() -> list[str]:
    names = ["srelu_lib"]
    names += [info.name for info in pkgutil.walk_packages(srelu_lib.__path__, prefix="srelu_lib.")]
    return names


MODULES = _modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    for package, framework in OPTIONAL.items():
        if name == package or name.startswith(package + "."):
            pytest.importorskip(framework)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
                             report=False, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring example(s) in {name} failed"


def test_the_public_modules_have_examples():
    """The modules a reader starts from show how they are used (a test that could find no example fails)."""
    documented = {"srelu_lib", "srelu_lib.srelu_function", "srelu_lib.plotting"}
    for name in sorted(documented):
        tests = doctest.DocTestFinder().find(importlib.import_module(name))
        assert sum(len(t.examples) for t in tests) > 0, f"{name} has no docstring example"
