"""The ``docqa`` command: a thin layer over the Python API ``docqa.qa.QA``.

docqa index [FOLDER] [--rebuild]         build or update an index
docqa ask "question" [--doc ID] [--json] answer (questions also one per line on stdin)
docqa add FILE...  /  docqa remove ID  /  docqa list
docqa eval FILE.jsonl                    your labelled questions: EM/F1, cited documents, abstention
docqa verify FILE.jsonl                  re-check saved answers against the current documents
docqa serve                              the chat and the REST API
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


def corpus_options(p: argparse.ArgumentParser) -> None:
    """--corpus, --index, --backend and --milvus-uri, shared by every command that opens an index."""
    p.add_argument("--corpus", default=str(SEEDS_DIR), help="folder or file of documents (default: seeds/)")
    p.add_argument("--index", default=None, help="index folder (default: in ~/.cache/docqa/indexes)")
    p.add_argument("--backend", choices=["faiss", "milvus"], default="faiss", help="index backend (default faiss)")
    p.add_argument("--milvus-uri", default=None, help="Milvus URI (default: a Milvus Lite file in the index folder)")
    encoder_option(p)


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
        help="span reader runtime for every read (default: the one shipped in reader.json, "
        "torchscript-unpadded-int8, within 0.1 F1 of fp32; torchscript-unpadded is fp32, ~1.4x slower)",
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


def service_from_args(args: argparse.Namespace, progress: bool = False):
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
    )


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


def _cmd_list(args: argparse.Namespace) -> int:
    docs = service_from_args(args).documents()
    if args.json:
        print(json.dumps([d.__dict__ for d in docs], indent=1))
        return 0
    print(f"{'id':40} {'type':5} {'pages':>5} {'passages':>8} {'bytes':>10}  title")
    for d in docs:
        print(f"{d.doc_id[:40]:40} {d.kind:5} {d.pages or '':>5} {d.passages:>8} {d.size:>10}  {d.title[:60]}")
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


def _cmd_serve(args: argparse.Namespace) -> int:
    from docqa.ui.server import launch

    launch(service_from_args(args, progress=True), host=args.host, port=args.port, workers=args.workers)
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

    p = sub.add_parser("list", help="list the indexed documents")
    corpus_options(p)
    p.add_argument("--json", action="store_true")
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
    corpus_options(p)
    limit_options(p)  # uploads and folder updates are read with these limits
    reader_options(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--workers", type=int, default=1, help="processes answering questions (one shared index)")
    p.set_defaults(func=_cmd_serve)
    return ap


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; documented errors become a message and exit code 2."""
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
