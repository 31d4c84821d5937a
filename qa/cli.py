"""Command line of the question-answering layer: ``docqa index``, ``docqa ask`` (thin layers over the Python API).

The ``docqa`` entry point is ``ui.cli``, which adds ``docqa serve`` (the chat and REST API) on top of these.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.settings import SEEDS_DIR


def _cmd_index(args: argparse.Namespace) -> int:
    from index.backend import default_index_dir
    from index.sync import open_index

    index_dir = Path(args.index) if args.index else default_index_dir(args.corpus)
    _, stats = open_index(args.corpus, index_dir, rebuild=args.rebuild, progress=not args.quiet)
    for path, why in stats.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(
        f"indexed {stats.documents} document(s), {stats.passages} passages "
        f"({stats.embedded} passages embedded, {stats.reused} reused) in {stats.seconds:.1f}s -> {index_dir}"
    )
    return 0


def _format_answer(ans) -> str:
    lines = [f"Q: {ans.question}", f"A: {ans.text}", f"   confidence {ans.confidence:.2f} ({ans.method} reader)"]
    for c in ans.citations:
        lines.append(f"   source: {c.doc_id} [{c.start}:{c.end}] passage {c.passage_id}")
        sent = ans.sentence or ""
        lines.append(f"   sentence: {sent}")
    if not ans.found and ans.hits:
        lines.append("   closest passages:")
        for h in ans.hits[:3]:
            lines.append(f"     {h.rank}. {h.passage.passage_id} fused={h.fused:.4f} {h.passage.text[:90]!r}")
    return "\n".join(lines)


def _cmd_ask(args: argparse.Namespace) -> int:
    from qa.pipeline import QA

    service = QA.from_corpus(args.corpus, args.index)
    questions = args.question or [ln for ln in sys.stdin.read().splitlines() if ln.strip()]
    rc = 0
    for q in questions:
        try:
            ans = service.answer(q, k=args.k)
        except QAError as exc:
            rc = 2
            if args.json:
                print(json.dumps({"question": q, "error": str(exc)}))
            else:
                print(f"error: {exc}", file=sys.stderr)
            continue
        print(json.dumps(ans.to_json(), ensure_ascii=False) if args.json else _format_answer(ans))
    return rc


def corpus_options(p: argparse.ArgumentParser) -> None:
    """--corpus and --index, shared by every command that opens an index."""
    p.add_argument("--corpus", default=str(SEEDS_DIR), help="folder or file of documents (default: seeds/)")
    p.add_argument("--index", default=None, help="index folder (default: in ~/.cache/docqa/indexes)")


def build_parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The ``docqa`` parser; ``extend(subparsers)`` lets an upper layer (``ui.cli``) add its commands."""
    ap = argparse.ArgumentParser(prog="docqa", description="Extractive, cited answers from your documents.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress and warnings")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("index", help="build or update the index of a folder")
    p.add_argument("corpus", nargs="?", default=str(SEEDS_DIR))
    p.add_argument("--index", default=None)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything, ignoring the previous index")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("ask", help="answer questions (arguments, or one per line on stdin)")
    p.add_argument("question", nargs="*")
    corpus_options(p)
    p.add_argument("-k", type=int, default=5, help="passages to retrieve")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_ask)

    if extend is not None:
        extend(sub)
    return ap


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; documented errors become a message and exit code 2."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        import os

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
    """``python -m qa.cli``: the commands that need no UI."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
