"""The documented error types. Anything else escaping the API is a bug.

The indexing layer's errors (``index.errors``) are re-exported here so that users import every error from one place.
"""

from index.errors import (
    BackendUnavailableError,
    IndexCorruptedError,
    IndexError_,
    IndexMismatchError,
    IndexNotFoundError,
    IndexWriteError,
    IngestError,
    QAError,
)

__all__ = [
    "BackendUnavailableError",
    "BusyError",
    "IndexCorruptedError",
    "IndexError_",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexWriteError",
    "IngestError",
    "QAError",
    "QuestionError",
    "ReaderError",
    "SettingsError",
]


class QuestionError(QAError, ValueError):
    """The question is empty, too long or otherwise unusable."""


class SettingsError(QAError, ValueError):
    """An argument or setting is out of range (``k=0``, an unknown document, an unknown reader)."""


class ReaderError(QAError):
    """The shipped reader model is missing or fails its checksum."""


class BusyError(QAError):
    """The service is at capacity (a full indexing queue, too many requests from one client); retry later."""

    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
