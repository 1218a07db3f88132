"""Local Sphinx extension of srelu-book (loaded through ``sphinx: local_extensions`` in _config.yml).

1. **A notebook that raises fails the build.** The book renders the outputs stored in the
   notebooks (``execute_notebooks: "off"``), so a cell that raised shows up as a stored
   ``error`` output. After all sources are read, every notebook of the project is scanned
   (also on incremental builds) and any stored error aborts the build, with or without ``-W``.
2. **Offline HTML.** With ``SRELU_OFFLINE=1`` in the environment (``python3 dev.py book --offline``)
   MathJax, RequireJS and the ipywidgets embed manager are loaded from ``vendor/js`` (filled by
   ``tools/vendor_js.py``), copied to the HTML root with ``html_extra_path`` (never ``_static``:
   Jupyter Book injects every js/css under ``_static`` into every page). The pages then refer to
   these scripts by relative URLs only.
3. **Re-exported names resolve.** ``srelu_lib`` re-exports its public names at the top level
   (``srelu_lib.DLArray``) while the API page documents each name once, in its defining module
   (``srelu_lib.dlarray.DLArray``). A Python cross-reference to a re-exported name that has no
   target of its own is resolved to the defining object.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ConfigError, ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

VENDOR = Path(__file__).resolve().parent.parent / "vendor"
MATHJAX = "js/mathjax/es5/tex-mml-chtml.js"
REQUIREJS = "js/requirejs/require.js"
EMBED_AMD = "js/html-manager/embed-amd.js"
WIDGETS_SETUP = "js/srelu-widgets-setup.js"  # require paths + MathJax 2 shim, see tools/vendor_js.py


def _offline_config(app: Sphinx, config) -> None:
    if os.environ.get("SRELU_OFFLINE", "") not in ("1", "true", "yes"):
        return
    missing = [p for p in (MATHJAX, REQUIREJS, WIDGETS_SETUP, EMBED_AMD) if not (VENDOR / p).is_file()]
    if missing:
        raise ConfigError(
            f"SRELU_OFFLINE=1 but {', '.join(missing)} missing under {VENDOR}: run python3 tools/vendor_js.py"
        )
    # vendor/js/... is copied to <html>/js/... . Sphinx joins a local script path to "_static/"
    # and then makes it relative to each page, so "../js/x.js" becomes e.g. "../_static/../js/x.js"
    # on book/*.html: a relative URL that works on any host and under any sub-path.
    config.html_extra_path = [*config.html_extra_path, str(VENDOR)]
    config.mathjax_path = f"../{MATHJAX}"
    config.nb_ipywidgets_js = {f"../{REQUIREJS}": {}, f"../{WIDGETS_SETUP}": {}, f"../{EMBED_AMD}": {}}
    logger.info("[srelu] offline build: MathJax, RequireJS and widget manager from %s", VENDOR)


def _stored_errors(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if out.get("output_type") == "error":
                found.append(f"cell {index}: {out.get('ename', '?')}: {out.get('evalue', '')}".strip())
    return found


def _check_notebooks(app: Sphinx, env) -> None:
    bad = 0
    for docname in sorted(env.found_docs):
        path = Path(env.doc2path(docname))
        if path.suffix != ".ipynb" or not path.is_file():
            continue
        for message in _stored_errors(path):
            bad += 1
            logger.warning("stored error output (%s)", message, location=docname, type="srelu", subtype="nb-error")
    if bad:
        raise ExtensionError(
            f"{bad} stored error output(s) in notebooks (see warnings above): a notebook that raises fails "
            "the build. Fix the cell and re-run `python3 dev.py execute`."
        )


def _canonical_name(target: str) -> str | None:
    """'srelu_lib.DLArray' -> 'srelu_lib.dlarray.DLArray' (the object's defining module), else None."""
    module, _, attr = target.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception:  # not importable / no such attribute: leave the warning to Sphinx
        return None
    if getattr(obj, "__module__", None) and getattr(obj, "__qualname__", None):
        name = f"{obj.__module__}.{obj.__qualname__}"
        return name if name != target else None
    return None


def _resolve_reexport(app: Sphinx, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py":
        return None
    if "." not in target and node.get("py:module", "").startswith("srelu_lib"):
        target = f"srelu_lib.{target}"  # bare `DLArray` in a numpydoc type inside srelu_lib
    if not target.startswith("srelu_lib."):
        return None
    canonical = _canonical_name(target)
    if canonical is None:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", canonical, node, contnode)


def _dedupe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Drop repeated scripts: sphinx-thebe's inline `const THEBE_JS_URL = ...` is added twice (once with
    filename None, once with ''), and a repeated `const` is a SyntaxError in the browser."""
    seen, unique = set(), []
    for js in context.get("script_files", []):
        key = (getattr(js, "filename", js) or "", tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    if "script_files" in context:
        context["script_files"][:] = unique


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _dedupe_scripts)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("config-inited", _offline_config, priority=900)
    app.connect("env-updated", _check_notebooks)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
