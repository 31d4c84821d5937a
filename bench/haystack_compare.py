"""The same hybrid retrieval with Haystack (in-memory BM25 + embedding retrievers + DocumentJoiner RRF).

    pip install -e ".[bench]"; python -m bench.haystack_compare [--limit N]

Same passages (DocQA's passages of SQuAD v1.1 dev half a), same model (the bundled all-MiniLM-L6-v2, which
Haystack's SentenceTransformersTextEmbedder loads from the same folder), same candidate depth (50 per
retriever), same questions, same process: recall@1/5/20 and per-query latency side by side.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import cached_index, md_table, save, squad11a
from docqa.index.encoder import get_encoder, model_path
from docqa.qa.retrieve import Retriever
from docqa.qa.settings import QASettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, default=1000, help="questions (0 = all 5,397)")
    args = ap.parse_args()
    from haystack import Document as HDoc
    from haystack import Pipeline
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.utils import ComponentDevice
    from haystack_integrations.components.embedders.sentence_transformers import SentenceTransformersTextEmbedder

    docs, qs = squad11a()
    qs = qs[: args.limit or None]
    _, idx = cached_index("squad11a", docs)
    vecs = idx.passage_vectors()
    store = InMemoryDocumentStore(bm25_algorithm="BM25Okapi", embedding_similarity_function="cosine")
    store.write_documents(
        [HDoc(id=p.passage_id, content=p.text, embedding=vecs[i].tolist()) for i, p in enumerate(idx.passages)]
    )
    pipe = Pipeline()
    pipe.add_component(
        "embedder",
        SentenceTransformersTextEmbedder(
            model=str(model_path()), device=ComponentDevice.from_str("cpu"), progress_bar=False
        ),
    )
    pipe.add_component("bm25", InMemoryBM25Retriever(store, top_k=50))
    pipe.add_component("dense", InMemoryEmbeddingRetriever(store, top_k=50))
    pipe.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=20))
    pipe.connect("embedder.embedding", "dense.query_embedding")
    pipe.connect("bm25", "joiner")
    pipe.connect("dense", "joiner")
    pipe.warm_up() if hasattr(pipe, "warm_up") else None

    ours = Retriever(get_encoder(), QASettings().fusion)
    by_id = {p.passage_id: p for p in idx.passages}

    def hit(texts: list[str], golds: list[str]) -> int | None:
        return next((i for i, t in enumerate(texts) if any(g in t for g in golds)), None)

    first = {"DocQA": [], "Haystack": []}
    lat = {"DocQA": [], "Haystack": []}
    for q in qs[:5]:
        ours.search(idx, q.question, 20)
        pipe.run({"embedder": {"text": q.question}, "bm25": {"query": q.question}})
    for q in qs:
        t = time.perf_counter()
        hits = ours.search(idx, q.question, 20)
        lat["DocQA"].append((time.perf_counter() - t) * 1000)
        first["DocQA"].append(hit([h.passage.text for h in hits], q.answers))
        t = time.perf_counter()
        out = pipe.run({"embedder": {"text": q.question}, "bm25": {"query": q.question}})
        lat["Haystack"].append((time.perf_counter() - t) * 1000)
        first["Haystack"].append(hit([by_id[d.id].text for d in out["joiner"]["documents"]], q.answers))
    rows, res = [], {}
    for name in first:
        rec = [float(np.mean([p is not None and p < k for p in first[name]])) for k in (1, 5, 20)]
        p50, p95 = float(np.median(lat[name])), float(np.percentile(lat[name], 95))
        rows.append([name, *rec, f"{p50:.1f}", f"{p95:.1f}"])
        res[name] = {"recall@1": rec[0], "recall@5": rec[1], "recall@20": rec[2], "p50_ms": p50, "p95_ms": p95}
    ratio = res["Haystack"]["p50_ms"] / res["DocQA"]["p50_ms"]
    md = (
        f"### Hybrid retrieval, DocQA vs Haystack (SQuAD v1.1 dev half a, {len(idx)} passages, {len(qs)} questions)\n\n"
        + md_table(["system", "recall@1", "recall@5", "recall@20", "p50 ms/query", "p95 ms/query"], rows)
        + f"\n\nHaystack p50 / DocQA p50 = {ratio:.2f} (query embedding included in both)."
    )
    save("haystack_compare", md, res)


if __name__ == "__main__":
    main()
