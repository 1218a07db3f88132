"""Binder's .binder/requirements.txt holds requirements.txt's pins, with PyTorch's CPU wheel."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_binder_requirements_match_requirements_txt_except_for_the_cpu_torch():
    main = requirement_lines(ROOT / "requirements.txt")
    binder = requirement_lines(ROOT / ".binder" / "requirements.txt")
    torch_pin = next(line for line in main if line.startswith("torch=="))
    assert CPU_INDEX in binder, "Binder must take torch from PyTorch's CPU wheel index"
    assert f"{torch_pin}+cpu" in binder, f"Binder must pin the CPU build of {torch_pin}"
    assert [line for line in binder if line not in (CPU_INDEX, f"{torch_pin}+cpu")] == \
        [line for line in main if line != torch_pin], "the other pins must be the same, in the same order"


def test_binder_python_is_the_projects():
    assert (ROOT / ".binder" / "runtime.txt").read_text(encoding="utf-8").strip() == "python-3.11"
