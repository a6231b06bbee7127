"""The book as a reader meets it: every built page opened in headless Chromium.

Runs after the book build (`make test` builds first); marked `reader` so `make pytest` can leave it out."""
import os
import shutil
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("ADVEX_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.reader


NO_PAGES = "no built pages in _build/html/nbs: run `make book-build` first (make test does)"


def book_pages():
    return sorted(p for p in (HTML / "nbs").glob("*.html"))


def pages_to_read():
    "The built pages, or one parameter that fails: an empty parameter list would only skip the test."
    return book_pages() or [pytest.param(None, id="no-built-pages")]


@pytest.fixture(scope="module")
def site():
    "Serve the built book on a loopback port, as a reader's browser would fetch it."
    import functools
    import http.server
    import threading
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "nbs" / "index.html").exists():
        pytest.fail(NO_PAGES)
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def open_page(browser, site: str, path: Path, query: str = ""):
    "Open a built page through the local server; return (page, console errors)."
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"HTTP {r.status} for {r.url}") if r.status >= 400 else None)
    page.goto(site + path.relative_to(HTML).as_posix() + query, wait_until="load")
    return page, errors


def wait_for_math(page):
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
        page.evaluate("() => MathJax.startup.promise")


def test_the_book_was_built():
    assert book_pages(), NO_PAGES


@pytest.mark.parametrize("path", pages_to_read(), ids=lambda p: p.stem)
def test_page_reads_well(browser, site, path):
    if path is None: pytest.fail(NO_PAGES)
    page, errors = open_page(browser, site, path)
    wait_for_math(page)
    # math is typeset: MathJax output present wherever the page has math, and no raw display math left
    n_math = page.locator(".math").count()
    if n_math:
        assert page.locator("mjx-container").count() >= n_math, "some math was not typeset"
    body = page.inner_text("article")
    assert "$$" not in body, "raw $$ left in the text"
    # no stray $ in prose: math that did not render (e.g. a | inside $...$ split a Markdown table cell)
    prose = page.evaluate("""() => {
        const root = document.querySelector('article').cloneNode(true);
        root.querySelectorAll('pre, code, mjx-container, script, style, .cell_output').forEach(e => e.remove());
        return root.innerText; }""")
    stray = [line for line in prose.splitlines() if "$" in line]
    assert not stray, f"unrendered math: {stray[:3]}"
    # every theorem-like block is numbered: sphinx-proof gives each block (theorem, lemma, proposition, corollary,
    # definition, assumption) the class `proof` plus its kind and a title; proofs themselves have no title
    kinds = ["theorem", "lemma", "proposition", "corollary", "definition", "assumption"]
    blocks = page.locator(", ".join(f"div.proof.{kind}" for kind in kinds))
    titles = page.locator(", ".join(f"div.proof.{kind} > p.admonition-title" for kind in kinds)).all()
    assert len(titles) == blocks.count(), "a theorem-like block without a title"
    for title in titles:
        text = title.inner_text()
        assert any(ch.isdigit() for ch in text), f"unnumbered block: {text!r}"
    # every image loads
    broken = page.evaluate("() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.src)")
    assert broken == [], f"images that did not load: {broken}"
    # every internal link resolves to an existing file (and anchor)
    for href in page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
        url, anchor = urldefrag(href)
        if not url.startswith(site):
            continue
        target = HTML / urlparse(url).path.lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        assert target.exists(), f"broken link to {target}"
        if anchor and target.suffix == ".html":
            assert f'id="{anchor}"' in target.read_text(errors="ignore"), f"missing anchor #{anchor} in {target.name}"
    assert errors == [], f"console errors: {errors}"
    page.close()


def test_screenshots_of_landing_page_and_a_chapter(browser, site):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("index", "00_data"):
        page, _ = open_page(browser, site, HTML / "nbs" / f"{name}.html")
        wait_for_math(page)
        page.screenshot(path=str(SHOTS / f"{name}.png"))
        page.close()
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000


def test_search_page_finds_a_word(browser, site):
    page, errors = open_page(browser, site, HTML / "search.html", "?q=adversarial")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    assert page.locator("#search-results ul.search li").count() > 0
    assert errors == []
    page.close()


def test_every_figure_is_drawn():
    "A figure that reached the page as the text '<Figure size ...>' was displayed without an image backend."
    pages = book_pages()
    assert pages, NO_PAGES
    undrawn = [p.name for p in pages if "&lt;Figure size" in p.read_text(encoding="utf-8")]
    assert undrawn == [], f"pages with figures shown as text: {undrawn}"
