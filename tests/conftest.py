"""Shared fixtures: ONE strict build of the book per test session, with offline JavaScript assets.

`book_build` runs `jupyter-book build . -W -n --keep-going --all` into the standard `_build/`
with SRELU_OFFLINE=1 (vendoring MathJax, RequireJS and the widget manager first if vendor/ is
missing), so tests/test_browser.py can open `_build/html` without internet.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
HTML = BUILD / "html"


def toc_files() -> list[str]:
    """Doc names (paths without suffix, e.g. 'book/intro') in _toc.yml order: root first."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [str(Path(f).with_suffix("")) if Path(f).suffix in (".md", ".ipynb") else f for f in files]


def toc_source(docname: str) -> Path | None:
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{docname}{suffix}"
        if path.is_file():
            return path
    return None


@dataclasses.dataclass
class BookBuild:
    returncode: int
    log: str
    html: Path
    offline: bool  # built with the vendored JavaScript (needed by the browser test)


def _jupyter_book() -> str:
    exe = Path(sys.executable).parent / "jupyter-book"
    return str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book")


@pytest.fixture(scope="session")
def book_build() -> BookBuild:
    # The offline assets come from the npm registry through `npm pack`. Without npm the book is
    # still built (and checked) with its online script URLs; the browser test then skips, or fails
    # when SRELU_REQUIRE_BROWSER=1 (as in CI).
    offline = (ROOT / "vendor" / "js" / "VENDORED.json").is_file()
    if not offline and shutil.which("npm"):
        subprocess.run([sys.executable, str(ROOT / "tools" / "vendor_js.py")], cwd=ROOT, check=True,
                       stdin=subprocess.DEVNULL)
        offline = True
    env = dict(os.environ, PYTHONHASHSEED="0")
    if offline:
        env["SRELU_OFFLINE"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [_jupyter_book(), "build", ".", "-W", "-n", "--keep-going", "--all"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)  # jupyter-book colours its output even into a pipe
    BUILD.mkdir(exist_ok=True)
    (BUILD / "build.log").write_text(log, encoding="utf-8")
    return BookBuild(proc.returncode, log, HTML, offline)
