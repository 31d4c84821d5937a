"""The collections one server serves: each a QA service over its own folder, index, uploads and indexing queue.

One collection is the default (requests that name none address it), so a server started on one corpus works as
before. Each collection has its own background indexing thread: updating one never blocks answering, or updating,
in another. Uploads and deletions go through ``Collection.upload``/``delete`` from the chat and the REST API
alike; both are audited with the token's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from docqa.qa.errors import BusyError, NotAllowedError, SettingsError, UnknownCollectionError
from docqa.qa.pipeline import QA
from docqa.qa.types import Answer
from docqa.ui.audit import AUDIT_FILE, AuditLog
from docqa.ui.jobs import IndexJobs, Job
from docqa.ui.tokens import NAME, Action, Principal

DEFAULT = "default"


@dataclass
class Collection:
    """One named corpus on the server, with its indexing queue, answer function and audit log."""

    name: str
    service: QA
    jobs: IndexJobs
    answer: Callable[..., Answer]
    audit: AuditLog | None = None
    pool: object | None = field(default=None, repr=False)

    def store(self, who: Principal, name: str, data: bytes) -> str:
        """Store an upload (queue room, quota, type and limits checked before anything is written); audited."""
        self.jobs.check_room()
        doc_id = self.service.store_upload(name, data)
        if self.audit:
            self.audit.add(who.name, who.token_id, "upload", collection=self.name, doc_id=doc_id, bytes=len(data))
        return doc_id

    def index(self, stored: list[str]) -> Job:
        """Queue the indexing of stored uploads; when the queue is full they are deleted again (429, nothing kept)."""
        try:
            return self.jobs.submit(f"add {', '.join(stored)}", lambda report: self.service.sync(report=report))
        except BusyError:
            for doc_id in stored:
                self.service.require_library().remove(doc_id)
            raise

    def upload(self, who: Principal, name: str, data: bytes) -> tuple[str, Job]:
        """Store one upload and queue its indexing."""
        doc_id = self.store(who, name, data)
        return doc_id, self.index([doc_id])

    def delete(self, who: Principal, doc_id: str) -> Job:
        """Take a document out and queue the re-index (the answers keep coming from the current index)."""
        self.jobs.check_room()
        self.service.unstage_document(doc_id)
        job = self.jobs.submit(f"remove {doc_id}", lambda report: self.service.sync(report=report))
        if self.audit:
            self.audit.add(who.name, who.token_id, "delete", collection=self.name, doc_id=doc_id)
        return job


class Collections:
    """The server's collections by name, and who may reach which."""

    def __init__(
        self,
        services: QA | Mapping[str, QA],
        max_pending_jobs: int = 8,
        answer_fns: Mapping[str, Callable[..., Answer]] | None = None,
    ) -> None:
        services = {DEFAULT: services} if isinstance(services, QA) else dict(services)
        if not services:
            raise SettingsError("a server needs at least one collection")
        for name in services:
            if not NAME.match(name):
                raise SettingsError(f"collection name {name!r}: use 1-64 letters, digits or . _ @ + -")
        self.default = next(iter(services))
        self._items: dict[str, Collection] = {}
        for name, service in services.items():
            lib = service.library
            show = lib.relative if lib is not None else (lambda p: Path(p).name)
            audit = AuditLog(lib.state_dir / AUDIT_FILE) if lib is not None else None
            answer = (answer_fns or {}).get(name, service.answer)
            self._items[name] = Collection(name, service, IndexJobs(max_pending_jobs, show_path=show), answer, audit)

    def __iter__(self):
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def names(self, who: Principal) -> list[str]:
        """The collections ``who`` may see, the default first."""
        return [n for n in self._items if who.sees(n)]

    def get(self, name: str | None, who: Principal, action: Action = "read") -> Collection:
        """The collection ``name`` (default: the server's default) for ``who`` doing ``action``.

        Unknown and not-visible collections raise the same UnknownCollectionError (404); a role that may not do
        ``action`` raises NotAllowedError (403).
        """
        name = name or (self.default if who.sees(self.default) else next(iter(self.names(who)), self.default))
        coll = self._items.get(name)
        if coll is None or not who.sees(name):
            raise UnknownCollectionError(name)
        if not who.may(action):
            raise NotAllowedError(f"a {who.role} token may not {'upload or delete' if action == 'edit' else action}")
        return coll

    def job(self, job_id: str, who: Principal) -> Job | None:
        """A job of a collection ``who`` sees (None otherwise: someone else's job reads as unknown)."""
        for name in self.names(who):
            job = self._items[name].jobs.get(job_id)
            if job is not None:
                return job
        return None
