"""The documented error types. Anything else escaping the API is a bug."""


class QAError(Exception):
    """Base class of every error the product raises on purpose."""


class QuestionError(QAError, ValueError):
    """The question is empty, too long or otherwise unusable."""


class IngestError(QAError):
    """A document could not be read (reported and skipped during folder ingest)."""


class IndexError_(QAError):
    """Base class for index problems (named to avoid shadowing the builtin)."""


class IndexNotFoundError(IndexError_):
    """No index exists at the given location."""


class IndexCorruptedError(IndexError_):
    """A file of the index is missing, truncated or altered (checksum mismatch)."""


class IndexMismatchError(IndexError_):
    """The index was built with another model or other settings than requested."""


class ReaderError(QAError):
    """The shipped reader model is missing or fails its checksum."""
