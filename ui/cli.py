"""The ``docqa`` command: the question-answering commands of ``qa.cli`` plus ``docqa serve``."""

from __future__ import annotations

import argparse
import sys

from qa.cli import build_parser, corpus_options, limit_options, reader_options, run, service_from_args


def _cmd_serve(args: argparse.Namespace) -> int:
    from ui.server import launch

    launch(service_from_args(args, progress=True), host=args.host, port=args.port, workers=args.workers)
    return 0


def add_serve(sub) -> None:
    """Add ``docqa serve`` to the question-answering commands."""
    p = sub.add_parser("serve", help="start the chat (Gradio) and the REST API")
    corpus_options(p)
    limit_options(p)  # uploads and folder updates are read with these limits
    reader_options(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--workers", type=int, default=1, help="processes answering questions (one shared index)")
    p.set_defaults(func=_cmd_serve)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(add_serve).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
