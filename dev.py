#!/usr/bin/env python3
"""Single entry point for working on srelu-book (Python 3.11 standard library only).

    python3 dev.py book [--offline]   build the HTML book strictly (-W -n --keep-going --all) into _build/html
    python3 dev.py test [PYTEST ARGS]  unit tests + strict nbval over book/*.ipynb + build test + browser test
    python3 dev.py execute [NB ...]    re-execute notebooks in place (default: all book/*.ipynb)
    python3 dev.py bench [ARGS]        run `python benchmarks/bench_srelu.py ARGS`

Every command first makes sure `.venv` exists and holds requirements.txt (reinstalled only when
the file changes). `--offline` vendors MathJax, RequireJS and the ipywidgets embed manager into
vendor/js (tools/vendor_js.py, needs npm) so the HTML works without internet.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"
# --all: re-read every page, or an incremental build hides the warnings of unchanged pages.
# A fixed matplotlib backend for executing notebooks (and for nbval re-running them): the inline
# backend stores figures as PNG outputs; "Agg" would make plt.show() store nothing.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
BUILD_CMD = ["build", ".", "-W", "-n", "--keep-going", "--all"]


def fail(message: str, code: int = 1) -> None:
    print(f"\ndev.py: FAILED: {message}", file=sys.stderr)
    sys.exit(code or 1)


def run(cmd: list, what: str, env: dict | None = None, cwd: Path = ROOT) -> None:
    print(f"dev.py: {what}: {' '.join(map(str, cmd))}", flush=True)
    rc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env).returncode
    if rc != 0:
        fail(f"{what} (exit code {rc})", rc)


def create_venv() -> None:
    """Create .venv with pip, or fail with what to install; never leave a half-made .venv behind."""
    if importlib.util.find_spec("ensurepip") is None:
        fail(f"{sys.executable} cannot create a virtual environment with pip: its ensurepip module is missing "
             "(on Debian or Ubuntu: `apt-get install python3-venv`); then run this command again")
    print(f"dev.py: creating {VENV}", flush=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    except (OSError, subprocess.CalledProcessError) as error:
        shutil.rmtree(VENV, ignore_errors=True)
        fail(f"creating {VENV} failed: {error}")


def ensure_venv() -> None:
    """Create .venv if missing; (re)install requirements.txt when its hash changed."""
    if not PY.exists():
        create_venv()
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    run([PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade", "pip"], "upgrading pip")
    run([PY, "-m", "pip", "install", "--disable-pip-version-check", "-r", REQUIREMENTS],
        "installing requirements.txt into .venv")
    STAMP.write_text(digest + "\n")


def venv_env(**extra: str) -> dict:
    env = dict(os.environ, **extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env["PYTHONHASHSEED"] = "0"
    env["MPLBACKEND"] = INLINE_BACKEND
    return env


def cmd_book(args: argparse.Namespace) -> None:
    ensure_venv()
    extra = {}
    if args.offline:
        run([sys.executable, ROOT / "tools" / "vendor_js.py"], "vendoring JavaScript into vendor/js")
        extra["SRELU_OFFLINE"] = "1"
    run([BIN / "jupyter-book", *BUILD_CMD], "building the book" + (" (offline assets)" if args.offline else ""),
        env=venv_env(**extra))
    print(f"\ndev.py: book built: open {ROOT / '_build' / 'html' / 'index.html'}")


def cmd_test(args: argparse.Namespace) -> None:
    ensure_venv()
    cmd = [PY, "-m", "pytest", *args.rest]
    print(f"dev.py: running tests: {' '.join(map(str, cmd))}", flush=True)
    rc = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=venv_env()).returncode
    if rc == 5:
        fail("pytest collected no tests (exit code 5): this counts as a failure", 5)
    if rc != 0:
        fail(f"tests failed (pytest exit code {rc})", rc)
    print("dev.py: all tests passed")


CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)  # text a later \r overwrites


def strip_volatile(path: Path) -> None:
    """Make a freshly executed notebook diff cleanly and render as a reader's terminal would.

    Drops execution timestamps, and coalesces consecutive stream outputs of a cell while
    applying carriage returns (a live progress line is stored as its final state) - the same
    normalisation nbval applies to fresh outputs before comparing.
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)  # iopub.execute_input / shell.execute_reply
        if cell.get("cell_type") != "code":
            continue
        merged: list = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
                if merged and merged[-1].get("output_type") == "stream" and merged[-1]["name"] == out["name"]:
                    merged[-1]["text"] += text
                    continue
                out = dict(out, text=text)
            merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream":  # stored as a list of lines, as nbformat does
                out["text"] = CARRIAGE_RETURN.sub("", out["text"]).splitlines(keepends=True)
        cell["outputs"] = merged
    nb.get("metadata", {}).pop("papermill", None)
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def cmd_execute(args: argparse.Namespace) -> None:
    ensure_venv()
    notebooks = [Path(n).resolve() for n in args.notebooks] or sorted((ROOT / "book").glob("*.ipynb"))
    if not notebooks:
        fail("no notebooks to execute (book/*.ipynb is empty)")
    for nb in notebooks:
        if not nb.is_file():
            fail(f"no such notebook: {nb}")
        # nbclient's `jupyter execute`: kernel cwd = the notebook's folder (book/), widget state stored.
        run([BIN / "jupyter", "execute", "--inplace", f"--timeout={args.timeout}",
             "--kernel_name=python3", nb.name],
            f"executing {nb.relative_to(ROOT) if nb.is_relative_to(ROOT) else nb}",
            env=venv_env(PYTHONHASHSEED="0"), cwd=nb.parent)
        strip_volatile(nb)
    print(f"dev.py: executed {len(notebooks)} notebook(s); review with `git diff` and commit the outputs")


def cmd_bench(args: argparse.Namespace) -> None:
    ensure_venv()
    run([PY, ROOT / "benchmarks" / "bench_srelu.py", *args.rest], "benchmark", env=venv_env())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dev.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("book", help="build the HTML book strictly into _build/html")
    p.add_argument("--offline", action="store_true", help="vendor the JavaScript first and use it")
    p.set_defaults(func=cmd_book)
    p = sub.add_parser("test", help="run all tests (extra args go to pytest)", add_help=False)
    p.set_defaults(func=cmd_test)
    p = sub.add_parser("execute", help="re-execute notebooks in place (default: all book/*.ipynb)")
    p.add_argument("notebooks", nargs="*", help="notebook paths")
    p.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    p.set_defaults(func=cmd_execute)
    p = sub.add_parser("bench", help="run benchmarks/bench_srelu.py (extra args are forwarded)", add_help=False)
    p.set_defaults(func=cmd_bench)
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in ("test", "bench"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    os.chdir(ROOT)
    args.func(args)


if __name__ == "__main__":
    main()
