"""A user's session in real headless Chromium: upload a PDF, ask, see the page, open the source, filter to one
document, follow up (a pronoun, then an elliptical "And when?", each shown as read), delete the PDF and see
answers stop citing it; a second tab never sees the first one's turns.

Set DOCQA_SCREENSHOT=1 to save the chat screenshot used by the README (docs/chat.png).
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import CHROMIUM, ROOT, SEEDS, serve
from tests.factory import make_pdf

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from docqa.qa import QA

    corpus = tmp_path_factory.mktemp("browser-corpus")
    shutil.copytree(SEEDS, corpus, dirs_exist_ok=True)
    service = QA.from_corpus(corpus, tmp_path_factory.mktemp("browser-ix"))
    with serve(service) as url:
        yield url, service


def _ask(page, question: str) -> str:
    before = page.locator("#docqa-chat .message").count()
    page.locator("#docqa-question textarea").fill(question)
    page.locator("#docqa-ask").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('#docqa-chat .message').length >= {before + 2}", timeout=60_000
    )
    page.wait_for_timeout(300)
    return page.locator("#docqa-chat .message").last.inner_text()


def test_upload_ask_page_source_filter_followup_delete(app, tmp_path):
    from playwright.sync_api import sync_playwright

    url, service = app
    pdf = make_pdf(tmp_path / "kestrel.pdf", title="Kestrel Station Handbook")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="load")
            page.locator("#docqa-question textarea").wait_for(timeout=60_000)
            # upload in the Documents tab; the table lists it with its pages
            page.get_by_role("tab", name="Documents").click()
            page.locator("#docqa-upload input[type=file]").set_input_files(str(pdf))
            page.wait_for_timeout(1000)
            page.locator("#docqa-add").click()
            page.wait_for_function(
                "() => (document.querySelector('#docqa-upload-status')?.innerText || '').includes('Indexed 1 file')",
                timeout=120_000,
            )
            assert "Kestrel Station Handbook" in page.locator("#docqa-docs").inner_text()
            # ask in the chat: the answer cites the PDF with its page
            page.get_by_role("tab", name="Chat").click()
            reply = _ask(page, "Who was the commander of the first expedition?")
            assert "Amara Okafor" in reply and "p. 3" in reply, reply
            assert "p. 3" in page.locator("#docqa-citations").inner_text()
            # open the source: the page is shown with the span highlighted and scrolled into view
            page.locator("#docqa-open").click()
            page.wait_for_function(
                "() => (document.querySelector('#docqa-source mark')?.innerText || '').includes('Amara Okafor')",
                timeout=30_000,
            )
            src = page.locator("#docqa-source").inner_text()
            assert "page 3" in src and "Water is recycled" in src and "Orbital Station Handbook" not in src
            page.wait_for_timeout(500)
            assert page.evaluate(
                """() => { const m = document.querySelector('#docqa-source mark').getBoundingClientRect();
                           const box = document.querySelector('#docqa-source .docqa-source-text').getBoundingClientRect();
                           return m.top >= box.top && m.bottom <= box.bottom; }"""
            )
            # a follow-up leans on the previous turn: "she" is read as the previous answer, and the chat says so
            reply = _ask(page, "How many days did she spend on the station?")
            assert "211" in reply and "Read as: How many days did Amara Okafor spend on the station?" in reply, reply
            # feedback on the answer is kept beside the index
            page.locator("#docqa-down").click()
            page.wait_for_function(
                "() => (document.querySelector('#docqa-rated')?.innerText || '').includes('feedback saved')"
            )
            assert service.feedback.records()[-1]["answer"] == "211"
            # an elliptical follow-up ("And when?") takes the previous question's topic, and the chat shows it
            _ask(page, "Where was the orbital station Kestrel assembled?")
            reply = _ask(page, "And when?")
            assert "2031" in reply and "Read as: When was the orbital station Kestrel assembled?" in reply, reply
            if os.environ.get("DOCQA_SCREENSHOT"):
                page.locator("#docqa-open").click()
                page.wait_for_function("() => !!document.querySelector('#docqa-source mark')")
                page.wait_for_timeout(500)
                (ROOT / "docs").mkdir(exist_ok=True)
                page.screenshot(path=str(ROOT / "docs" / "chat.png"), full_page=False)
            # a second tab is a separate conversation: it starts empty and its turns stay out of the first tab
            mine = page.locator("#docqa-chat .message").count()
            other = browser.new_page()
            other.goto(url, wait_until="load")
            other.locator("#docqa-question textarea").wait_for(timeout=60_000)
            assert other.locator("#docqa-chat .message").count() == 0
            _ask(other, "What is THAAD?")
            theirs = other.locator("#docqa-chat").inner_text()
            assert "What is THAAD?" in theirs and "commander" not in theirs and "Amara" not in theirs
            assert page.locator("#docqa-chat .message").count() == mine
            other.close()
            # ask within the seed document only: the PDF is not cited
            page.locator("#docqa-filter input").click()
            page.locator("#docqa-filter li", has_text="China, Russia").click()
            page.keyboard.press("Escape")
            reply = _ask(page, "Who was the commander of the first expedition?")
            assert "kestrel.pdf" not in reply and "Amara" not in reply, reply
            # delete the PDF: answers stop citing it
            page.get_by_role("tab", name="Documents").click()
            page.wait_for_timeout(1000)  # the tab refreshes its table and choices
            page.locator("#docqa-delete-pick input").click()
            page.locator("#docqa-delete-pick li", has_text="Kestrel").click()
            page.wait_for_timeout(300)
            page.locator("#docqa-delete").click()
            page.locator("#docqa-delete-confirm").click()  # deleting asks first
            page.wait_for_function(
                "() => /Deleted|⚠️|Choose/.test(document.querySelector('#docqa-upload-status')?.innerText || '')",
                timeout=60_000,
            )
            assert "Deleted uploads/kestrel.pdf" in page.locator("#docqa-upload-status").inner_text()
            assert "Kestrel" not in page.locator("#docqa-docs").inner_text()
            page.get_by_role("tab", name="Chat").click()
            page.locator("#docqa-clear").click()
            page.wait_for_function("() => document.querySelectorAll('#docqa-chat .message').length === 0")
            reply = _ask(page, "Who was the commander of the first expedition?")
            assert "Amara" not in reply and "kestrel" not in reply.lower(), reply
        finally:
            browser.close()
    assert "uploads/kestrel.pdf" not in {d.doc_id for d in service.documents()}
