"""dev.py creates the project's .venv, or says what to install; it never leaves a half-made one behind."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest
from conftest import ROOT


def load_dev(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    monkeypatch.setattr(dev, "VENV", tmp_path / ".venv")
    return dev


def test_a_python_without_ensurepip_gets_told_what_to_install(tmp_path, monkeypatch, capsys):
    """Debian's system python3 has no ensurepip until `apt-get install python3-venv`."""
    dev = load_dev(tmp_path, monkeypatch)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(dev.importlib.util, "find_spec",
                        lambda name, *a: None if name == "ensurepip" else real_find_spec(name, *a))
    with pytest.raises(SystemExit):
        dev.create_venv()
    assert "apt-get install python3-venv" in capsys.readouterr().err
    assert not dev.VENV.exists()


def test_a_failed_creation_leaves_no_half_made_venv(tmp_path, monkeypatch, capsys):
    dev = load_dev(tmp_path, monkeypatch)

    class FailingBuilder:
        def __init__(self, **options):
            pass

        def create(self, path):
            (path / "bin").mkdir(parents=True)
            (path / "bin" / "python").write_text("")  # what a failed ensurepip step leaves behind
            raise subprocess.CalledProcessError(1, ["python", "-m", "ensurepip"])

    monkeypatch.setattr(dev.venv, "EnvBuilder", FailingBuilder)
    with pytest.raises(SystemExit):
        dev.create_venv()
    assert "creating" in capsys.readouterr().err
    assert not dev.VENV.exists()  # so the next run starts over instead of using a .venv without pip
