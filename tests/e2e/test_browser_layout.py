"""Layout in real headless Chromium at 1400 x 900 and 400 x 800: the example questions above the fold, the
Documents table within the page with one-line headers, and on a phone the answer's citation in view and the
table narrowed to the columns that matter.

Set DOCQA_SCREENSHOT=1 to save the screenshots in docs/ (chat-1400.png, documents-1400.png, chat-400.png,
documents-400.png).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

from tests.conftest import CHROMIUM, ROOT, SEEDS, serve
from tests.e2e.test_browser_documents import ARGS, _ask

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]
SHOTS = os.environ.get("DOCQA_SCREENSHOT")


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from docqa.qa import QA

    service = QA.from_corpus(SEEDS, tmp_path_factory.mktemp("layout-ix"))  # the seeds: the examples are shown
    with serve(service) as base:
        yield base


def _shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(ROOT / "docs" / name), full_page=False)


def _documents(page) -> None:
    page.get_by_role("tab", name="Documents").click()
    page.locator("#docqa-docs th").first.wait_for(timeout=30_000)
    page.wait_for_timeout(800)


@contextmanager
def chat_page(url: str, width: int, height: int):
    """The chat, loaded in headless Chromium at ``width`` x ``height``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url, wait_until="load")
            page.locator("#docqa-question textarea").wait_for(timeout=60_000)
            yield page
        finally:
            browser.close()


def test_desktop_examples_above_the_fold_and_table_fits(url):
    with chat_page(url, 1400, 900) as page:
        page.locator("#docqa-examples").wait_for(timeout=30_000)
        box = page.locator("#docqa-examples").bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, box  # seen without scrolling
        _ask(page, "Where will the drill be held?")
        _shot(page, "chat-1400.png")
        _documents(page)
        fits = page.evaluate(
            """() => { const t = document.querySelector('#docqa-docs table');
                       const heads = [...document.querySelectorAll('#docqa-docs th')];
                       const h = Math.min(...heads.map(e => e.getBoundingClientRect().height));
                       return {right: t.getBoundingClientRect().right, width: window.innerWidth,
                               tallest: Math.max(...heads.map(e => e.getBoundingClientRect().height)), h}; }"""
        )
        assert fits["right"] <= fits["width"], fits  # every column on screen
        assert fits["tallest"] <= fits["h"] + 1, fits  # no header wraps onto a second line
        _shot(page, "documents-1400.png")


def test_phone_sees_the_citation_and_a_narrow_table(url):
    with chat_page(url, 400, 800) as page:
        page.locator("#docqa-question textarea").scroll_into_view_if_needed()
        reply = _ask(page, "Where will the drill be held?")
        assert "Source:" in reply
        source = page.locator("#docqa-chat .message").last.get_by_text("Source:")
        source.scroll_into_view_if_needed()
        top = page.evaluate("() => window.scrollY")
        assert top < 800, top  # the citation is in the chat bubble, not below the whole chat
        _shot(page, "chat-400.png")
        _documents(page)
        shown = page.evaluate(
            """() => [...document.querySelectorAll('#docqa-docs th')]
                      .filter(e => getComputedStyle(e).display !== 'none').length"""
        )
        assert shown == 2
        _shot(page, "documents-400.png")
