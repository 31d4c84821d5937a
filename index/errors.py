"""Errors of the indexing layer. ``qa.errors`` re-exports them beside the question-answering ones."""


class QAError(Exception):
    """Base class of every error the product raises on purpose (anything else escaping the API is a bug)."""


class IngestError(QAError):
    """A document could not be read, or is over a limit (reported and skipped during folder ingest)."""


class IndexError_(QAError):
    """Base class for index problems (named to avoid shadowing the builtin)."""


class IndexNotFoundError(IndexError_):
    """No index exists at the given location (or the Milvus collection is missing)."""


class IndexCorruptedError(IndexError_):
    """A file of the index is missing, truncated or altered (checksum mismatch)."""


class IndexMismatchError(IndexError_):
    """The index was built with another model or other settings than requested."""


class IndexWriteError(IndexError_):
    """An update could not be written (disk full, permissions); the previous index is still served."""


class BackendUnavailableError(IndexError_):
    """The index server (Milvus) cannot be reached; the request can be retried when it is back."""
