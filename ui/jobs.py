"""Background indexing: a bounded queue of jobs run one at a time by a worker thread, with progress.

Uploads and removals from the chat or the REST API become jobs, so a request returns at once and the service
keeps answering from the current index until the update is swapped in. The queue is bounded: when it is full,
``submit`` raises ``BusyError`` (HTTP 429 with Retry-After).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from docqa.index.types import BuildStats
from docqa.qa.errors import BusyError, QAError

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed"]
_IDS = itertools.count(1)  # one sequence per process: job ids are unique across collections
Work = Callable[[Callable[[str, float], None]], BuildStats]


@dataclass
class Job:
    """One indexing job and how far it got."""

    job_id: str
    description: str
    state: JobState = "queued"
    stage: str = "queued"
    progress: float = 0.0
    detail: str = ""  # counts and rate of the stage ("320/1,200 passages, 85/s")
    error: str | None = None
    stats: BuildStats | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    show_path: Callable[[str], str] = field(default=lambda p: p, repr=False)
    done_event: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_json(self) -> dict[str, Any]:
        st = self.stats
        return {
            "job_id": self.job_id,
            "description": self.description,
            "state": self.state,
            "stage": self.stage,
            "progress": round(self.progress, 3),
            "detail": self.detail,
            "error": self.error,
            "documents": st.documents if st else None,
            "passages": st.passages if st else None,
            "added": st.added if st else [],
            "removed": st.removed if st else [],
            "skipped": [{"path": self.show_path(p), "reason": why} for p, why in st.skipped] if st else [],
        }

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (True) or ``timeout`` passed (False)."""
        return self.done_event.wait(timeout)


class IndexJobs:
    """Runs indexing work one job at a time; at most ``max_pending`` jobs wait."""

    def __init__(self, max_pending: int = 8, keep: int = 100, show_path: Callable[[str], str] | None = None) -> None:
        """``show_path`` turns a skipped file's path into what clients may see (default: unchanged)."""
        self.max_pending = max_pending
        self.show_path = show_path or (lambda p: p)
        self._queue: queue.Queue[tuple[Job, Work]] = queue.Queue(maxsize=max_pending)
        self._jobs: dict[str, Job] = {}
        self._keep = keep
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="docqa-indexer", daemon=True)
        self._thread.start()

    def check_room(self) -> None:
        """BusyError when no job can be queued now (checked before storing an upload, so a refused upload leaves
        nothing behind)."""
        if self._queue.full():
            raise self._full()

    def _full(self) -> BusyError:
        return BusyError(
            f"the indexing queue is full ({self.max_pending} jobs waiting); try again shortly", retry_after=10.0
        )

    def submit(self, description: str, work: Work) -> Job:
        """Queue ``work(report)``; BusyError when the queue is full."""
        with self._lock:
            job = Job(f"job-{next(_IDS)}", description, show_path=self.show_path)
            try:
                self._queue.put_nowait((job, work))
            except queue.Full:
                raise self._full() from None
            self._jobs[job.job_id] = job
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state in ("queued", "running"):
                    break
                del self._jobs[oldest]
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            job, work = self._queue.get()
            job.state = "running"

            def report(stage: str, fraction: float, detail: str = "", job: Job = job) -> None:
                job.stage, job.progress, job.detail = stage, max(0.0, min(1.0, fraction)), detail

            try:
                job.stats = work(report)
                job.state, job.stage, job.progress, job.detail = "done", "done", 1.0, ""
            except QAError as exc:
                job.state, job.error = "failed", str(exc)
            except Exception as exc:  # noqa: BLE001 - a failed job is reported, the worker keeps running
                log.exception("indexing job %s failed", job.job_id)
                job.state, job.error = "failed", f"internal error ({type(exc).__name__})"
            finally:
                job.finished = time.time()
                job.done_event.set()
                self._queue.task_done()
