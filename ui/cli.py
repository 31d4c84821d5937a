"""The ``docqa`` command: a thin layer over the Python API ``docqa.qa.QA``.

docqa index [FOLDER] [--rebuild]         build or update an index
docqa ask "question" [--doc ID] [--json] answer (questions also one per line on stdin)
docqa add FILE...  /  docqa remove ID  /  docqa list
docqa eval FILE.jsonl                    your labelled questions: EM/F1, cited documents, abstention
docqa verify FILE.jsonl                  re-check saved answers against the current documents
docqa serve [--collection NAME=FOLDER]   the chat and the REST API (one or several collections)
docqa token create|list|revoke           API tokens with roles (the server then requires one)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings

from docqa.index.ingest import IngestLimits
from docqa.qa.errors import QAError
from docqa.qa.settings import SEEDS_DIR

COLLECTIONS_FILE = "~/.config/docqa/collections.toml"


def corpus_options(p: argparse.ArgumentParser, collection: bool = True) -> None:
    """--corpus (or --collection NAME of a collections file), --index, --backend and --milvus-uri, shared by every
    command that opens an index."""
    p.add_argument("--corpus", default=None, help="folder or file of documents (default: seeds/)")
    if collection:
        p.add_argument("--collection", default=None, help="a collection of the collections file, instead of --corpus")
    p.add_argument(
        "--collections",
        default=None,
        metavar="FILE",
        help=f'collections file: [collections] NAME = "FOLDER" lines (default: {COLLECTIONS_FILE} when it exists)',
    )
    p.add_argument("--index", default=None, help="index folder (default: in ~/.cache/docqa/indexes)")
    p.add_argument("--backend", choices=["faiss", "milvus"], default="faiss", help="index backend (default faiss)")
    p.add_argument("--milvus-uri", default=None, help="Milvus URI (default: a Milvus Lite file in the index folder)")
    vectors_option(p)
    encoder_option(p)


def vectors_option(p: argparse.ArgumentParser) -> None:
    """--vectors: how the FAISS index holds vectors."""
    p.add_argument(
        "--vectors",
        choices=["fp32", "int8"],
        default=None,
        help="how the FAISS index holds vectors: fp32, or int8 codes re-scored exactly from fp32 on disk (a "
        "quarter of the memory; docs/scale.md). Default: as the index was built (fp32 for a new one)",
    )


def encoder_option(p: argparse.ArgumentParser) -> None:
    """--encoder: the precision passages are embedded in."""
    p.add_argument(
        "--encoder",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="precision of the passage encoder (default auto: bf16 where the CPU has AVX512-BF16 or AMX and a "
        "probe keeps the vectors, else fp32)",
    )


def reader_options(p: argparse.ArgumentParser) -> None:
    """--reader-runtime, for the commands that answer questions."""
    from typing import get_args

    from docqa.qa.readers.span import Runtime

    p.add_argument(
        "--reader-runtime",
        choices=get_args(Runtime),
        default=None,
        help="span reader runtime for every read (default: the one shipped in reader.json, auto: "
        "torchscript-unpadded-bf16 on a CPU with bf16 instructions, else torchscript-unpadded-int8; both within "
        "0.1 F1 of fp32; torchscript-unpadded is the exact fp32 graph, slower)",
    )


def limit_options(p: argparse.ArgumentParser) -> None:
    """The ingestion limits (IngestLimits), each raisable from the command line."""
    d = IngestLimits()
    p.add_argument("--max-file-bytes", type=int, default=d.max_file_bytes)
    p.add_argument("--max-chars", type=int, default=d.max_chars, help="characters of text per document")
    p.add_argument("--max-pdf-pages", type=int, default=d.max_pdf_pages)
    p.add_argument("--max-docx-xml-bytes", type=int, default=d.max_docx_xml_bytes)
    p.add_argument("--max-compression-ratio", type=float, default=d.max_compression_ratio)
    p.add_argument("--timeout-s", type=float, default=d.timeout_s, help="seconds to read one file (OCR aside)")
    p.add_argument("--max-ocr-pages", type=int, default=d.max_ocr_pages, help="scanned pages OCRed per PDF")
    p.add_argument("--ocr-page-timeout-s", type=float, default=d.ocr_page_timeout_s, help="seconds to OCR one page")
    p.add_argument("--max-image-pixels", type=int, default=d.max_image_pixels)
    p.add_argument("--ocr-engine", choices=["auto", "rapidocr", "tesseract"], default=d.ocr_engine)


def _limits(args: argparse.Namespace) -> IngestLimits:
    return IngestLimits(
        max_file_bytes=args.max_file_bytes,
        max_chars=args.max_chars,
        max_pdf_pages=args.max_pdf_pages,
        max_docx_xml_bytes=args.max_docx_xml_bytes,
        max_compression_ratio=args.max_compression_ratio,
        timeout_s=args.timeout_s,
        max_ocr_pages=args.max_ocr_pages,
        ocr_page_timeout_s=args.ocr_page_timeout_s,
        max_image_pixels=args.max_image_pixels,
        ocr_engine=args.ocr_engine,
    )


def service_from_args(args: argparse.Namespace, progress: bool = False, quota=None):
    """The QA service of ``--corpus``/``--index``/``--backend`` with the ingestion limits of the flags."""
    from docqa.qa.pipeline import QA

    limits = _limits(args) if hasattr(args, "max_chars") else None
    settings = None
    if getattr(args, "reader_runtime", None):
        from docqa.qa.readers.span import SpanReaderSettings
        from docqa.qa.settings import QASettings

        settings = QASettings(span=SpanReaderSettings(runtime=args.reader_runtime))
    return QA.from_corpus(
        args.corpus,
        args.index,
        settings=settings,
        backend=args.backend,
        milvus_uri=args.milvus_uri,
        progress=progress,
        limits=limits,
        encoder_precision=args.encoder,
        quota=quota,
        index_settings=_index_settings(args),
    )


def _index_settings(args: argparse.Namespace):
    """IndexSettings from --vectors, or None (the index's own, default for a new one)."""
    if getattr(args, "vectors", None) is None:
        return None
    from docqa.index.backend import IndexSettings

    return IndexSettings(vectors=args.vectors)


def _cmd_index(args: argparse.Namespace) -> int:
    from docqa.qa.pipeline import QA

    index_dir, stats = QA.build_index(
        args.corpus,
        args.index,
        rebuild=args.rebuild,
        progress=not args.quiet,
        backend=args.backend,
        milvus_uri=args.milvus_uri,
        limits=_limits(args),
        encoder_precision=args.encoder,
        index_settings=_index_settings(args),
    )
    for path, why in stats.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(
        f"indexed {stats.documents} document(s), {stats.passages} passages "
        f"({stats.embedded} passages embedded, {stats.reused} reused) in {stats.seconds:.1f}s -> {index_dir}"
    )
    print(f"encoder: {stats.encoder}")
    return 0


def format_answer(ans) -> str:
    """An answer as plain text for the terminal."""
    lines = [f"Q: {ans.question}", f"A: {ans.text}", f"   confidence {ans.confidence:.2f} ({ans.method})"]
    for c in ans.citations:
        where = f", p. {c.page}" if c.page is not None else (f", § {c.heading}" if c.heading else "")
        title = f"“{c.title}” " if c.title and c.title != c.doc_name else ""
        lines.append(f"   source: {title}{c.doc_id}{where} [{c.start}:{c.end}] passage {c.passage_id}")
        lines.append(f"   sentence: {ans.sentence or ''}")
    for i, alt in enumerate(ans.alternatives, start=2):
        c = alt.citations[0]
        lines.append(f"   answer {i}: {alt.text} ({c.doc_id} [{c.start}:{c.end}], confidence {alt.confidence:.2f})")
    if not ans.found and ans.hits:
        lines.append("   closest passages:")
        for h in ans.hits[:3]:
            lines.append(f"     {h.rank}. {h.passage.passage_id} fused={h.fused:.4f} {h.passage.text[:90]!r}")
    return "\n".join(lines)


def _cmd_ask(args: argparse.Namespace) -> int:
    service = service_from_args(args)
    questions = args.question or [ln for ln in sys.stdin.read().splitlines() if ln.strip()]
    rc = 0
    for q in questions:
        try:
            ans = service.answer(q, k=args.k, doc_ids=args.doc or None)
        except QAError as exc:
            rc = 2
            if args.json:
                print(json.dumps({"question": q, "error": str(exc)}))
            else:
                print(f"error: {exc}", file=sys.stderr)
            continue
        print(json.dumps(ans.to_json(), ensure_ascii=False) if args.json else format_answer(ans))
    return rc


def _cmd_add(args: argparse.Namespace) -> int:
    service = service_from_args(args)
    ids, stats = service.add_files(args.files)
    for path, why in stats.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(f"added {', '.join(ids)}; {stats.documents} document(s), {stats.passages} passages in the index")
    return 0 if not stats.skipped else 1


def _cmd_remove(args: argparse.Namespace) -> int:
    service = service_from_args(args)
    for doc_id in args.doc_ids:
        stats = service.remove_document(doc_id)
        print(f"removed {doc_id}; {stats.documents} document(s), {stats.passages} passages in the index")
    return 0


def _non_negative(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {n}")
    return n


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {n}")
    return n


def _cmd_list(args: argparse.Namespace) -> int:
    service = service_from_args(args)
    docs = service.documents(args.offset, args.limit)
    if args.json:
        print(json.dumps([d.__dict__ for d in docs], indent=1))
        return 0
    print(f"{'id':40} {'type':5} {'pages':>5} {'passages':>8} {'bytes':>10}  title")
    for d in docs:
        print(f"{d.doc_id[:40]:40} {d.kind:5} {d.pages or '':>5} {d.passages:>8} {d.size:>10}  {d.title[:60]}")
    total = service.document_count()
    if args.offset or len(docs) < total:
        print(f"documents {args.offset + 1 if docs else args.offset}-{args.offset + len(docs)} of {total}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from docqa.qa.evaluate import evaluate, read_jsonl

    rep = evaluate(service_from_args(args), read_jsonl(args.file))
    for row in rep.rows if args.verbose_rows else []:
        print(json.dumps(row, ensure_ascii=False))
    for e in rep.errors:
        print(f"error: {e}", file=sys.stderr)
    print(json.dumps(rep.summary(), indent=1))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from docqa.qa.evaluate import read_jsonl, verify

    problems = verify(service_from_args(args).index, read_jsonl(args.file))
    for p in problems:
        print(json.dumps(p, ensure_ascii=False))
    print(f"{len(problems)} citation(s) no longer hold", file=sys.stderr)
    return 1 if problems else 0


def tokens_path(args: argparse.Namespace):
    """The token file: --tokens, else tokens.json in the default collection's index folder."""
    from pathlib import Path

    from docqa.index.backend import default_index_dir
    from docqa.ui.tokens import TOKENS_FILE

    if getattr(args, "tokens", None):
        return Path(args.tokens).expanduser()
    cols = _collection_folders(args)
    if args.index and (not cols or args.corpus_given):
        return Path(args.index).expanduser() / TOKENS_FILE
    first = cols[0][1] if cols else args.corpus
    return default_index_dir(Path(first).expanduser().absolute()) / TOKENS_FILE


def read_collections(args: argparse.Namespace) -> dict[str, str]:
    """NAME -> FOLDER of the collections file (``--collections``, else the default file when it exists)."""
    import tomllib
    from pathlib import Path

    given = getattr(args, "collections", None)
    path = Path(given or COLLECTIONS_FILE).expanduser()
    if not given and not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise QAError(f"{path}: cannot read the collections file ({exc})") from None
    table = data.get("collections")
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise QAError(f'{path}: write a [collections] table of NAME = "FOLDER" lines')
    return dict(table)


def _collection_folders(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The collections ``serve`` serves, in order: --collection NAME=FOLDER or NAME (of the collections file);
    without --collection, every collection of the file."""
    known = read_collections(args)
    items = getattr(args, "collection", None) or []
    if isinstance(items, str):
        items = [items]
    if not items:
        return list(known.items()) if not getattr(args, "corpus_given", False) else []
    out = []
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep:
            if name.strip() not in known:
                raise QAError(f"--collection {item!r}: write NAME=FOLDER, or name a collection of the collections file")
            folder = known[name.strip()]
        if not name.strip() or not folder.strip():
            raise QAError(f"--collection {item!r}: write NAME=FOLDER (for example hr=~/hr-docs)")
        out.append((name.strip(), folder.strip()))
    return out


def _cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from docqa.index.library import StorageQuota
    from docqa.ui.api import ServerLimits
    from docqa.ui.server import check_exposure, launch
    from docqa.ui.tokens import TokenStore

    tokens = TokenStore(tokens_path(args))
    check_exposure(args.host, tokens, args.allow_open)  # refuse before minutes of indexing, not after
    quota = StorageQuota(args.quota_bytes, args.quota_files)
    cols = _collection_folders(args)
    if not cols or args.corpus_given:
        cols.insert(0, ("default", args.corpus))
    services = {}
    for name, folder in cols:
        if name in services:
            raise QAError(f"collection {name!r} is given twice")
        ns = argparse.Namespace(**vars(args))
        ns.corpus = str(Path(folder).expanduser())
        if len(cols) > 1:
            ns.index = None  # each collection keeps its own index beside its folder's default place
        print(f"collection {name}: {ns.corpus}", file=sys.stderr, flush=True)
        services[name] = service_from_args(ns, progress=True, quota=quota)
    launch(
        services,
        host=args.host,
        port=args.port,
        workers=args.workers,
        tokens=tokens,
        allow_open=args.allow_open,
        trusted_proxies=args.trusted_proxy or (),
        limits=ServerLimits(max_upload_bytes=args.max_upload_bytes),
    )
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    from docqa.ui.audit import AUDIT_FILE, AuditLog
    from docqa.ui.tokens import TokenStore

    store = TokenStore(tokens_path(args))
    audit = AuditLog(store.path.parent / AUDIT_FILE)
    if args.action == "create":
        token, rec = store.create(args.role, args.collection_scope or None, args.name)
        audit.add("cli", rec["id"], "token create", name=rec["name"], role=rec["role"], collections=rec["collections"])
        print(token)
        print(
            f"token {rec['name']} (id {rec['id']}, role {rec['role']}, collections: {rec['collections']}) saved "
            f"in {store.path}; it is shown only now. Use it as: Authorization: Bearer <token>; in the chat, sign "
            f"in with the name {rec['name']} and the token as password.",
            file=sys.stderr,
        )
    elif args.action == "list":
        rows = [r.public() for r in store.records()]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print(f"{'id':14} {'name':24} {'role':7} {'created':20} collections")
            for r in rows:
                cols = r["collections"] if isinstance(r["collections"], str) else ",".join(r["collections"])
                print(f"{r['id']:14} {r['name'][:24]:24} {r['role']:7} {r['created']:20} {cols}")
    else:
        for which in args.which:
            rec = store.revoke(which)
            audit.add("cli", rec["id"], "token revoke", name=rec["name"])
            print(f"revoked {rec['name']} ({rec['id']})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``docqa`` parser."""
    ap = argparse.ArgumentParser(prog="docqa", description="Extractive, cited answers from your documents.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress and warnings")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("index", help="build or update the index of a folder")
    p.add_argument("corpus", nargs="?", default=str(SEEDS_DIR))
    p.add_argument("--index", default=None)
    p.add_argument("--backend", choices=["faiss", "milvus"], default="faiss")
    p.add_argument("--milvus-uri", default=None)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything, ignoring the previous index")
    vectors_option(p)
    encoder_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    limit_options(p)
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("ask", help="answer questions (arguments, or one per line on stdin)")
    p.add_argument("question", nargs="*")
    corpus_options(p)
    p.add_argument("-k", type=int, default=None, help="passages to retrieve (default 5)")
    p.add_argument("--doc", action="append", help="ask within this document id (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    reader_options(p)
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("add", help="add files to the index (copied in beside the index)")
    p.add_argument("files", nargs="+")
    corpus_options(p)
    limit_options(p)
    p.set_defaults(func=_cmd_add)

    p = sub.add_parser("remove", help="remove documents from the index (your own files stay on disk)")
    p.add_argument("doc_ids", nargs="+")
    corpus_options(p)
    p.set_defaults(func=_cmd_remove)

    p = sub.add_parser("list", help="list the indexed documents (in id order)")
    corpus_options(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--offset", type=_non_negative, default=0, help="skip this many documents")
    p.add_argument("--limit", type=_positive, default=None, help="list at most this many (default: all)")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("eval", help="score your labelled questions (JSONL: question, answer, optional document)")
    p.add_argument("file")
    corpus_options(p)
    p.add_argument("--rows", dest="verbose_rows", action="store_true", help="print every question's result")
    reader_options(p)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("verify", help="re-check saved answers (feedback log or ask --json output)")
    p.add_argument("file")
    corpus_options(p)
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("serve", help="start the chat (Gradio) and the REST API")
    corpus_options(p, collection=False)
    limit_options(p)  # uploads and folder updates are read with these limits
    reader_options(p)
    p.add_argument(
        "--collection",
        action="append",
        metavar="NAME=FOLDER",
        help="serve a named collection, NAME=FOLDER or a NAME of the collections file (repeatable; the first is "
        "the default; --corpus is added as 'default' when given too; none: every collection of the file)",
    )
    p.add_argument("--tokens", default=None, help="token file (default: tokens.json in the default index folder)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--allow-open", action="store_true", help="serve a non-loopback address without tokens (anyone may edit)"
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="reverse proxy address or network whose X-Forwarded-For / X-Client-Id are believed (repeatable)",
    )
    p.add_argument("--max-upload-bytes", type=int, default=50 * 1024 * 1024, help="one upload over HTTP")
    p.add_argument("--quota-bytes", type=int, default=None, help="bytes the uploads of one collection may hold")
    p.add_argument("--quota-files", type=int, default=None, help="uploaded files one collection may hold")
    p.add_argument("--workers", type=int, default=1, help="processes answering questions (one shared index)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("token", help="create, list or revoke API tokens (the server then requires one)")
    tsub = p.add_subparsers(dest="action", required=True)
    for action, help_ in [
        ("create", "print a new token once (stored as a salted hash)"),
        ("list", "the tokens (never the secrets)"),
        ("revoke", "revoke tokens by id or name (takes effect at once, even on a running server)"),
    ]:
        t = tsub.add_parser(action, help=help_)
        corpus_options(t, collection=False)
        t.add_argument("--tokens", default=None, help="token file (default: tokens.json in the index folder)")
        if action == "create":
            t.add_argument("--role", choices=["reader", "editor", "admin"], required=True)
            t.add_argument(
                "--collection",
                dest="collection_scope",
                action="append",
                metavar="NAME",
                help="limit the token to this collection (repeatable; default: all)",
            )
            t.add_argument("--name", default=None, help="a label (the chat's user name; default: role-id)")
        elif action == "list":
            t.add_argument("--json", action="store_true")
        else:
            t.add_argument("which", nargs="+", help="token id or name")
        t.set_defaults(func=_cmd_token)
    return ap


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; documented errors become a message and exit code 2."""
    try:
        if hasattr(args, "corpus") and args.cmd != "index":
            args.corpus_given = args.corpus is not None
            if args.cmd not in ("serve", "token") and getattr(args, "collection", None):
                if args.corpus_given:
                    raise QAError("give --corpus or --collection, not both")
                known = read_collections(args)
                if args.collection not in known:
                    where = args.collections or COLLECTIONS_FILE
                    raise QAError(f"no collection {args.collection!r} in {where} (known: {', '.join(known) or 'none'})")
                args.corpus = known[args.collection]
            args.corpus = args.corpus if args.corpus is not None else str(SEEDS_DIR)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        warnings.filterwarnings("ignore")
        for name in ("transformers", "sentence_transformers", "faiss", "httpx"):
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        return args.func(args)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """The ``docqa`` command (also ``python -m docqa.ui.cli``)."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
