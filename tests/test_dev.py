"""dev.py's notebook post-processing: what `python3 dev.py execute` stores."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _dev():
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_strip_volatile_keeps_a_progress_line_final_state_and_drops_timestamps(tmp_path):
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": 1, "source": "train()",
             "metadata": {"execution": {"iopub.execute_input": "2026-11-25T09:00:00Z"}, "tags": ["x"]},
             "outputs": [
                 {"output_type": "stream", "name": "stdout", "text": "\repoch 1/2  loss 0.9"},
                 {"output_type": "stream", "name": "stdout", "text": "\repoch 2/2  loss 0.5\n"},
                 {"output_type": "stream", "name": "stderr", "text": "warn\n"},
                 {"output_type": "stream", "name": "stdout", "text": "done\nsecond line\n"},
             ]},
            {"cell_type": "markdown", "metadata": {}, "source": "text"},
        ],
        "metadata": {"papermill": {"x": 1}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    _dev().strip_volatile(path)
    cell = json.loads(path.read_text())["cells"][0]
    assert cell["metadata"] == {"tags": ["x"]}
    assert [(o["name"], o["text"]) for o in cell["outputs"]] == [
        ("stdout", ["epoch 2/2  loss 0.5\n"]),  # consecutive chunks merged, text before \r dropped
        ("stderr", ["warn\n"]),
        ("stdout", ["done\n", "second line\n"]),  # not merged across the stderr output
    ]
    assert "papermill" not in json.loads(path.read_text())["metadata"]
