"""Which HTTP status each documented error answers with: one table for the REST API (and anything else that
speaks HTTP). The first row whose type the error is an instance of wins, so subclasses come before their bases."""

from __future__ import annotations

from docqa.qa.errors import (
    BackendUnavailableError,
    BusyError,
    IndexError_,
    IngestError,
    NotAllowedError,
    NotAuthenticatedError,
    QAError,
    QuestionError,
    QuotaExceededError,
    ReaderError,
    SettingsError,
    UnknownCollectionError,
    UnknownDocumentError,
    UnsupportedFileError,
)

STATUS: tuple[tuple[type[QAError], int], ...] = (
    (BusyError, 429),  # with Retry-After
    (NotAuthenticatedError, 401),  # with WWW-Authenticate: Bearer
    (NotAllowedError, 403),
    (UnknownDocumentError, 404),
    (UnknownCollectionError, 404),
    (QuotaExceededError, 413),
    (UnsupportedFileError, 415),
    (IngestError, 422),  # readable type, but over a limit, empty, encrypted or broken
    (QuestionError, 400),
    (SettingsError, 400),
    (BackendUnavailableError, 503),
    (IndexError_, 503),  # the index cannot be read or written right now; the previous one may still answer
    (ReaderError, 500),
)


def http_status(exc: QAError) -> int:
    """The status of ``exc`` from ``STATUS`` (400 for a documented error no row names)."""
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)
