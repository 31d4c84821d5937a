"""Teams on one server, over real HTTP: two collections, tokens with roles, no leaks across collections, limits by
principal, storage quotas, refused uploads not kept, relative paths, the audit trail, and exposure checks."""

from __future__ import annotations

import shutil
import threading

import pytest

from tests.conftest import SEEDS, serve
from tests.factory import make_docx_bomb
from tests.ui.test_api import call, wait_job

ENG_TEXT = (
    "Falcon build server handbook.\n\n"
    "The Falcon build server answers on port 8443. Deployments happen every Tuesday at 14:00. "
    "The on-call engineer this quarter is Priya Raman.\n"
)


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """hr: the seed article; eng: a build-server note; tokens: admin, editor and reader of hr, reader of eng."""
    from docqa.index.ingest import IngestLimits
    from docqa.index.library import StorageQuota
    from docqa.qa import QA
    from docqa.ui.tokens import TokenStore

    hr = tmp_path_factory.mktemp("hr")
    shutil.copytree(SEEDS, hr, dirs_exist_ok=True)
    eng = tmp_path_factory.mktemp("eng")
    (eng / "falcon.txt").write_text(ENG_TEXT)
    home = tmp_path_factory.mktemp("team-ix")
    quota = StorageQuota(max_bytes=400_000, max_files=3)
    limits = IngestLimits(max_chars=20_000)
    services = {
        "hr": QA.from_corpus(hr, home / "hr", quota=quota, limits=limits),
        "eng": QA.from_corpus(eng, home / "eng", quota=quota, limits=limits),
    }
    store = TokenStore(home / "tokens.json")
    tokens = {
        "admin": store.create("admin", name="root")[0],
        "editor": store.create("editor", ["hr"], name="hr-editor")[0],
        "reader": store.create("reader", ["hr"], name="hr-reader")[0],
        "other": store.create("reader", ["eng"], name="eng-reader")[0],
    }
    with serve(services, tokens=store) as url:
        yield url, services, tokens, home


