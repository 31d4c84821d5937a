"""The documented error types. Anything else escaping the API is a bug.

The indexing layer's errors (``index.errors``) are re-exported here so that users import every error from one place.
"""

from docqa.index.errors import (
    BackendUnavailableError,
    DocQAError,
    IndexCorruptedError,
    IndexError_,
    IndexMismatchError,
    IndexNotFoundError,
    IndexWriteError,
    IngestError,
    QuotaExceededError,
    UnsupportedFileError,
)

QAError = DocQAError  # the name users catch: one base class for every layer

__all__ = [
    "BackendUnavailableError",
    "BusyError",
    "DocQAError",
    "IndexCorruptedError",
    "IndexError_",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexWriteError",
    "IngestError",
    "NotAuthenticatedError",
    "NotAllowedError",
    "QAError",
    "QuestionError",
    "QuotaExceededError",
    "ReaderError",
    "SettingsError",
    "UnknownCollectionError",
    "UnknownDocumentError",
    "UnsupportedFileError",
]


class QuestionError(QAError, ValueError):
    """The question is empty, too long or otherwise unusable."""


class SettingsError(QAError, ValueError):
    """An argument or setting is out of range (``k=0``, an unknown document, an unknown reader)."""


class UnknownDocumentError(SettingsError):
    """No indexed document has this id (or one of these ids)."""

    def __init__(self, doc_ids: list[str]) -> None:
        names = ", ".join(map(repr, doc_ids[:5])) + (f" and {len(doc_ids) - 5} more" if len(doc_ids) > 5 else "")
        super().__init__(f"unknown document{'s' if len(doc_ids) > 1 else ''} {names}")
        self.doc_ids = doc_ids


class ReaderError(QAError):
    """The shipped reader model is missing or fails its checksum."""


class BusyError(QAError):
    """The service is at capacity (a full indexing queue, too many requests from one client); retry later."""

    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnknownCollectionError(SettingsError):
    """No collection of this name is served to this caller (unknown and not-yours read the same)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown collection {name!r}")
        self.name = name


class NotAuthenticatedError(QAError):
    """The request carries no valid token (missing, malformed, unknown or revoked)."""


class NotAllowedError(QAError):
    """The token is valid but its role may not do this."""
