"""What the Milvus backend stores: the fields of its collections and the rows written to them.

Pure functions of documents and passages (no connection), so that what is written can be read and tested apart
from how it is written (``milvus_store``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from docqa.index.backend import IndexSettings
from docqa.index.passages import indexed_text
from docqa.index.text import STOPWORDS
from docqa.index.types import Document, Passage

CHUNK_CHARS = 8000  # document text per _text row (VARCHAR limits are in bytes: 4 bytes per character at most)


def passages_schema(client: Any, settings: IndexSettings, dim: int) -> tuple[Any, Any]:
    """Schema and index parameters of ``_passages``: text analysed for Milvus' BM25 function (same stop words,
    k1 and b as the FAISS store), the dense vector under HNSW with inner product."""
    from pymilvus import DataType, Function, FunctionType

    analyzer = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS)}]}
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("pid", DataType.VARCHAR, is_primary=True, max_length=2048)
    s.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    s.add_field("doc_sha", DataType.VARCHAR, max_length=64)
    s.add_field("start", DataType.INT64)
    s.add_field("end", DataType.INT64)
    s.add_field("sentences", DataType.JSON)
    s.add_field(
        "text",
        DataType.VARCHAR,
        max_length=4 * settings.passages.max_chars + 1024,
        enable_analyzer=True,
        enable_match=True,
        analyzer_params=analyzer,
    )
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    s.add_function(
        Function(
            name="bm25", input_field_names=["text"], output_field_names=["sparse"], function_type=FunctionType.BM25
        )
    )
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": settings.hnsw_m, "efConstruction": 80})
    ip.add_index(
        "sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params={"bm25_k1": settings.bm25_k1, "bm25_b": settings.bm25_b},
    )
    ip.add_index("doc_id", index_type="INVERTED")
    return s, ip


def docs_fields() -> list[tuple]:
    """``_docs``: one row per live document, its text sha256 (the live version) and metadata."""
    from pymilvus import DataType

    return [
        ("doc_id", DataType.VARCHAR, {"is_primary": True, "max_length": 1024}),
        ("text_sha", DataType.VARCHAR, {"max_length": 64}),
        ("sha256", DataType.VARCHAR, {"max_length": 64}),
        ("path", DataType.VARCHAR, {"max_length": 4096}),
        ("title", DataType.VARCHAR, {"max_length": 2048}),
        ("kind", DataType.VARCHAR, {"max_length": 16}),
        ("pages", DataType.JSON),
        ("headings", DataType.JSON),
        ("size", DataType.INT64),
        ("added", DataType.VARCHAR, {"max_length": 32}),
        ("chars", DataType.INT64),
        ("passages", DataType.INT64),
    ]


def text_fields() -> list[tuple]:
    """``_text``: document texts in chunks of ``CHUNK_CHARS`` characters."""
    from pymilvus import DataType

    return [
        ("cid", DataType.VARCHAR, {"is_primary": True, "max_length": 2048}),
        ("doc_id", DataType.VARCHAR, {"max_length": 1024}),
        ("text_sha", DataType.VARCHAR, {"max_length": 64}),
        ("seq", DataType.INT64),
        ("chunk", DataType.VARCHAR, {"max_length": 4 * CHUNK_CHARS + 16}),
    ]


def meta_fields() -> list[tuple]:
    """``_meta``: the manifest (model, settings, skipped files, generation, pending clean-ups)."""
    from pymilvus import DataType

    return [("k", DataType.VARCHAR, {"is_primary": True, "max_length": 64}), ("v", DataType.JSON)]


def small_schema(client: Any, fields: list[tuple]) -> tuple[Any, Any]:
    """Schema and index parameters of a collection of plain fields (Milvus requires a vector field in every
    collection: a 2-dimensional placeholder ``_v``)."""
    from pymilvus import DataType

    sc = client.create_schema(auto_id=False, enable_dynamic_field=False)
    for f in fields:
        sc.add_field(*f[:2], **(f[2] if len(f) > 2 else {}))
    sc.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
    ip = client.prepare_index_params()
    ip.add_index("_v", index_type="FLAT", metric_type="L2")
    return sc, ip


def passage_rows(
    d: Document, passages: list[Passage], vectors: dict[str, np.ndarray], context: bool = True
) -> list[dict]:
    """``_passages`` rows of one document version: keys carry the text sha256, so a new version never
    overwrites the live one. ``text`` is what BM25 and the encoder index (``passages.indexed_text``): the
    passage text is its last ``end - start`` characters (``passage_text``)."""
    sha = d.text_sha256
    texts = [indexed_text(d, p, context) for p in passages]
    return [
        {
            "pid": f"{d.doc_id}#{sha[:12]}#{j}",
            "doc_id": d.doc_id,
            "doc_sha": sha,
            "start": p.start,
            "end": p.end,
            "sentences": [[s.start, s.end] for s in p.sentences],
            "text": t,
            "vector": vectors[t].tolist(),
        }
        for j, (p, t) in enumerate(zip(passages, texts, strict=True))
    ]


def passage_text(e: dict) -> str:
    """The passage text of a ``_passages`` row, without the context indexed before it."""
    n = int(e["end"]) - int(e["start"])
    return e["text"][len(e["text"]) - n :] if n > 0 else ""


def text_rows(d: Document) -> list[dict]:
    """``_text`` rows of one document version: its text in chunks (at least one, for an empty text)."""
    sha = d.text_sha256
    return [
        {
            "cid": f"{d.doc_id}#{sha[:16]}#{j}",
            "doc_id": d.doc_id,
            "text_sha": sha,
            "seq": j,
            "chunk": d.text[o : o + CHUNK_CHARS],
            "_v": [0.0, 0.0],
        }
        for j, o in enumerate(range(0, max(1, len(d.text)), CHUNK_CHARS))
    ]


def doc_row(d: Document, n_passages: int, previous: dict | None) -> dict:
    """The ``_docs`` row that makes this version live; ``added`` is kept from the previous version."""
    added = previous["added"] if previous else (d.added or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return {
        "doc_id": d.doc_id,
        "text_sha": d.text_sha256,
        "sha256": d.sha256,
        "path": d.path,
        "title": d.title[:2000],
        "kind": d.kind,
        "pages": list(d.pages),
        "headings": [list(h) for h in d.headings],
        "size": d.size,
        "added": added,
        "chars": len(d.text),
        "passages": n_passages,
        "_v": [0.0, 0.0],
    }
