"""The README's usage example runs and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_usage_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README has no ```python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    grads, params, loss = namespace["grads"], namespace["params"], namespace["loss"]
    assert set(grads) == set(params) == {"tl", "al", "tr", "ar"}
    for name in params:
        assert grads[name].shape == params[name].shape == (3,)
    assert np.isfinite(float(loss))


def test_readme_port_example_runs():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 2, "the README has no PyTorch/JAX example"
    namespace: dict = {}
    exec(compile(blocks[1], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert tuple(namespace["Y"].shape) == (16, 3, 8, 8)
    assert callable(namespace["srelu_jax"])
