"""Extraction of risky formats (all but plain text and CSV) in a child process killed when it runs too long.

A pathological file can make a parser spin or allocate without bound; a thread cannot be stopped, a process
can. The child is a plain ``python -m docqa.index.ingest.worker`` (not a fork of the caller, which holds models and
threads, and not multiprocessing, which would re-run the caller's main script), kept for the next file, and
capped in address space. Requests and replies are length-prefixed pickles over its stdin/stdout.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from docqa.index.errors import IngestError, UnsupportedFileError
from docqa.index.ingest.base import set_ocr_page_hook
from docqa.index.ingest.formats import Extracted, extract
from docqa.index.ingest.limits import IngestLimits

WORKER_MEMORY_BYTES = 4 * 1024**3
_HEADER = struct.Struct("!Q")


def _send(fh, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_HEADER.pack(len(data)) + data)
    fh.flush()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


class ExtractorProcess:
    """One long-lived extraction child; restarted after a timeout or a crash."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__ if __name__ != "__main__" else "docqa.index.ingest.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._proc

    @property
    def pid(self) -> int | None:
        """Process id of the running child, or None."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def extract(self, path: Path, limits: IngestLimits) -> Extracted:
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, (str(Path(path).expanduser().resolve()), limits))  # the child's cwd may differ
                deadline = time.monotonic() + limits.timeout_s
                while True:
                    (size,) = _HEADER.unpack(_read_exact(proc.stdout.fileno(), _HEADER.size, deadline))
                    status, payload = pickle.loads(_read_exact(proc.stdout.fileno(), size, None))
                    if status != "ocr-page":
                        break
                    deadline += limits.ocr_page_timeout_s  # each scanned page brings its own time
            except TimeoutError:
                self.kill()
                raise IngestError(
                    f"{path}: reading took longer than the limit of {limits.timeout_s:g} s; raise "
                    "IngestLimits.timeout_s (or `docqa index --timeout-s N`) to read it"
                ) from None
            except (EOFError, OSError, pickle.UnpicklingError):
                code = proc.poll()
                self.kill()
                raise IngestError(f"{path}: the reader process died (exit code {code})") from None
        if status == "error":
            kind, message = payload
            raise (UnsupportedFileError if kind == "unsupported" else IngestError)(message)
        return payload


_process = ExtractorProcess()


def worker_pid() -> int | None:
    """Process id of the extraction child, if one is running."""
    return _process.pid


def extract_isolated(path: Path, limits: IngestLimits) -> Extracted:
    """``extract`` in the child process; IngestError when it fails, dies or exceeds ``limits.timeout_s``."""
    return _process.extract(path, limits)


def _serve() -> None:
    """The child: read requests from stdin until it closes, answer on stdout."""
    try:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ValueError, OSError):
        pass
    fin, fout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints of a parser must not corrupt the protocol
    set_ocr_page_hook(lambda: _send(fout, ("ocr-page", None)))
    while True:
        head = fin.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(head)
        path, limits = pickle.loads(fin.read(size))
        try:
            reply = ("ok", extract(Path(path).read_bytes(), Path(path), limits))
        except IngestError as exc:
            reply = ("error", ("unsupported" if isinstance(exc, UnsupportedFileError) else "ingest", str(exc)))
        except MemoryError:
            reply = (
                "error",
                ("ingest", f"{path}: reading it needs more than {WORKER_MEMORY_BYTES // 1024**3} GiB of memory"),
            )
        except Exception as exc:  # noqa: BLE001 - any parser failure is a skipped file, not a crash
            reply = ("error", ("ingest", f"{path}: unreadable ({type(exc).__name__}: {exc})"))
        _send(fout, reply)


if __name__ == "__main__":
    _serve()