def auth(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def test_every_route_answers_each_principal_as_the_role_table_says(team):
    base, services, tokens, _ = team
    seed = services["hr"].documents()[0].doc_id
    q = {"question": "What is THAAD?", "collection": "hr"}

    def routes(token):
        """(name, status) of every route for one principal (uploads made here are removed again)."""
        h = auth(token)
        ans = call(f"{base}api/answer", "POST", q, h)
        out = {
            "answer": ans[0],
            "collections": call(f"{base}api/collections", headers=h)[0],
            "documents": call(f"{base}api/documents?collection=hr", headers=h)[0],
            "source": call(f"{base}api/documents/{seed}/source?collection=hr&start=0&end=9", headers=h)[0],
            "feedback": call(f"{base}api/feedback", "POST", {"answer": ans[1], "rating": "up", "collection": "hr"}, h)[
                0
            ],
            "health": call(f"{base}api/health")[0],
        }
        st, up, _ = call(
            f"{base}api/documents?collection=hr", "POST", headers=h, files={"file": ("memo.txt", b"A short memo.")}
        )
        out["upload"] = st
        if st == 202:
            wait_job(base, up["job"], h)
            out["job"] = call(f"{base}api/jobs/{up['job']['job_id']}", headers=h)[0]
            st, rm, _ = call(f"{base}api/documents/{up['doc_id']}?collection=hr", "DELETE", headers=h)
            out["delete"] = st
            wait_job(base, rm["job"], h)
        else:
            out["delete"] = call(f"{base}api/documents/{seed}?collection=hr", "DELETE", headers=h)[0]
        return out

    ok = {"answer": 200, "collections": 200, "documents": 200, "source": 200, "feedback": 200, "health": 200}
    edit = {**ok, "upload": 202, "job": 200, "delete": 202}
    expected = {
        None: {**dict.fromkeys(ok, 401), "health": 200, "upload": 401, "delete": 401},
        "dq_000000000000_" + "x" * 43: {**dict.fromkeys(ok, 401), "health": 200, "upload": 401, "delete": 401},
        tokens["reader"]: {**ok, "upload": 403, "delete": 403},
        tokens["editor"]: edit,
        tokens["admin"]: edit,
        tokens["other"]: {**dict.fromkeys(ok, 404), "collections": 200, "health": 200, "upload": 404, "delete": 404},
    }
    for token, want in expected.items():
        assert routes(token) == want, token and token[:12]


def test_401_says_how_and_not_yours_reads_as_does_not_exist(team):
    base, services, tokens, _ = team
    st, out, hdr = call(f"{base}api/documents")
    assert st == 401 and hdr["www-authenticate"] == "Bearer" and "Authorization: Bearer" in out["error"]
    seed = services["hr"].documents()[0].doc_id
    mine = call(f"{base}api/documents/{seed}/source?collection=hr", headers=auth(tokens["other"]))
    none = call(f"{base}api/documents/{seed}/source?collection=nope", headers=auth(tokens["other"]))
    assert mine[0] == none[0] == 404 and mine[1]["error"].replace("hr", "X") == none[1]["error"].replace("nope", "X")


def test_a_reader_of_one_collection_never_sees_the_other(team):
    base, services, tokens, _ = team
    h = auth(tokens["other"])
    _, cols, _ = call(f"{base}api/collections", headers=h)
    assert [c["name"] for c in cols["collections"]] == ["eng"] and cols["default"] == "eng"
    _, docs, _ = call(f"{base}api/documents", headers=h)  # their default is their own collection
    assert [d["file"] for d in docs["documents"]] == ["falcon.txt"]
    st, ans, _ = call(f"{base}api/answer", "POST", {"question": "What is THAAD?"}, h)
    cited = {c["doc_id"] for a in [ans, *ans["alternatives"]] for c in a["citations"]} | {
        x["doc_id"] for x in ans["hits"]
    }
    assert st == 200 and cited <= {"falcon.txt"}
    st, ans, _ = call(f"{base}api/answer", "POST", {"question": "Who is the on-call engineer?"}, h)
    assert ans["answer"] == "Priya Raman"
    # the hr reader asking the eng question gets nothing from eng, and cannot name it
    hr = auth(tokens["reader"])
    st, ans, _ = call(f"{base}api/answer", "POST", {"question": "Who is the on-call engineer?"}, hr)
    assert st == 200 and "Priya" not in str(ans)
    assert call(f"{base}api/answer", "POST", {"question": "Who?", "collection": "eng"}, hr)[0] == 404
    # an admin sees both
    _, cols, _ = call(f"{base}api/collections", headers=auth(tokens["admin"]))
    assert [c["name"] for c in cols["collections"]] == ["hr", "eng"]


def test_quota_is_checked_before_writing_and_refused_uploads_are_not_kept(team, tmp_path):
    base, services, tokens, home = team
    h = auth(tokens["admin"])
    uploads = home / "eng" / "uploads"
    # a file over the character limit is accepted for indexing, then skipped: reported by its name, deleted
    big = ("Word " * 6000).encode()
    st, out, _ = call(f"{base}api/documents?collection=eng", "POST", headers=h, files={"file": ("big.txt", big)})
    job = wait_job(base, out["job"], h)
    assert job["skipped"] and job["skipped"][0]["path"] == "uploads/big.txt" and "/" + "tmp" not in str(job)
    assert not (uploads / "big.txt").exists()
    assert call(f"{base}api/documents/uploads/big.txt?collection=eng", "DELETE", headers=h)[0] == 404
    # a zip bomb docx: skipped and deleted too
    bomb = make_docx_bomb(tmp_path / "bomb.docx").read_bytes()
    st, out, _ = call(f"{base}api/documents?collection=eng", "POST", headers=h, files={"file": ("bomb.docx", bomb)})
    job = wait_job(base, out["job"], h)
    assert st == 202 and job["skipped"][0]["path"] == "uploads/bomb.docx" and not (uploads / "bomb.docx").exists()
    # the quota (3 files, 400 kB): the fourth upload is refused before anything is written
    ids = []
    for n in range(3):
        st, out, _ = call(
            f"{base}api/documents?collection=eng", "POST", headers=h, files={"file": (f"n{n}.txt", b"Note %d." % n)}
        )
        assert st == 202, out
        ids.append(out["doc_id"])
        wait_job(base, out["job"], h)
    st, out, _ = call(f"{base}api/documents?collection=eng", "POST", headers=h, files={"file": ("n4.txt", b"Four.")})
    assert st == 413 and "quota" in out["error"] and not (uploads / "n4.txt").exists()
    too_big = b"x " * 250_000
    for doc_id in ids:
        wait_job(base, call(f"{base}api/documents/{doc_id}?collection=eng", "DELETE", headers=h)[1]["job"], h)
    st, out, _ = call(f"{base}api/documents?collection=eng", "POST", headers=h, files={"file": ("b.txt", too_big)})
    assert st == 413 and "400,000 bytes" in out["error"] and sorted(p.name for p in uploads.iterdir()) == []


def test_mutations_are_audited_by_token_name_never_by_token(team):
    base, _, tokens, home = team
    h = auth(tokens["editor"])
    st, out, _ = call(f"{base}api/documents?collection=hr", "POST", headers=h, files={"file": ("a.txt", b"Audit me.")})
    wait_job(base, out["job"], h)
    wait_job(base, call(f"{base}api/documents/{out['doc_id']}?collection=hr", "DELETE", headers=h)[1]["job"], h)
    text = (home / "hr" / "audit.jsonl").read_text()
    rows = [r for r in map(__import__("json").loads, text.splitlines()) if r.get("doc_id") == out["doc_id"]]
    assert [(r["who"], r["action"]) for r in rows] == [("hr-editor", "upload"), ("hr-editor", "delete")]
    assert all(t.rsplit("_", 1)[1] not in text for t in tokens.values())


def test_limits_count_per_token_not_per_header(team):
    base, _, tokens, _ = team
    results: list[int] = []

    def ask(n: int) -> None:
        hdr = {**auth(tokens["reader"]), "X-Client-Id": f"fresh-{n}", "X-Forwarded-For": f"10.0.0.{n}"}
        results.append(call(f"{base}api/answer", "POST", {"question": "Where will the drill be held?"}, hdr)[0])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 429 in results and 200 in results, results
    assert set(results) <= {200, 429}


def test_unknown_methods_get_405_and_responses_carry_no_server_paths(team):
    base, services, tokens, home = team
    st, out, hdr = call(f"{base}api/answer", "TRACE")
    assert st == 405 and "POST" in hdr["allow"]
    st, ans, _ = call(f"{base}api/answer", "POST", {"question": "Where will the drill be held?"}, auth(tokens["admin"]))
    seed = ans["citations"][0]["doc_id"]
    src = call(f"{base}api/documents/{seed}/source?collection=hr", headers=auth(tokens["admin"]))[1]
    docs = call(f"{base}api/documents?collection=hr", headers=auth(tokens["admin"]))[1]
    for body in (ans, src, docs):
        assert str(home) not in str(body) and str(SEEDS) not in str(body) and "/tmp/" not in str(body)


def test_the_server_refuses_to_expose_itself_without_tokens(tmp_path):
    from docqa.qa.errors import SettingsError
    from docqa.ui.server import check_exposure
    from docqa.ui.tokens import TokenStore

    empty = TokenStore(tmp_path / "tokens.json")
    assert check_exposure("127.0.0.1", empty, False) is None and check_exposure("localhost", None, False) is None
    with pytest.raises(SettingsError, match="docqa token create --role admin"):
        check_exposure("0.0.0.0", empty, False)
    assert "WARNING" in check_exposure("0.0.0.0", empty, True)
    empty.create("admin")
    assert check_exposure("0.0.0.0", empty, False) is None


def test_made_up_credentials_never_get_in_and_never_crash_the_server(team):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base, _, tokens, _ = team
    printable = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80)
    real = tokens["admin"]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        scheme=st.sampled_from(["Bearer", "bearer", "Basic", "Token", ""]),
        value=st.one_of(printable, st.builds(lambda n, c: real[:n] + c, st.integers(0, len(real) - 1), printable)),
        forwarded=printable,
    )
    def check(scheme, value, forwarded):
        hdr = {"Authorization": f"{scheme} {value}".strip(), "X-Forwarded-For": forwarded, "X-Client-Id": forwarded}
        st_, body, _ = call(f"{base}api/documents", headers=hdr)
        assert st_ == 401 and body["status"] == 401, (hdr, body)

    check()


