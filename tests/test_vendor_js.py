"""tools/vendor_js.py unpacks npm tarballs safely on every Python the README promises (3.11 and newer).

tarfile's ``filter="data"`` exists from Python 3.11.4 (and 3.12) on; Debian 12's system python3 is 3.11.2.
Both paths are tested: the filter where this Python has it, the by-hand checks directly, and the whole of
``safe_extract`` under a Python without the filter (``/usr/bin/python3`` on Debian 12) when there is one.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT

TOOLS = ROOT / "tools"
OLD_PYTHONS = [p for p in ("/usr/bin/python3",) if Path(p).is_file()]


def load_vendor_js():
    spec = importlib.util.spec_from_file_location("vendor_js", TOOLS / "vendor_js.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vendor_js = load_vendor_js()


def make_tarball(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    """A .tgz with members ``(name, kind, payload)``; kind is file, dir, symlink, hardlink or fifo."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            data = None
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, str(payload)
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, str(payload)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


GOOD = [("package", "dir", b""), ("package/es5", "dir", b""), ("package/es5/tex.js", "file", b"MathJax = 3;"),
        ("package/dist/embed-amd.js", "file", b"define([]);"), ("package/package.json", "file", b"{}")]

MALICIOUS = {
    "absolute path": [("/tmp/srelu-evil.js", "file", b"x")],
    "dot-dot": [("../srelu-evil.js", "file", b"x")],
    "dot-dot inside": [("package/../../srelu-evil.js", "file", b"x")],
    "symlink out": [("package/link", "symlink", "/etc/passwd")],
    "symlink then write through it": [("package/up", "symlink", "../.."), ("package/up/srelu-evil.js", "file", b"x")],
    "hardlink out": [("package/hard", "hardlink", "/etc/passwd")],
    "fifo": [("package/pipe", "fifo", b"")],
}


def extracted_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("how", ["safe_extract", "by hand"])
def test_an_ordinary_npm_tarball_is_unpacked(tmp_path, how):
    tgz = make_tarball(tmp_path / "good.tgz", GOOD)
    dest = tmp_path / "out"
    if how == "by hand":
        with tarfile.open(tgz) as tar:
            vendor_js.extract_by_hand(tar, dest)
    else:
        vendor_js.safe_extract(tgz, dest)
    assert extracted_files(dest) == {"package/es5/tex.js": b"MathJax = 3;", "package/dist/embed-amd.js": b"define([]);",
                                     "package/package.json": b"{}"}
    assert (dest / "package" / "es5" / "tex.js").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("case", list(MALICIOUS))
def test_the_by_hand_checks_refuse_a_malicious_tarball_before_writing_anything(tmp_path, case):
    tgz = make_tarball(tmp_path / "evil.tgz", [("package/ok.js", "file", b"fine"), *MALICIOUS[case]])
    dest = tmp_path / "deep" / "out"
    with tarfile.open(tgz) as tar, pytest.raises(vendor_js.UnsafeArchive):
        vendor_js.extract_by_hand(tar, dest)
    assert not dest.exists()  # every member is checked before the first one is written
    assert not (tmp_path / "srelu-evil.js").exists() and not (tmp_path / "deep" / "srelu-evil.js").exists()


@pytest.mark.parametrize("case", list(MALICIOUS))
def test_safe_extract_refuses_a_malicious_tarball_on_this_python(tmp_path, case):
    tgz = make_tarball(tmp_path / "evil.tgz", MALICIOUS[case])
    dest = tmp_path / "deep" / "out"
    with pytest.raises(vendor_js.UnsafeArchive):
        vendor_js.safe_extract(tgz, dest)
    assert not dest.exists()
    assert not (tmp_path / "srelu-evil.js").exists() and not (tmp_path / "deep" / "srelu-evil.js").exists()
    assert not Path("/tmp/srelu-evil.js").exists()


@pytest.mark.skipif(not OLD_PYTHONS, reason="no /usr/bin/python3 on this machine")
@pytest.mark.parametrize("python", OLD_PYTHONS)
def test_safe_extract_on_a_python_without_the_data_filter(tmp_path, python):
    """The whole of safe_extract under e.g. Debian 12's python3 3.11.2: good tarballs unpack, bad ones are refused."""
    probe = subprocess.run([python, "-c", "import sys, tarfile; print(sys.version_info >= (3, 11), "
                            "hasattr(tarfile, 'data_filter'))"], capture_output=True, text=True, check=True)
    supported, has_filter = probe.stdout.split()
    if supported != "True":
        pytest.skip(f"{python} is older than the 3.11 the README promises")
    good = make_tarball(tmp_path / "good.tgz", GOOD)
    evil = {case: make_tarball(tmp_path / f"evil{i}.tgz", members)
            for i, (case, members) in enumerate(MALICIOUS.items())}
    script = f"""
import json, tarfile
from pathlib import Path
import vendor_js  # found through PYTHONPATH (tools/ is not a package)
result = {{"filter": hasattr(tarfile, "data_filter")}}
vendor_js.safe_extract(Path({str(good)!r}), Path({str(tmp_path / "good")!r}))
for case, tgz in {json.dumps({k: str(v) for k, v in evil.items()})}.items():
    try:
        vendor_js.safe_extract(Path(tgz), Path({str(tmp_path)!r}) / "deep" / case)
        result[case] = "extracted"
    except (vendor_js.UnsafeArchive, tarfile.TarError) as error:
        result[case] = type(error).__name__
print(json.dumps(result))
"""
    proc = subprocess.run([python, "-c", script], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(TOOLS)})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert str(result.pop("filter")) == has_filter
    assert result == {case: "UnsafeArchive" for case in MALICIOUS}
    assert extracted_files(tmp_path / "good") == {"package/es5/tex.js": b"MathJax = 3;",
                                                  "package/dist/embed-amd.js": b"define([]);",
                                                  "package/package.json": b"{}"}
    assert not any(tmp_path.rglob("srelu-evil.js"))


@pytest.mark.skipif(shutil.which("npm") is None or not OLD_PYTHONS, reason="needs npm and /usr/bin/python3")
def test_vendor_js_runs_under_the_system_python(tmp_path):
    """The real script under Debian's python3, against the npm registry (a no-op when vendor/ is filled)."""
    proc = subprocess.run([OLD_PYTHONS[0], str(TOOLS / "vendor_js.py")], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (ROOT / "vendor" / "js" / "VENDORED.json").is_file()
    assert sys.version_info >= (3, 11)
