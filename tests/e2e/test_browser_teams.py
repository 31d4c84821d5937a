"""Teams in real headless Chromium: a reader signs in with a token, sees only their collection, asks, and cannot
delete; the document filter lists a document uploaded through REST on the next page load; nothing is preselected
for deletion and deleting asks for confirmation; an admin switches between collections."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import CHROMIUM, SEEDS, serve
from tests.e2e.test_browser_documents import ARGS, _ask
from tests.ui.test_api import call, wait_job
from tests.ui.test_teams import ENG_TEXT, auth

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    from docqa.qa import QA
    from docqa.ui.tokens import TokenStore

    hr = tmp_path_factory.mktemp("b-hr")
    shutil.copytree(SEEDS, hr, dirs_exist_ok=True)
    eng = tmp_path_factory.mktemp("b-eng")
    (eng / "falcon.txt").write_text(ENG_TEXT)
    home = tmp_path_factory.mktemp("b-ix")
    services = {"hr": QA.from_corpus(hr, home / "hr"), "eng": QA.from_corpus(eng, home / "eng")}
    store = TokenStore(home / "tokens.json")
    tokens = {
        "reader": store.create("reader", ["hr"], name="hr-reader")[0],
        "admin": store.create("admin", name="boss")[0],
    }
    with serve(services, tokens=store) as url:
        yield url, services, tokens


def _sign_in(page, url: str, name: str, token: str) -> None:
    page.goto(url, wait_until="load")
    page.get_by_role("button", name="Login").wait_for(timeout=60_000)
    page.locator("input[type=text]").first.fill(name)
    page.locator("input[type=password]").fill(token)
    page.get_by_role("button", name="Login").click()
    page.locator("#docqa-question textarea").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the page load fills the collection, filter and delete choices


def test_reader_signs_in_sees_only_their_collection_and_cannot_delete(team):
    from playwright.sync_api import sync_playwright

    url, services, tokens = team
    # a document added through REST before the page is opened
    st, out, _ = call(
        f"{url}api/documents?collection=hr",
        "POST",
        headers=auth(tokens["admin"]),
        files={"file": ("kiln-notes.txt", b"Kiln safety notes.\n\nThe kiln room opens at 7:30 every morning.\n")},
    )
    assert st == 202
    wait_job(url, out["job"], auth(tokens["admin"]))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url, wait_until="load")
            page.get_by_role("button", name="Login").wait_for(timeout=60_000)  # the chat is behind a sign-in
            page.locator("input[type=text]").first.fill("hr-reader")
            page.locator("input[type=password]").fill(tokens["reader"] + "x")  # a wrong token is refused
            page.get_by_role("button", name="Login").click()
            page.wait_for_timeout(1500)
            assert page.locator("#docqa-question textarea").count() == 0
            _sign_in(page, url, "hr-reader", tokens["reader"])
            assert not page.locator("#docqa-collection").is_visible()  # one collection: no selector
            # the filter already lists the REST upload (no visit to the Documents tab)
            page.locator("#docqa-filter input").click()
            options = page.locator("#docqa-filter li").all_inner_texts()
            page.keyboard.press("Escape")
            assert any("kiln-notes" in o for o in options) and not any("falcon" in o for o in options), options
            reply = _ask(page, "When does the kiln room open?")
            assert "7:30" in reply and "kiln-notes.txt" in reply, reply
            reply = _ask(page, "Who is the on-call engineer?")
            assert "Priya" not in reply and "falcon" not in reply.lower(), reply
            # Documents: nothing preselected, deleting asks first, and a reader may not
            page.get_by_role("tab", name="Documents").click()
            page.wait_for_timeout(1000)
            assert page.locator("#docqa-delete-pick input").input_value() == ""
            assert "falcon" not in page.locator("#docqa-docs").inner_text()
            page.locator("#docqa-delete").click()
            page.wait_for_timeout(500)
            assert "Choose a document" in page.locator("#docqa-upload-status").inner_text()
            page.locator("#docqa-delete-pick input").click()
            page.locator("#docqa-delete-pick li", has_text="kiln").click()
            page.locator("#docqa-delete").click()
            page.wait_for_timeout(800)
            assert "may not upload or delete" in page.locator("#docqa-upload-status").inner_text()
            assert not page.locator("#docqa-delete-confirm").is_visible()
            assert "uploads/kiln-notes.txt" in {d.doc_id for d in services["hr"].documents()}
        finally:
            browser.close()


def test_admin_switches_collections_and_confirms_a_deletion(team):
    from playwright.sync_api import sync_playwright

    url, services, tokens = team
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            _sign_in(page, url, "boss", tokens["admin"])
            assert page.locator("#docqa-collection").is_visible()
            page.locator("#docqa-collection input").click()
            page.locator("#docqa-collection li", has_text="eng").click()
            page.wait_for_timeout(1500)
            reply = _ask(page, "Who is the on-call engineer?")
            assert "Priya Raman" in reply, reply
            page.locator("#docqa-collection input").click()
            page.locator("#docqa-collection li", has_text="hr").click()
            page.wait_for_timeout(1500)
            assert page.locator("#docqa-chat .message").count() == 0  # a new conversation per collection
            page.get_by_role("tab", name="Documents").click()
            page.wait_for_timeout(1000)
            page.locator("#docqa-delete-pick input").click()
            page.locator("#docqa-delete-pick li", has_text="kiln").click()
            page.locator("#docqa-delete").click()
            page.locator("#docqa-delete-confirm").wait_for(timeout=10_000)
            assert "cannot be undone" in page.locator("#docqa-upload-status").inner_text()
            page.locator("#docqa-delete-cancel").click()
            page.wait_for_timeout(500)
            assert "Nothing was deleted" in page.locator("#docqa-upload-status").inner_text()
            assert "uploads/kiln-notes.txt" in {d.doc_id for d in services["hr"].documents()}
            page.locator("#docqa-delete").click()
            page.locator("#docqa-delete-confirm").click()
            page.wait_for_function(
                "() => /Deleted/.test(document.querySelector('#docqa-upload-status')?.innerText || '')",
                timeout=60_000,
            )
            assert "kiln" not in page.locator("#docqa-docs").inner_text()
        finally:
            browser.close()
    assert "uploads/kiln-notes.txt" not in {d.doc_id for d in services["hr"].documents()}