def test_collections_on_one_milvus_keep_apart(tmp_path):
    """Two collections on the Milvus backend sharing one Milvus (Lite) database: each is its own set of Milvus
    collections (``docqa_<index folder>_*``), and answers of one never cite the other."""
    from docqa.qa import QA

    hr, eng = tmp_path / "hr", tmp_path / "eng"
    shutil.copytree(SEEDS, hr)
    eng.mkdir()
    (eng / "falcon.txt").write_text(ENG_TEXT)
    uri = str(tmp_path / "shared-milvus.db")
    services = {
        "hr": QA.from_corpus(hr, tmp_path / "ix-hr", backend="milvus", milvus_uri=uri),
        "eng": QA.from_corpus(eng, tmp_path / "ix-eng", backend="milvus", milvus_uri=uri),
    }
    assert services["hr"].backend.prefix != services["eng"].backend.prefix
    with serve(services) as base:
        _, ans, _ = call(f"{base}api/answer", "POST", {"question": "Who is the on-call engineer?", "collection": "eng"})
        assert ans["answer"] == "Priya Raman"
        _, ans, _ = call(f"{base}api/answer", "POST", {"question": "Who is the on-call engineer?", "collection": "hr"})
        assert "Priya" not in str(ans) and {h["doc_id"] for h in ans["hits"]} <= {p.name for p in hr.iterdir()}
        _, docs, _ = call(f"{base}api/documents?collection=eng")
        assert [d["doc_id"] for d in docs["documents"]] == ["falcon.txt"]


def test_requests_per_minute_are_limited_per_principal():
    from docqa.qa.errors import BusyError
    from docqa.ui.api import RateLimiter

    rl = RateLimiter(per_minute=60)  # one a second, bursts of 6
    assert rl.burst == 6
    for _ in range(6):
        rl.take("alice")
    with pytest.raises(BusyError) as exc:
        rl.take("alice")
    assert 0 < exc.value.retry_after <= 1.0
    rl.take("bob")  # another principal has its own bucket
