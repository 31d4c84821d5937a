"""The product's base error and the errors of the indexing layer.

The base lives in the lowest layer because every layer raises it; ``docqa.qa.errors`` re-exports all of these
beside the question-answering errors, so users import every error from one place.
"""


class DocQAError(Exception):
    """Base class of every error the product raises on purpose (anything else escaping the API is a bug)."""


class IngestError(DocQAError):
    """A document could not be read, or is over a limit (reported and skipped during folder ingest)."""


class UnsupportedFileError(IngestError):
    """The file's type or content is not one DocQA reads (unknown extension, binary bytes, content of another
    format than its name says, text that is not UTF-8)."""


class QuotaExceededError(IngestError):
    """Storing this file would take the collection over its storage quota (bytes or files)."""


class IndexError_(DocQAError):
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
