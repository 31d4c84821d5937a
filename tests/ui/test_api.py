"""The REST API over the real server (FastAPI + Gradio on loopback), with real uploads and background indexing."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from tests.conftest import SEEDS, serve
from tests.factory import make_pdf


def call(url: str, method: str = "GET", body=None, headers=None, files=None) -> tuple[int, dict, dict]:
    """(status, JSON body, headers with lower-case names) of one request; errors are returned, not raised."""
    data, hdrs = None, dict(headers or {})
    if files is not None:
        boundary = "docqa-test-boundary"
        parts = []
        for name, (fname, content) in files.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{fname}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        hdrs["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"{}"), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"raw": raw.decode("utf-8", "replace")}
        return e.code, payload, {k.lower(): v for k, v in e.headers.items()}


def wait_job(base: str, job: dict, headers: dict | None = None) -> dict:
    """The job once it has finished (polled as the client with ``headers``)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        _, j, _ = call(f"{base}api/jobs/{job['job_id']}", headers=headers)
        if j["state"] in ("done", "failed"):
            return j
        time.sleep(0.3)
    raise AssertionError(f"job {job} did not finish")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from docqa.qa import QA
    from docqa.ui.api import ServerLimits

    corpus = tmp_path_factory.mktemp("api-corpus")
    shutil.copytree(SEEDS, corpus, dirs_exist_ok=True)
    ix = tmp_path_factory.mktemp("api-ix")
    service = QA.from_corpus(corpus, ix)
    with serve(service, limits=ServerLimits(max_upload_bytes=2_000_000, max_answers_in_flight_per_client=2)) as url:
        yield url, service, ix


def test_answer_returns_a_cited_span(api):
    base, service, _ = api
    status, out, _ = call(f"{base}api/answer", "POST", {"question": "Where will the drill be held?"})
    assert status == 200 and out["found"]
    c = out["citations"][0]
    assert service.index.document(c["doc_id"]).text[c["start"] : c["end"]] == out["answer"]
    assert c["title"] == "China, Russia Set to Hold Joint Anti-Missile Drill"
    assert c["doc_sha256"] == service.index.document(c["doc_id"]).text_sha256


@pytest.mark.parametrize(
    "body,status,match",
    [
        ({"question": "   "}, 422, "question"),  # the schema says: text with a word (OpenAPI agrees)
        ({"question": None}, 422, "question"),
        ({"question": "What is THAAD?", "k": 0}, 422, "k"),
        ({"question": "What is THAAD?", "documents": ["nope.txt"]}, 404, "unknown document"),
        ({"nothing": 1}, 422, "question"),
    ],
)
def test_bad_requests_get_json_errors(api, body, status, match):
    got, out, _ = call(f"{api[0]}api/answer", "POST", body)
    assert got == status and out["status"] == status and match in out["error"]
    assert "Traceback" not in json.dumps(out)


def test_documents_listed_with_metadata(api):
    status, out, _ = call(f"{api[0]}api/documents")
    assert status == 200
    doc = next(d for d in out["documents"] if d["doc_id"].startswith("000_"))
    assert doc["type"] == "txt" and doc["passages"] > 3 and doc["bytes"] > 1000 and doc["added"]


def test_documents_are_listed_a_page_at_a_time(api):
    """A server of a million documents lists them a page at a time: offset and limit (default 1,000), the total
    beside them; /health and /collections count documents without listing them."""
    base = api[0]
    status, out, _ = call(f"{base}api/documents?limit=1")
    assert status == 200 and (out["offset"], out["limit"]) == (0, 1) and len(out["documents"]) == 1
    total = out["total"]
    assert total >= 1 and call(f"{base}api/documents")[1]["limit"] == 1000
    for offset in (total, 2**64):  # past the end, even past SQLite's integers: an empty page
        status, past, _ = call(f"{base}api/documents?offset={offset}&limit=5")
        assert status == 200 and past["documents"] == [] and past["total"] == total
    for bad in ("limit=0", "offset=-1", "limit=100001", "limit=many"):
        status, err, _ = call(f"{base}api/documents?{bad}")
        assert status == 422, (bad, err)
    assert call(f"{base}api/health")[1]["documents"] == total
    assert call(f"{base}api/collections")[1]["collections"][0]["documents"] == total


