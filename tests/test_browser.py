"""Open the built book (with offline assets) in headless Chromium, as a reader would.

For each page in _toc.yml order: no console errors or page errors, no request leaves the local
server, every image loaded, MathJax typeset all the math, stored widgets rendered, the launch
(Binder, Colab) and download buttons are in the header; a full-page screenshot goes to
_build/screenshots/. Then the "next" links from the root visit the chapters in TOC order.

Needs /usr/bin/chromium (Debian's `chromium`); skipped without it unless SRELU_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from conftest import BUILD, toc_files, toc_source

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("SRELU_CHROMIUM", "/usr/bin/chromium"))  # override for other OSes
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PAGES = toc_files()
SCREENSHOTS = BUILD / "screenshots"
TIMEOUT_MS = 30_000

RAW_TEXT_JS = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, .highlight, mjx-container, mjx-assistive-mml')
      .forEach(e => e.remove());
  return body.innerText;
}"""
BROKEN_IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src);
}"""
MATHJAX_READY_JS = """() => !document.querySelector('.math, .MathJax, div.amsmath')
  || !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"""


def _require_browser(offline_assets: bool = True):
    reason = None
    if not offline_assets:
        reason = "the book was built without its offline JavaScript (npm not found to vendor it)"
    elif not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install -r requirements.txt)"
    if reason:
        if os.environ.get("SRELU_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SRELU_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"browser test skipped: {reason}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(book_build):
    _require_browser(book_build.offline)
    if book_build.returncode != 0 and not (book_build.html / "index.html").is_file():
        pytest.fail("the book did not build (see test_book_build.py and _build/build.log)")
    handler = functools.partial(_QuietHandler, directory=str(book_build.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, site):
    """A fresh page that records console errors, page errors and any request leaving the site."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.problems = []
    host = urlparse(site).netloc

    def route(r):
        if urlparse(r.request.url).scheme in ("http", "https") and urlparse(r.request.url).netloc != host:
            page.problems.append(f"external request (offline build must not need it): {r.request.url}")
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and page.problems.append(
        f"console error: {m.text} at {m.location.get('url', '')}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    yield page
    context.close()


@pytest.mark.parametrize("docname", PAGES)
def test_page_renders(page, site, docname):
    assert toc_source(docname) is not None, f"{docname} is in _toc.yml but does not exist"
    response = page.goto(urljoin(site, f"{docname}.html"), wait_until="load")
    assert response is not None and response.ok, f"{docname}.html: HTTP {response and response.status}"
    problems = page.problems

    page.wait_for_function(MATHJAX_READY_JS)
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise "
                  "? MathJax.startup.promise.then(() => true) : false")
    text = page.evaluate(RAW_TEXT_JS)
    for raw in ("$$", "\\(", "\\["):
        if raw in text:
            at = text.index(raw)
            problems.append(f"raw TeX {raw!r} left after MathJax: ...{text[max(0, at - 60):at + 60]!r}...")

    if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
        try:
            page.wait_for_selector(".jupyter-widgets", state="attached", timeout=TIMEOUT_MS)
        except Exception:  # playwright TimeoutError
            problems.append("page has stored widget views but no rendered widget (.jupyter-widgets)")

    broken = page.evaluate(BROKEN_IMAGES_JS)
    problems += [f"image did not load: {src}" for src in broken]

    header = page.locator(".bd-header-article")
    if toc_source(docname).suffix == ".ipynb":
        for name, href in (("Binder", "mybinder.org"), ("Colab", "colab.research.google.com")):
            if not header.locator(f'a[href*="{href}"]').count():
                problems.append(f"no {name} launch button in the page header")
        if not header.locator('a[href$=".ipynb"]').count():
            problems.append("no .ipynb download button in the page header")
    if not header.locator(".dropdown-download-buttons, button[aria-label='Download this page']").count():
        problems.append("no download button in the page header")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{Path(docname).name}.png"), full_page=True)
    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


def test_next_links_follow_toc_order(page, site):
    missing = [d for d in PAGES if toc_source(d) is None]
    assert not missing, f"pages in _toc.yml that do not exist: {missing}"
    page.goto(urljoin(site, f"{PAGES[0]}.html"), wait_until="load")
    visited = []
    for _ in range(len(PAGES) + 5):
        path = urlparse(page.url).path.lstrip("/")
        visited.append(path.removesuffix(".html"))
        link = page.locator("a.right-next")
        if not link.count():
            break
        page.goto(urljoin(page.url, link.first.get_attribute("href")), wait_until="load")
    assert visited == PAGES, f"'next' navigation visited {visited}, _toc.yml order is {PAGES}"
    assert not page.problems, "\n".join(page.problems)
