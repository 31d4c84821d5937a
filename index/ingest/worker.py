"""Extraction of risky formats (PDF, DOCX, HTML) in a child process that is killed when it runs too long.

A pathological file can make a parser spin or allocate without bound; a thread cannot be stopped, a process
can. Children come from a fork server (no copy of the parent's model weights) with an address-space cap.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
from pathlib import Path

from index.errors import IngestError
from index.ingest.formats import Extracted, extract
from index.ingest.limits import IngestLimits

WORKER_MEMORY_BYTES = 4 * 1024**3
_ctx = None


def _context():
    global _ctx
    if _ctx is None:
        _ctx = mp.get_context("forkserver")
        _ctx.set_forkserver_preload(["index.ingest.formats"])
    return _ctx


def _child(conn, path: str, limits: IngestLimits) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ValueError, OSError):
        pass
    try:
        raw = Path(path).read_bytes()
        conn.send(("ok", extract(raw, Path(path), limits)))
    except IngestError as exc:
        conn.send(("error", str(exc)))
    except MemoryError:
        conn.send(("error", f"{path}: reading it needs more than {WORKER_MEMORY_BYTES // 1024**3} GiB of memory"))
    except Exception as exc:  # noqa: BLE001 - any parser failure is a skipped file, not a crash
        conn.send(("error", f"{path}: unreadable ({type(exc).__name__}: {exc})"))
    finally:
        conn.close()


def extract_isolated(path: Path, limits: IngestLimits) -> Extracted:
    """``extract`` in a child process; IngestError when it fails, dies or exceeds ``limits.timeout_s``."""
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, str(path), limits), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(limits.timeout_s):
            proc.kill()
            raise IngestError(
                f"{path}: reading took longer than the limit of {limits.timeout_s:g} s; raise "
                "IngestLimits.timeout_s (or `docqa index --timeout-s N`) to read it"
            )
        try:
            status, payload = parent.recv()
        except (EOFError, OSError):
            raise IngestError(f"{path}: the reader process died (exit code {proc.exitcode})") from None
    finally:
        parent.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status == "error":
        raise IngestError(payload)
    return payload
