"""A real headless Chromium (Debian's, driven by Playwright) proves hostile document text never runs."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM, serve

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]

EVIL = (
    "Orion project notes.\n\n"
    'The launch code of the Orion project is 7421 <script>window.__pwned = "script"</script> '
    "and the backup is <img src=x onerror=\"window.__pwned = 'img'\"> kept offline. "
    "See [the manual](javascript:window.__pwned='link') for the Orion launch procedure.\n"
)

INIT = """
window.__pwned = 0;
window.alert = () => { window.__pwned = 'alert'; };
"""


@pytest.fixture(scope="module")
def evil_app(tmp_path_factory):
    from docqa.qa import QA, QASettings

    corpus = tmp_path_factory.mktemp("evil")
    (corpus / "evil.md").write_text(EVIL)
    # rendering is under test, not abstention: always answer, so the hostile sentence reaches every panel
    service = QA.from_corpus(corpus, tmp_path_factory.mktemp("evil-ix"), settings=QASettings(abstain=False))
    with serve(service) as url:
        yield url


def test_hostile_document_renders_as_text(evil_app):
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.add_init_script(INIT)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(evil_app, wait_until="load")
            page.locator("#docqa-question textarea").wait_for(timeout=60_000)
            page.locator("#docqa-question textarea").fill("What is the launch code of the Orion project?")
            page.locator("#docqa-ask").click()
            page.wait_for_function(
                "() => (document.querySelector('#docqa-citations')?.innerText || '').includes('launch code')",
                timeout=60_000,
            )
            chat = page.locator("#docqa-chat").inner_text()
            cites = page.locator("#docqa-citations").inner_text()
            # the hostile markup is visible as literal text...
            assert "<script>" in cites and "onerror" in cites
            assert "7421" in chat
            # ...and none of it became live markup or ran
            page.get_by_text("Retrieved passages").first.click()
            page.wait_for_function(
                "() => (document.querySelector('#docqa-hits')?.innerText || '').includes('fused')", timeout=30_000
            )
            assert "<img src=x" in page.locator("#docqa-hits").inner_text()
            for root in ("#docqa-chat", "#docqa-citations", "#docqa-hits"):
                assert page.locator(f"{root} script").count() == 0
                assert page.locator(f"{root} img[src='x']").count() == 0
                assert page.locator(f"{root} a[href^='javascript']").count() == 0
            assert page.locator("mark").count() >= 1  # our own highlight is markup
            page.wait_for_timeout(500)
            assert page.evaluate("window.__pwned") == 0
            assert dialogs == []
        finally:
            browser.close()