def test_upload_pdf_then_ask_with_page_and_source_then_delete(api, tmp_path):
    base, service, ix = api
    pdf = make_pdf(tmp_path / "kestrel.pdf", title="Kestrel Station Handbook").read_bytes()
    status, out, _ = call(f"{base}api/documents", "POST", files={"file": ("kestrel.pdf", pdf)})
    assert status == 202 and out["doc_id"] == "uploads/kestrel.pdf"
    job = wait_job(base, out["job"])
    assert job["state"] == "done" and "uploads/kestrel.pdf" in job["added"]
    docs = {d["doc_id"]: d for d in call(f"{base}api/documents")[1]["documents"]}
    assert (
        docs["uploads/kestrel.pdf"]["pages"] == 3 and docs["uploads/kestrel.pdf"]["title"] == "Kestrel Station Handbook"
    )
    q = {"question": "Who was the commander of the first expedition?", "documents": ["uploads/kestrel.pdf"]}
    status, ans, _ = call(f"{base}api/answer", "POST", q)
    assert status == 200 and ans["found"] and "Amara Okafor" in ans["answer"], ans["answer"]
    c = ans["citations"][0]
    assert c["page"] == 3 and c["doc_id"] == "uploads/kestrel.pdf"
    status, src, _ = call(f"{base}api/documents/uploads/kestrel.pdf/source?start={c['start']}&end={c['end']}")
    assert status == 200 and src["page"] == 3 and src["text"][src["start"] : src["end"]] == ans["answer"]
    assert "Orbital Station Handbook" not in src["text"]  # the running header is gone
    # the same name again is stored beside it, never over it
    status, again, _ = call(f"{base}api/documents", "POST", files={"file": ("kestrel.pdf", pdf)})
    assert status == 202 and again["doc_id"] == "uploads/kestrel (2).pdf"
    wait_job(base, again["job"])
    for doc_id in ("uploads/kestrel.pdf", "uploads/kestrel (2).pdf"):
        status, out, _ = call(f"{base}api/documents/{quote(doc_id)}", "DELETE")
        assert status == 202 and wait_job(base, out["job"])["state"] == "done"
    ids = {d["doc_id"] for d in call(f"{base}api/documents")[1]["documents"]}
    assert not any(i.startswith("uploads/") for i in ids)
    status, ans, _ = call(f"{base}api/answer", "POST", {"question": "Who was the commander of the first expedition?"})
    assert not any(c["doc_id"].startswith("uploads/") for c in ans["citations"])


@pytest.mark.parametrize(
    "name,content,status,match",
    [
        ("evil.exe", b"MZ\x90\x00binary", 415, "unsupported file type"),
        ("fake.pdf", b"just some text, not a PDF at all", 415, "not a PDF"),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 415, "binary"),
        ("empty.md", b"   ", 422, "empty"),
    ],
)
def test_uploads_are_type_checked_by_content(api, name, content, status, match):
    got, out, _ = call(f"{api[0]}api/documents", "POST", files={"file": (name, content)})
    assert got == status and match in out["error"], out


def test_oversized_upload_is_refused_before_its_body_is_read(api):
    import http.client
    from urllib.parse import urlparse

    u = urlparse(api[0])
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("POST", "/api/documents")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.endheaders()  # the 50 MB body is never sent: the answer comes from the headers alone
    r = conn.getresponse()
    out = json.loads(r.read())
    assert r.status == 413 and "too large" in out["error"]
    conn.close()


