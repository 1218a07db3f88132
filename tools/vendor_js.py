#!/usr/bin/env python3
"""Vendor the JavaScript the book loads from CDNs, so the HTML also works offline.

Fetches with ``npm pack`` (the npm registry) into a temporary folder and unpacks into
``vendor/js/`` (git-ignored):

* ``mathjax@3``                        -> vendor/js/mathjax/es5/   (tex-mml-chtml.js loads its fonts and
                                          TeX extensions from the folders next to it at run time)
* ``requirejs``                        -> vendor/js/requirejs/require.js
* ``@jupyter-widgets/html-manager@^1`` -> vendor/js/html-manager/  (embed-amd.js bundles base, controls
                                          and libembed-amd; it loads its icon fonts from its own folder)

plus ``vendor/js/srelu-widgets-setup.js`` (written here, loaded between require.js and embed-amd.js):
it maps the widget manager's AMD module path to vendor/js/html-manager (so its icon fonts load from
there, not from <page dir>/@jupyter-widgets/...) and gives widgets the MathJax 2 ``Hub.Queue`` call
they still make, on top of MathJax 3.

The build uses them with ``SRELU_OFFLINE=1`` (see tools/srelu_book_ext.py). Stdlib only, and it runs on
every Python the README promises (3.11 and newer): the npm tarballs are unpacked with tarfile's "data"
filter where it exists (3.11.4+, 3.12+) and with the same safety checks written out here where it does not
(:func:`safe_extract`; Debian 12's system python3 is 3.11.2).
Usage: python3 tools/vendor_js.py [--force]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "vendor" / "js"
STAMP = DEST / "VENDORED.json"

# Exact versions, so every offline build ships the same JavaScript.
# (npm spec, file or folder inside the package, destination under vendor/js, files required afterwards)
PACKAGES = [
    ("mathjax@3.2.2", "es5", "mathjax/es5", ["tex-mml-chtml.js", "output/chtml/fonts/woff-v2"]),
    ("requirejs@2.3.8", "require.js", "requirejs/require.js", []),
    ("@jupyter-widgets/html-manager@1.0.15", "dist", "html-manager", ["embed-amd.js"]),
]
SKIP_SUFFIXES = (".map",)  # source maps: only devtools ask for them
SKIP_NAMES = {"embed.js", "embed.js.LICENSE.txt", "libembed-amd.js"}  # embed-amd.js bundles what is needed


def npm_pack(spec: str, workdir: Path) -> tuple[Path, str]:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor_js: `npm` not found (install Node.js/npm, e.g. `apt-get install -y npm`)")
    out = subprocess.run([npm, "pack", spec, "--json", "--silent"], cwd=workdir, check=True,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout
    info = json.loads(out)[0]
    return workdir / info["filename"], info["version"]


class UnsafeArchive(Exception):
    """A tarball member that could write outside the destination folder (or is not a plain file or folder)."""


def checked_members(tar: tarfile.TarFile, dest: Path) -> list[tuple[tarfile.TarInfo, Path]]:
    """Every member of ``tar`` with the path it unpacks to under ``dest``; raises before anything is written.

    Refused: absolute names, names with a ``..`` component, names that resolve outside ``dest``, and every
    member that is not a regular file or a directory (symbolic and hard links, devices, FIFOs).  npm
    tarballs hold only files and folders, so nothing legitimate is lost.
    """
    root = dest.resolve()
    members = []
    for member in tar.getmembers():
        name = member.name
        if not (member.isfile() or member.isdir()):
            kind = "link" if member.issym() or member.islnk() else "special file"
            raise UnsafeArchive(f"{name!r} is a {kind}; only regular files and directories are unpacked")
        path = PurePosixPath(name)
        if path.is_absolute():
            raise UnsafeArchive(f"{name!r} is an absolute path")
        if ".." in path.parts:
            raise UnsafeArchive(f"{name!r} has a '..' component")
        target = (root / path).resolve()
        if target != root and root not in target.parents:
            raise UnsafeArchive(f"{name!r} would be written outside {root}")
        members.append((member, target))
    return members


def extract_by_hand(tar: tarfile.TarFile, dest: Path) -> None:
    """Unpack ``tar`` under ``dest`` after :func:`checked_members` accepted every member.

    Files are written by this function (mode 0o755 when the owner may execute them, else 0o644), never
    with the archive's owners or special bits, as tarfile's "data" filter would.
    """
    for member, target in checked_members(tar, dest):
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:  # not reachable for a regular file; kept for the type checker
            raise UnsafeArchive(f"{member.name!r} has no data")
        with source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)
        os.chmod(target, 0o755 if member.mode & 0o100 else 0o644)


def safe_extract(tarball: Path, dest: Path) -> None:
    """Unpack ``tarball`` under ``dest``, refusing members that would write elsewhere.

    :func:`checked_members` vets every member first, on every Python, so an archive is accepted or refused
    alike everywhere; then tarfile's "data" filter unpacks where this Python has it (3.11.4 and newer), and
    :func:`extract_by_hand` where it does not.  Raises :class:`UnsafeArchive` before writing anything.
    """
    with tarfile.open(tarball) as tar:
        if hasattr(tarfile, "data_filter"):
            checked_members(tar, dest)
            tar.extractall(dest, filter="data")
        else:
            extract_by_hand(tar, dest)


def copy(src: Path, dst: Path) -> None:
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        return
    shutil.copytree(src, dst, ignore=lambda _d, names: [n for n in names
                    if n.endswith(SKIP_SUFFIXES) or n in SKIP_NAMES])


SETUP_JS = """\
// Written by tools/vendor_js.py. Loaded after require.js and before embed-amd.js.
(function () {
  var src = document.currentScript.src;
  var base = src.slice(0, src.split("?")[0].lastIndexOf("/") + 1);  // .../js/
  require.config({paths: {"@jupyter-widgets/html-manager/dist": base + "html-manager"}});
  // @jupyter-widgets typesets labels with the MathJax 2 API (MathJax.Hub.Queue); map it to MathJax 3.
  window.addEventListener("load", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.startup) return;
    mj.Hub = {Queue: function (cmd) {
      var el = cmd && cmd[2];
      mj.startup.promise.then(function () { return mj.typesetPromise(el ? [el] : undefined); });
    }};
  });
})();
"""


def write_setup_js() -> None:
    DEST.mkdir(parents=True, exist_ok=True)
    (DEST / "srelu-widgets-setup.js").write_text(SETUP_JS)


def main(argv: list[str]) -> int:
    if "--force" not in argv and STAMP.is_file():
        write_setup_js()
        print(f"vendor_js: {DEST} already filled ({STAMP.name}); use --force to refetch")
        return 0
    if DEST.exists():
        shutil.rmtree(DEST)
    versions = {}
    with tempfile.TemporaryDirectory(prefix="srelu-vendor-") as tmp_name:
        tmp = Path(tmp_name)
        for spec, inner, target, required in PACKAGES:
            tgz, version = npm_pack(spec, tmp)
            unpack = tmp / tgz.stem
            safe_extract(tgz, unpack)
            copy(unpack / "package" / inner, DEST / target)
            for rel in required:
                if not (DEST / target / rel).exists():
                    sys.exit(f"vendor_js: {spec}@{version} has no {inner}/{rel}")
            versions[spec] = version
            print(f"vendor_js: {spec} -> {version} -> vendor/js/{target}")
    write_setup_js()
    STAMP.write_text(json.dumps(versions, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
