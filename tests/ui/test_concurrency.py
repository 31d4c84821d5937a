"""Concurrent clients over HTTP while the index is swapped: no errors, never a half-updated answer."""

from __future__ import annotations

import shutil
import threading
import time

from docqa.qa.types import answer_json_is_consistent
from tests.conftest import SEEDS, serve


def test_concurrent_http_clients_during_index_updates(tmp_path):
    from docqa.qa import QA

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    service = QA.from_corpus(corpus, tmp_path / "ix")
    with serve(service) as url:
        _run_clients(service, corpus, url)


def _run_clients(service, corpus, url) -> None:
    from gradio_client import Client

    questions = ["What is THAAD?", "Where will the drill be held?", "Which ship reached the center on day 6?"]
    results: list[tuple[bool, dict]] = []
    answered_at: dict[int, list[float]] = {}
    lock = threading.Lock()
    stop = time.monotonic() + 12

    def client(i: int) -> None:
        c = Client(url, verbose=False)
        k = i
        while time.monotonic() < stop:
            out = c.predict(questions[k % len(questions)], api_name="/answer")
            k += 1
            with lock:
                results.append((answer_json_is_consistent(out), out))
                answered_at.setdefault(i, []).append(time.monotonic())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for n in range(1, 3):
        time.sleep(3)
        (corpus / f"bulletin{n}.txt").write_text(
            f"Bulletin {n}. Supply ship {n} reached the research center on day {n * 3}."
        )
        stats = service.sync()
        assert stats.embedded == 1
    swapped = time.monotonic()
    for t in threads:
        t.join()
    # every client answered across both swaps and after the last one (a client that raised fails the test)
    assert sorted(answered_at) == list(range(8))
    assert all(max(times) > swapped for times in answered_at.values()), "a client stopped before the last swap"
    bad = [out for ok, out in results if not ok]
    assert bad == []
    assert len(service.index.documents()) == 3
    final = service.answer("Which ship reached the center on day 6?")
    assert final.found and "bulletin2.txt" == final.citations[0].doc_id
