"""Documents and passages of one index version in a SQLite file, read on demand.

A serving process keeps no document text or passage in memory: a question reads the few passages its search
hits (and their documents' texts, kept in a small cache), so opening an index takes the same time at a hundred
passages as at a million. The file is written once, by one update, and then only read (``immutable``), so any
number of processes and threads may read it.

Tables: ``documents`` (metadata, and the rows ``first .. first + count - 1`` of its passages), ``texts`` (the
extracted text every offset points into) and ``passages`` (offsets, sentence spans and a 64-bit hash of the
passage text, by which an update finds vectors it can reuse). A passage's id is ``<doc_id>#<ordinal>``, its
ordinal within its document, so no id is stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from docqa.index.passages import indexed_text
from docqa.index.types import Document, Passage, Span

SCHEMA = """
CREATE TABLE documents(
    row INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, path TEXT NOT NULL, sha256 TEXT NOT NULL,
    text_sha256 TEXT NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL, pages TEXT NOT NULL, headings TEXT NOT NULL,
    size INTEGER NOT NULL, added TEXT NOT NULL, chars INTEGER NOT NULL, first INTEGER NOT NULL, count INTEGER NOT NULL);
CREATE TABLE texts(row INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE passages(
    row INTEGER PRIMARY KEY, doc INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    sentences BLOB NOT NULL, hash INTEGER NOT NULL);
"""
DOC_COLUMNS = "row, doc_id, path, sha256, text_sha256, title, kind, pages, headings, size, added, chars, first, count"
TEXT_CACHE = 64  # documents whose text a view keeps (the passages of one question come from a few)


def text_hash(text: str) -> int:
    """A signed 64-bit hash of a passage text (SQLite's integer), for finding reusable vectors."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def passage_id(doc_id: str, ordinal: int) -> str:
    return f"{doc_id}#{ordinal}"


def split_passage_id(pid: str) -> tuple[str, int]:
    """(document id, ordinal) of a passage id; ValueError if it is not one."""
    doc_id, _, n = pid.rpartition("#")
    if not doc_id or not n.isdigit():
        raise ValueError(f"not a passage id: {pid!r}")
    return doc_id, int(n)


def _pack(sentences: Sequence[Span]) -> bytes:
    return np.asarray([(s.start, s.end) for s in sentences], dtype="<i8").tobytes()


def _unpack(blob: bytes) -> tuple[Span, ...]:
    a = np.frombuffer(blob, dtype="<i8").reshape(-1, 2).tolist()
    return tuple(Span(s, e) for s, e in a)


@dataclass(frozen=True)
class DocRow:
    """A document's metadata row (no text)."""

    row: int
    doc: Document  # with text "" (read it with ``DocTable.text``)
    chars: int
    first: int
    count: int


def _doc_row(r: tuple) -> DocRow:
    row, doc_id, path, sha, _text_sha, title, kind, pages, headings, size, added, chars, first, count = r
    doc = Document(
        doc_id=doc_id,
        path=path,
        text="",
        sha256=sha,
        title=title,
        kind=kind,
        pages=tuple(json.loads(pages)),
        headings=tuple((int(o), str(h)) for o, h in json.loads(headings)),
        size=size,
        added=added,
    )
    doc.__dict__["text_sha256"] = _text_sha  # the stored one (the text is not read for a listing)
    return DocRow(row, doc, chars, first, count)


class DocTable:
    """Read access to a version's SQLite file (thread-safe; one connection, short queries under a lock)."""

    def __init__(self, path: Path, counts: Mapping[str, int] | None = None) -> None:
        """``counts``: the manifest's document and passage counts (counting a million rows takes a second)."""
        self.path = path
        uri = f"file:{path}?mode=ro&immutable=1"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._texts: OrderedDict[int, str] = OrderedDict()
        if counts is not None:
            self.n_documents, self.n_passages = int(counts["documents"]), int(counts["passages"])
        else:
            (self.n_documents,) = self._one("SELECT count(*) FROM documents")
            (self.n_passages,) = self._one("SELECT count(*) FROM passages")

    def close(self) -> None:
        self._db.close()

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def doc_row(self, doc_id: str) -> DocRow | None:
        r = self._one(f"SELECT {DOC_COLUMNS} FROM documents WHERE doc_id = ?", (doc_id,))
        return _doc_row(r) if r else None

    def doc_at(self, row: int) -> DocRow:
        r = self._one(f"SELECT {DOC_COLUMNS} FROM documents WHERE row = ?", (row,))
        if r is None:
            raise KeyError(row)
        return _doc_row(r)

    def doc_page(self, offset: int = 0, limit: int | None = None) -> list[DocRow]:
        """Document rows in id order, at most ``limit`` (None: all) from ``offset`` (doc_id is indexed: UNIQUE)."""
        if offset >= self.n_documents:
            return []  # also keeps an offset past SQLite's integers out of the query
        rows = self._all(
            f"SELECT {DOC_COLUMNS} FROM documents ORDER BY doc_id LIMIT ? OFFSET ?",
            (-1 if limit is None else max(0, limit), max(0, offset)),
        )
        return [_doc_row(r) for r in rows]

    def doc_rows(self) -> Iterator[DocRow]:
        """Every document's row, in row order (read in pages, so a million documents need no memory)."""
        last = -1
        while True:
            page = self._all(f"SELECT {DOC_COLUMNS} FROM documents WHERE row > ? ORDER BY row LIMIT 2000", (last,))
            if not page:
                return
            for r in page:
                yield _doc_row(r)
            last = page[-1][0]

    def text(self, row: int) -> str:
        with self._lock:
            hit = self._texts.get(row)
            if hit is not None:
                self._texts.move_to_end(row)
                return hit
            r = self._db.execute("SELECT text FROM texts WHERE row = ?", (row,)).fetchone()
            if r is None:
                raise KeyError(row)
            self._texts[row] = r[0]
            if len(self._texts) > TEXT_CACHE:
                self._texts.popitem(last=False)
            return r[0]

    def document(self, doc_id: str) -> Document:
        d = self.doc_row(doc_id)
        if d is None:
            raise KeyError(doc_id)
        return _with_text(d.doc, self.text(d.row))

    def passages_of(self, d: DocRow, text: str | None = None) -> list[Passage]:
        text = self.text(d.row) if text is None else text
        rows = self._all("SELECT row, start, end, sentences FROM passages WHERE doc = ? ORDER BY row", (d.row,))
        return [
            Passage(passage_id(d.doc.doc_id, r - d.first), d.doc.doc_id, s, e, text[s:e], _unpack(b))
            for r, s, e, b in rows
        ]

    def passage_at(self, row: int, d: DocRow | None = None) -> Passage:
        """The passage in ``row``; ``d``: its document's row when the caller has it (one query fewer)."""
        r = self._one("SELECT doc, start, end, sentences FROM passages WHERE row = ?", (row,))
        if r is None:
            raise IndexError(row)
        d = d if d is not None else self.doc_at(r[0])
        return Passage(
            passage_id(d.doc.doc_id, row - d.first),
            d.doc.doc_id,
            r[1],
            r[2],
            self.text(d.row)[r[1] : r[2]],
            _unpack(r[3]),
        )

    def passage(self, pid: str) -> Passage:
        doc_id, n = split_passage_id(pid)
        d = self.doc_row(doc_id)
        if d is None or n >= d.count:
            raise KeyError(pid)
        return self.passage_at(d.first + n, d)

    def rows_with_hash(self, h: int) -> int | None:
        r = self._one("SELECT row FROM passages WHERE hash = ? LIMIT 1", (h,))
        return r[0] if r else None

    def ids(self, rows: Iterable[int]) -> list[str]:
        """Passage ids of ``rows`` (search hits), in order."""
        rows = [int(r) for r in rows]
        if not rows:
            return []
        found = {
            r: passage_id(d, n)
            for r, d, n in self._all(
                "SELECT p.row, d.doc_id, p.row - d.first FROM passages p JOIN documents d ON d.row = p.doc"
                f" WHERE p.row IN ({','.join('?' * len(rows))})",
                tuple(rows),
            )
        }
        missing = [r for r in rows if r not in found]
        if missing:
            raise IndexError(missing[0])
        return [found[r] for r in rows]


def _with_text(doc: Document, text: str) -> Document:
    from dataclasses import replace

    full = replace(doc, text=text)
    full.__dict__["text_sha256"] = doc.text_sha256
    return full


class TableWriter:
    """Writes a new version's SQLite file: documents streamed in, then old documents copied over in bulk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
        self.n_documents = 0
        self.n_passages = 0

    def add(self, doc: Document, passages: Sequence[Passage], hashes: Sequence[int] | None = None) -> int:
        """Append ``doc`` and its passages (in order); returns the row of its first passage. ``hashes``: of the
        texts the passages were embedded from (default: their own texts). sqlite3.IntegrityError if the document
        id is already in this version."""
        if hashes is None:
            hashes = [text_hash(p.text) for p in passages]
        first = self.n_passages
        self._db.execute(
            f"INSERT INTO documents({DOC_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                self.n_documents,
                doc.doc_id,
                doc.path,
                doc.sha256,
                doc.text_sha256,
                doc.title,
                doc.kind,
                json.dumps(list(doc.pages)),
                json.dumps([list(h) for h in doc.headings]),
                doc.size,
                doc.added,
                len(doc.text),
                first,
                len(passages),
            ),
        )
        self._db.execute("INSERT INTO texts(row, text) VALUES (?, ?)", (self.n_documents, doc.text))
        self._db.executemany(
            "INSERT INTO passages(row, doc, start, end, sentences, hash) VALUES (?,?,?,?,?,?)",
            [
                (first + i, self.n_documents, p.start, p.end, _pack(p.sentences), h)
                for i, (p, h) in enumerate(zip(passages, hashes, strict=True))
            ],
        )
        self.n_documents += 1
        self.n_passages += len(passages)
        return first

    def has(self, doc_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone() is not None

    def copy_kept(self, old: Path, removed: Mapping[str, object] | Iterable[str]) -> list[tuple[int, int]]:
        """Copy every document of the version at ``old`` that is neither in this version already nor in
        ``removed``, with its text and passages, after what is here (in the old order). Returns the old passage
        row ranges ``(first, count)`` copied, in the new row order."""
        db = self._db
        db.execute("ATTACH DATABASE ? AS old", (f"file:{old}?mode=ro&immutable=1",))
        db.execute("CREATE TEMP TABLE removed(doc_id TEXT PRIMARY KEY)")
        db.executemany("INSERT OR IGNORE INTO removed VALUES (?)", ((d,) for d in removed))
        kept = db.execute(
            "SELECT d.row, d.first, d.count FROM old.documents d WHERE d.doc_id NOT IN (SELECT doc_id FROM main.documents)"
            " AND d.doc_id NOT IN (SELECT doc_id FROM temp.removed) ORDER BY d.row"
        ).fetchall()
        db.execute("CREATE TEMP TABLE kept(old_row INTEGER PRIMARY KEY, new_row INTEGER, shift INTEGER)")
        ranges, plan = [], []
        for old_row, first, count in kept:
            plan.append((old_row, self.n_documents, self.n_passages - first))
            ranges.append((first, count))
            self.n_documents += 1
            self.n_passages += count
        db.executemany("INSERT INTO temp.kept VALUES (?,?,?)", plan)
        cols = "doc_id, path, sha256, text_sha256, title, kind, pages, headings, size, added, chars"
        db.execute(
            f"INSERT INTO main.documents(row, {cols}, first, count) SELECT k.new_row, "
            + ", ".join(f"d.{c}" for c in cols.split(", "))
            + ", d.first + k.shift, d.count FROM old.documents d JOIN temp.kept k ON d.row = k.old_row ORDER BY k.new_row"
        )
        db.execute(
            "INSERT INTO main.texts(row, text) SELECT k.new_row, t.text FROM old.texts t"
            " JOIN temp.kept k ON t.row = k.old_row ORDER BY k.new_row"
        )
        db.execute(
            "INSERT INTO main.passages(row, doc, start, end, sentences, hash) SELECT p.row + k.shift, k.new_row,"
            " p.start, p.end, p.sentences, p.hash FROM old.passages p JOIN temp.kept k ON p.doc = k.old_row"
            " ORDER BY p.row"
        )
        db.commit()
        db.execute("DETACH DATABASE old")
        return ranges

    def close(self) -> None:
        """Index the passage hashes, then close (the file is complete)."""
        self._db.execute("CREATE INDEX passages_hash ON passages(hash)")
        self._db.commit()
        self._db.close()

    def abort(self) -> None:
        self._db.close()


def iter_passage_texts(table: DocTable, ranges: Iterable[tuple[int, int]], context: bool = False) -> Iterator[str]:
    """Texts of the passages in the given row ranges, in order (one document's text read at a time); with
    ``context``, as they were indexed (``passages.indexed_text``)."""
    for first, count in ranges:
        if not count:
            continue
        rows = table._all(
            "SELECT p.doc, p.start, p.end FROM passages p WHERE p.row >= ? AND p.row < ? ORDER BY p.row",
            (first, first + count),
        )
        doc, text, meta = None, "", None
        for d, s, e in rows:
            if d != doc:
                doc, text = d, table.text(d)
                meta = table.doc_at(d).doc if context else None
            if meta is None:
                yield text[s:e]
            else:
                yield indexed_text(meta, Passage("", "", s, e, text[s:e], ()))