def test_oversized_chunked_upload_is_refused(api):
    import http.client
    from urllib.parse import urlparse

    u = urlparse(api[0])
    boundary = "docqa-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    body = [head, b"word " * 700_000, f"\r\n--{boundary}--\r\n".encode()]
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request(
        "POST",
        "/api/documents",
        body=iter(body),
        encode_chunked=True,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Transfer-Encoding": "chunked"},
    )
    r = conn.getresponse()
    out = json.loads(r.read())
    assert r.status == 413 and "limit" in out["error"]
    conn.close()


def test_upload_names_cannot_escape_the_uploads_folder(api, tmp_path):
    base, _, ix = api
    got, out, _ = call(f"{base}api/documents", "POST", files={"file": ("../../../etc/passwd.txt", b"Root lives here.")})
    assert got == 202 and out["doc_id"] == "uploads/passwd.txt"
    wait_job(base, out["job"])
    assert (ix / "uploads" / "passwd.txt").read_text() == "Root lives here."
    call(f"{base}api/documents/uploads/passwd.txt", "DELETE")


def test_one_client_cannot_flood_answers(api):
    """A fresh X-Client-Id per request does not make a fresh client (only a --trusted-proxy's header counts)."""
    base = api[0]
    results: list[int] = []

    def ask() -> None:
        st, _, hdr = call(
            f"{base}api/answer",
            "POST",
            {"question": "What is THAAD?"},
            headers={"X-Client-Id": f"greedy-{threading.get_ident()}", "X-Forwarded-For": "10.9.8.7"},
        )
        results.append(st)
        if st == 429:
            assert int(hdr.get("retry-after", "0")) >= 1

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 429 in results and 200 in results
    assert (
        call(f"{base}api/answer", "POST", {"question": "What is THAAD?"}, headers={"X-Client-Id": "polite"})[0] == 200
    )


def test_a_full_indexing_queue_answers_429_and_keeps_no_refused_upload(tmp_path):
    from docqa.qa import QA
    from docqa.ui.api import ServerLimits

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    ix = tmp_path / "ix"
    service = QA.from_corpus(corpus, ix)
    # each upload takes seconds to embed, so the first runs while the second waits and the third finds no room
    body = " ".join(f"Sentence {i} describes supply depot {i % 97} and its {i % 13} cranes." for i in range(3000))
    with serve(service, limits=ServerLimits(max_pending_jobs=1)) as base:
        answers = [
            call(f"{base}api/documents", "POST", files={"file": (f"depot{n}.txt", body.encode())}) for n in range(4)
        ]
        codes = [a[0] for a in answers]
        assert codes[0] == 202 and 429 in codes, codes
        refused = [a for a in answers if a[0] == 429]
        assert all(int(a[2]["retry-after"]) >= 1 and "queue is full" in a[1]["error"] for a in refused)
        for st, out, _ in answers:
            if st == 202:
                assert wait_job(base, out["job"])["state"] == "done"
    kept = sorted(p.name for p in (ix / "uploads").iterdir())
    assert kept == sorted(f"depot{n}.txt" for n, c in enumerate(codes) if c == 202)  # nothing refused stays


def test_feedback_is_appended_beside_the_index(api):
    base, _, ix = api
    _, ans, _ = call(f"{base}api/answer", "POST", {"question": "What is THAAD?"})
    status, rec, _ = call(f"{base}api/feedback", "POST", {"answer": ans, "rating": "down", "comment": "too short"})
    assert status == 200 and rec["rating"] == "down"
    lines = (ix / "feedback.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    assert last["question"] == "What is THAAD?" and last["index_version"] == ans["index_version"]
    assert last["citations"][0]["doc_sha256"]


def test_openapi_docs_and_chat_share_the_server(api):
    base = api[0]
    with urllib.request.urlopen(f"{base}openapi.json", timeout=30) as r:
        spec = json.loads(r.read())
    assert {"/api/answer", "/api/documents", "/api/documents/{doc_id}"} <= set(spec["paths"])
    with urllib.request.urlopen(f"{base}docs", timeout=30) as r:
        assert r.status == 200
    with urllib.request.urlopen(base, timeout=30) as r:
        assert "DocQA" in r.read().decode("utf-8", "replace")
