"""The console script, run as a user would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.conftest import SEEDS
from tests.factory import make_docx


def _docqa(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    exe = shutil.which("docqa") or sys.executable
    cmd = [exe, *args] if exe != sys.executable else [exe, "-m", "docqa.ui.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_index_then_ask_json(tmp_path):
    ix = tmp_path / "ix"
    r = _docqa("index", str(SEEDS), "--index", str(ix), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "indexed 1 document(s)" in r.stdout
    r = _docqa("ask", "When will the drill be held?", "--corpus", str(SEEDS), "--index", str(ix), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["found"] and out["citations"][0]["text"] == out["answer"]
    r = _docqa("ask", "What is THAAD?", "--corpus", str(SEEDS), "--index", str(ix))
    assert r.returncode == 0 and "A: " in r.stdout and "000_01cb2e2d8b3a0f1d.txt [" in r.stdout


def test_errors_are_messages_with_nonzero_status(tmp_path):
    r = _docqa("ask", "  ", "--corpus", str(SEEDS), "--index", str(tmp_path / "ix"))
    assert r.returncode == 2 and "error: the question is empty" in r.stderr and "Traceback" not in r.stderr
    r = _docqa("index", str(tmp_path / "missing"), "--index", str(tmp_path / "ix2"))
    assert r.returncode == 2 and "no such file" in r.stderr


def _run(capsys, *args: str) -> subprocess.CompletedProcess:
    from docqa.ui.cli import main

    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, rc, out.out, out.err)


def test_add_list_ask_within_remove_eval_verify(tmp_path, capsys):
    """In-process (the same argparse -> QA path as the console script, without a model load per command)."""

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    ix = tmp_path / "ix"
    opts = ["--corpus", str(corpus), "--index", str(ix)]
    manual = make_docx(tmp_path / "ferry.docx")
    r = _run(capsys, "add", str(manual), *opts)
    assert r.returncode == 0 and "added uploads/ferry.docx" in r.stdout, r.stderr
    r = _run(capsys, "list", *opts, "--json")
    docs = {d["doc_id"]: d for d in json.loads(r.stdout)}
    assert docs["uploads/ferry.docx"]["title"] == "Ferry Operations Manual" and len(docs) == 2
    page = json.loads(_run(capsys, "list", *opts, "--json", "--offset", "1", "--limit", "1").stdout)
    assert [d["doc_id"] for d in page] == sorted(docs)[1:2]
    r = _run(capsys, "ask", "When does the first ferry leave?", "--doc", "uploads/ferry.docx", *opts, "--json")
    saved = tmp_path / "answers.jsonl"
    saved.write_text(r.stdout)
    out = json.loads(r.stdout)
    assert out["found"] and "6:40" in out["answer"] and out["citations"][0]["heading"] == "Departures"
    labelled = tmp_path / "mine.jsonl"
    labelled.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"question": "When does the first ferry leave?", "answer": "6:40", "document": "uploads/ferry.docx"},
                {"question": "Where will the drill be held?", "answer": "a Russian military research center"},
                {"question": "What is the boiling point of mercury in kelvin?", "answer": None},
            ]
        )
    )
    r = _run(capsys, "eval", str(labelled), *opts, "--rows")
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{") and line.endswith("}")]
    summary = json.loads(r.stdout[r.stdout.index("{\n") :])
    assert summary["questions"] == 3 and summary["cited_document_accuracy"] == 1.0
    assert summary["unanswerable_abstained"] == 1.0
    # scored by hand: the ferry span "6:40 every weekday morning" vs "6:40" is EM 0, F1 2*(1/4*1)/(1/4+1) = 0.4;
    # the drill is exact; the unanswerable question, declined, counts as exact
    assert [r["answer"] for r in rows[:2]] == ["6:40 every weekday morning", "a Russian military research center"]
    assert (rows[0]["EM"], rows[0]["F1"], rows[1]["EM"]) == (0.0, 0.4, 1.0)
    assert (summary["EM"], summary["F1"]) == (66.7, 80.0)
    r = _run(capsys, "verify", str(saved), *opts)
    assert r.returncode == 0 and "0 citation(s) no longer hold" in r.stderr
    r = _run(capsys, "remove", "uploads/ferry.docx", *opts)
    assert r.returncode == 0 and "removed uploads/ferry.docx" in r.stdout
    r = _run(capsys, "verify", str(saved), *opts)
    assert r.returncode == 1 and "document no longer in the index" in r.stdout
    # a corpus file is excluded, not deleted, and can be added back
    seed = next(corpus.glob("*.txt"))
    assert _run(capsys, "remove", seed.name, *opts).returncode == 0 and seed.exists()
    assert json.loads(_run(capsys, "list", *opts, "--json").stdout) == []
    assert _run(capsys, "add", str(seed), *opts).returncode == 0
    assert [d["doc_id"] for d in json.loads(_run(capsys, "list", *opts, "--json").stdout)] == [seed.name]


def test_serve_uses_the_ingestion_limit_flags(tmp_path, monkeypatch):
    """`docqa serve --max-chars N` serves with that limit (the flags are not only accepted but applied)."""
    import docqa.ui.server as ui_server
    from docqa.ui.cli import main

    served = {}
    monkeypatch.setattr(ui_server, "launch", lambda service, **kw: served.update(service=service, **kw))
    assert main(["serve", "--corpus", str(SEEDS), "--index", str(tmp_path / "ix"), "--max-chars", "12345"]) == 0
    assert served["service"]["default"].limits.max_chars == 12345 and served["port"] == 7860


def test_serve_and_ask_take_the_reader_runtime(tmp_path, monkeypatch, capsys):
    """`--reader-runtime torchscript-unpadded` runs that reader (not only accepted); an unknown runtime is refused."""
    import pytest

    import docqa.ui.server as ui_server
    from docqa.ui.cli import main

    served = {}
    monkeypatch.setattr(ui_server, "launch", lambda service, **kw: served.update(service=service, **kw))
    ix = str(tmp_path / "ix")
    assert main(["serve", "--corpus", str(SEEDS), "--index", ix, "--reader-runtime", "torchscript-unpadded"]) == 0
    reader = served["service"]["default"].span_reader
    assert reader.runtime == "torchscript-unpadded" and reader._traced is not None
    assert (
        served["service"]["default"].settings.span.runtime == "torchscript-unpadded"
    )  # what --workers N processes are started with
    question = "Where will the drill be held?"
    assert (
        main(
            [
                "ask",
                "--corpus",
                str(SEEDS),
                "--index",
                ix,
                "--reader-runtime",
                "torchscript-unpadded",
                "--json",
                question,
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["found"] and out["answer"] and out["citations"]
    with pytest.raises(SystemExit):
        main(["ask", "--corpus", str(SEEDS), "--index", ix, "--reader-runtime", "fp16", question])


def test_token_create_list_revoke_from_the_command_line(tmp_path, capsys):
    """`docqa token create` prints the token once; list never shows a secret; revoke takes it away; all audited."""
    from docqa.ui.cli import main
    from docqa.ui.tokens import TokenStore

    where = ["--corpus", str(SEEDS), "--index", str(tmp_path / "ix")]
    assert main(["token", "create", "--role", "reader", "--collection", "hr", "--name", "alice", *where]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("dq_") and "alice" in out.err and "shown only now" in out.err
    store = TokenStore(tmp_path / "ix" / "tokens.json")
    assert store.verify(token).collections == ("hr",)
    assert main(["token", "list", "--json", *where]) == 0
    listed = capsys.readouterr().out
    assert '"alice"' in listed and token.rsplit("_", 1)[1] not in listed
    assert main(["token", "revoke", "alice", *where]) == 0
    assert store.verify(token) is None
    assert main(["token", "revoke", "alice", *where]) == 2 and "no token" in capsys.readouterr().err
    audit = (tmp_path / "ix" / "audit.jsonl").read_text()
    assert '"token create"' in audit and '"token revoke"' in audit and token not in audit


def test_serve_on_a_public_address_without_tokens_refuses_before_indexing(tmp_path, capsys):
    from docqa.ui.cli import main

    ix = tmp_path / "ix"
    assert main(["serve", "--corpus", str(SEEDS), "--index", str(ix), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve 0.0.0.0 without tokens" in err and "docqa token create --role admin" in err
    assert not ix.exists()  # refused before minutes of indexing


def test_serve_takes_named_collections(tmp_path, monkeypatch):
    import docqa.ui.server as ui_server
    from docqa.ui.cli import main

    served = {}
    monkeypatch.setattr(ui_server, "launch", lambda service, **kw: served.update(service=service, **kw))
    eng = tmp_path / "eng"
    eng.mkdir()
    (eng / "note.txt").write_text("The build server answers on port 8443.")
    monkeypatch.setenv("DOCQA_INDEX_HOME", str(tmp_path / "home"))
    args = ["serve", "--collection", f"hr={SEEDS}", "--collection", f"eng={eng}", "--trusted-proxy", "10.0.0.0/8"]
    assert main(args) == 0
    assert list(served["service"]) == ["hr", "eng"] and served["trusted_proxies"] == ["10.0.0.0/8"]
    assert [d.doc_id for d in served["service"]["eng"].documents()] == ["note.txt"]
    assert main(["serve", "--collection", "bad"]) == 2


def test_a_collections_file_names_folders_for_every_command(tmp_path, monkeypatch, capsys):
    import docqa.ui.server as ui_server
    from docqa.ui.cli import build_parser, main, tokens_path

    eng = tmp_path / "eng docs"
    eng.mkdir()
    (eng / "note.txt").write_text("The build server answers on port 8443.")
    conf = tmp_path / "collections.toml"
    conf.write_text(f'[collections]\nhr = "{SEEDS}"\neng = "{eng}"\n')
    monkeypatch.setenv("DOCQA_INDEX_HOME", str(tmp_path / "home"))
    assert main(["list", "--collections", str(conf), "--collection", "eng", "--json"]) == 0
    assert [d["doc_id"] for d in json.loads(capsys.readouterr().out)] == ["note.txt"]
    assert main(["ask", "--collections", str(conf), "--collection", "legal", "x"]) == 2
    assert "no collection 'legal'" in capsys.readouterr().err
    served = {}
    monkeypatch.setattr(ui_server, "launch", lambda service, **kw: served.update(service=service, **kw))
    assert main(["serve", "--collections", str(conf)]) == 0  # every collection of the file, the first the default
    assert list(served["service"]) == ["hr", "eng"]
    assert main(["serve", "--collections", str(conf), "--collection", "eng"]) == 0
    assert list(served["service"]) == ["eng"]
    # `token` finds the token file `serve` reads
    serve_args = build_parser().parse_args(["serve", "--collections", str(conf)])
    token_args = build_parser().parse_args(["token", "list", "--collections", str(conf)])
    for a in (serve_args, token_args):
        a.corpus_given = False
    assert tokens_path(serve_args) == tokens_path(token_args)


def test_int8_vectors_are_chosen_once_and_kept(tmp_path, capsys):
    """`docqa index --vectors int8` builds quantized vectors; later commands without the flag open that index as
    it is (no rebuild), and answer the same as over fp32 vectors."""
    from docqa.index.faiss_store import current_version

    ix = tmp_path / "ix"
    r = _run(capsys, "index", str(SEEDS), "--index", str(ix), "--vectors", "int8", "--quiet")
    assert r.returncode == 0, r.stderr
    built = current_version(ix)
    assert json.loads((ix / built / "manifest.json").read_text())["settings"]["vectors"] == "int8"
    r = _run(capsys, "ask", "When will the drill be held?", "--corpus", str(SEEDS), "--index", str(ix), "--json")
    assert r.returncode == 0, r.stderr
    assert current_version(ix) == built  # opened, not rebuilt
    fp32 = _run(
        capsys, "ask", "When will the drill be held?", "--corpus", str(SEEDS), "--index", str(tmp_path / "f"), "--json"
    )
    assert json.loads(r.stdout)["answer"] == json.loads(fp32.stdout)["answer"]
