"""Shared helpers of the benchmarks: data loading from ../shared/data, official SQuAD metrics, output."""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from docqa.index.backend import IndexSettings
from docqa.index.faiss_store import FaissStore, FaissView
from docqa.index.ingest import normalize_text
from docqa.index.sync import sync_documents
from docqa.index.types import Document
from docqa.qa.metrics import best_over, exact_match, f1_score, normalize_answer  # noqa: F401 - re-exported for the benchmarks

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DOCQA_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results"
warnings.filterwarnings("ignore")


SQUAD11_A = DATA / "squad" / "dev-v1.1.half-a.json"
SQUAD20_A = DATA / "squad" / "dev-v2.0.half-a.json"

# ----------------------------------------------------------------- data


@dataclass
class SquadQuestion:
    qid: str
    question: str
    answers: list[str]  # empty = unanswerable
    doc_id: str
    context: str  # the gold paragraph


def load_squad(path: Path) -> tuple[list[Document], list[SquadQuestion]]:
    """One Document per article (paragraphs joined by blank lines) and every question."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    docs, qs = [], []
    for article in data:
        doc_id = article["title"]
        text = normalize_text("\n\n".join(p["context"] for p in article["paragraphs"]))
        docs.append(Document(doc_id=doc_id, path=f"{path.name}/{doc_id}", text=text, sha256="", title=doc_id))
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                golds = [a["text"] for a in qa.get("answers", [])] if not qa.get("is_impossible") else []
                qs.append(SquadQuestion(qa["id"], qa["question"], golds, doc_id, p["context"]))
    return docs, qs


def squad11a() -> tuple[list[Document], list[SquadQuestion]]:
    """SQuAD v1.1 dev half a: one Document per article and every question."""
    return load_squad(SQUAD11_A)


def squad20a() -> tuple[list[Document], list[SquadQuestion]]:
    """SQuAD v2.0 dev half a (about half of the questions unanswerable)."""
    return load_squad(SQUAD20_A)


def store_of(name: str, settings: IndexSettings | None = None) -> FaissStore:
    """The cached FAISS store of a benchmark corpus: bench/out/cache/<name>-<sentences>-<overlap> (the one place
    cache folders are named)."""
    settings = settings or IndexSettings()
    ps = settings.passages
    return FaissStore(OUT / "cache" / f"{name}-{ps.sentences}-{ps.overlap}", settings)


def cached_index(
    name: str, docs: list[Document], settings: IndexSettings | None = None, progress: bool = True
) -> tuple[FaissStore, FaissView]:
    """The store and current view of a benchmark corpus; only documents changed since the cached build are
    re-embedded."""
    store = store_of(name, settings)
    stats = sync_documents(store, docs, progress=progress)
    if stats.changed:
        print(f"[{name}] {stats.passages} passages ({stats.embedded} embedded, {stats.reused} reused)")
    return store, store.view()


def load_scifact() -> tuple[list[Document], list[tuple[str, str, set[str]]]]:
    """SciFact corpus (title + abstract) and the validation claims with their evidence documents."""
    import ast
    import csv
    import io
    import zipfile

    csv.field_size_limit(10**8)
    z = zipfile.ZipFile(DATA / "scifact" / "scifact-hf-csv.zip")
    docs = []
    for row in csv.DictReader(io.TextIOWrapper(z.open("corpus_train.csv"), encoding="utf-8")):
        try:
            sents = ast.literal_eval(row["abstract"])
        except (ValueError, SyntaxError):
            sents = re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", row["abstract"])
            sents = [a or b for a, b in sents]
        if isinstance(sents, str):
            sents = [sents]
        text = normalize_text(row["title"].strip() + "\n\n" + " ".join(s.strip() for s in sents))
        docs.append(Document(row["doc_id"], f"scifact/{row['doc_id']}", text, "", row["title"]))
    claims: dict[str, tuple[str, set[str]]] = {}
    for row in csv.DictReader(io.TextIOWrapper(z.open("claims_validation.csv"), encoding="utf-8")):
        if row["evidence_doc_id"].strip():
            claims.setdefault(row["id"], (row["claim"], set()))[1].add(row["evidence_doc_id"].strip())
    return docs, [(cid, c, rel) for cid, (c, rel) in claims.items()]


def scifact_beir_claims() -> list[tuple[str, str, set[str]]]:
    """BEIR's SciFact test protocol: all 300 validation claims, each relevant to every document it cites
    (``cited_doc_ids``; 339 pairs, the size of BEIR's test qrels), evidence or not."""
    import csv
    import io
    import zipfile

    z = zipfile.ZipFile(DATA / "scifact" / "scifact-hf-csv.zip")
    out: dict[str, tuple[str, set[str]]] = {}
    for row in csv.DictReader(io.TextIOWrapper(z.open("claims_validation.csv"), encoding="utf-8")):
        out.setdefault(row["id"], (row["claim"], set()))[1].update(re.findall(r"\d+", row["cited_doc_ids"]))
    return [(cid, c, rel) for cid, (c, rel) in out.items() if rel]


# ----------------------------------------------------------------- output


def md_table(headers: list[str], rows: list[list]) -> str:
    def fmt(x):
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(fmt(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def hybrid_recall(view, qs, qvecs, ks=(1, 5, 20)) -> dict[int, float]:
    """Recall@k of hybrid retrieval as shipped (BM25 top 50 + dense top 50, fused): the share of questions with a
    gold answer string inside one of the top k passages; ``qvecs``: the questions' vectors."""
    from docqa.qa.fusion import FusionSettings, fuse

    hits = {k: 0 for k in ks}
    for q, v in zip(qs, qvecs, strict=True):
        ranked = [pid for pid, _ in fuse(view.bm25_search(q.question, 50), view.dense_search(v, 50), FusionSettings())]
        texts = [view.passage(pid).text for pid in ranked[: max(ks)]]
        first = next((i for i, t in enumerate(texts) if any(g in t for g in q.answers)), None)
        for k in ks:
            hits[k] += first is not None and first < k
    return {k: hits[k] / len(qs) for k in ks}


def machine() -> dict:
    """The CPU this ran on: model, cores, memory and the instruction sets that decide what runs fast."""
    model, flags = "unknown", set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"]
    mem = next(
        (int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), 0
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 1024**2, 1),
        "flags": [f for f in wanted if f in flags],
    }


def machine_line() -> str:
    m = machine()
    return f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; CPU flags: {' '.join(m['flags']) or 'none of interest'}"


def save(name: str, markdown: str, data: dict) -> None:
    """Write ``bench/results/<name>.md`` and ``.json`` (the latest result of each benchmark), with the machine."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    markdown = markdown + "\n\n" + machine_line()
    (RESULTS / f"{name}.md").write_text(markdown + "\n", encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps({**data, "machine": machine()}, indent=1), encoding="utf-8")
    print(markdown)
    print(f"\nsaved bench/results/{name}.md and .json")


# ----------------------------------------------------------------- corpora at scale


def squad_train_paragraphs() -> list[tuple[str, str, list[str]]]:
    """(id, context, questions) of every SQuAD v1.1 train paragraph, in a fixed shuffled order."""
    import gzip
    import random

    with gzip.open(DATA / "squad" / "train-v1.1.reconstructed.json.gz", "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    paras = [
        (f"{a['title']}-{i}", p["context"], [q["question"] for q in p["qas"]])
        for a in data
        for i, p in enumerate(a["paragraphs"])
    ]
    random.Random(0).shuffle(paras)
    return paras


class LookupEncoder:
    """The real encoder, except that texts with a known vector get it from a table (synthetic corpora)."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        from docqa.index.encoder import get_encoder

        self.real = get_encoder()
        self.table = table
        self.dim, self.fingerprint, self.kind = self.real.dim, self.real.fingerprint, self.real.kind
        self.precision, self.precision_reason = self.real.precision, self.real.precision_reason

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False, report=None) -> np.ndarray:
        """Known texts from the table; every other text (a question) is embedded by the real model each time, so
        that query latency is measured, not looked up."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.table]
        fresh = dict(zip(missing, self.real.encode(missing, batch_size, progress), strict=True)) if missing else {}
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.table[t] if t in self.table else fresh[t] for t in texts])


def scale_corpus(n_passages: int, real_max: int = 10_000) -> tuple[list[Document], LookupEncoder, list[str]]:
    """About ``n_passages`` passages: the 24 articles of SQuAD v1.1 dev half a, then real SQuAD train paragraphs as
    distractors (real vectors, embedded once and cached) up to ``real_max``, then synthetic one-passage documents
    of 4 real sentences in a random order whose vectors are a real passage vector plus noise (re-normalised).
    Returns documents, an encoder that knows every synthetic vector, and the dev half-a questions (one per
    paragraph, in a fixed shuffled order): questions the reader never trained on, so its early exit fires as
    often as on a user's. Synthetic sentence boundaries are registered so that passage splitting does not run
    spaCy on them (``synthetic_spans``)."""
    import random

    from docqa.index.passages import indexed_text, make_passages

    dev_docs, dev_qs = squad11a()
    docs, n = [], 0
    for d in dev_docs:
        docs.append(d)
        n += len(make_passages(d))
    seen, questions = set(), []
    for q in dev_qs:  # one question per paragraph
        if q.context not in seen:
            seen.add(q.context)
            questions.append(q.question)
    random.Random(0).shuffle(questions)
    paras = squad_train_paragraphs()
    for pid, ctx, _ in paras:
        d = Document(pid, f"squad-train/{pid}", normalize_text(ctx), "", pid)
        k = len(make_passages(d))
        if n + k > min(n_passages, real_max):
            break
        docs.append(d)
        n += k
    cache = OUT / "cache" / f"dev-a-train-vectors-{len(docs)}.npz"
    from docqa.index.encoder import get_encoder

    real_passages = [indexed_text(d, p) for d in docs for p in make_passages(d)]  # what the index embeds
    table = {}
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        table = dict(zip(z["texts"].tolist(), z["vectors"], strict=True))
    if not table or any(t not in table for t in real_passages):  # none yet, or cut by an older passage splitter
        vecs = get_encoder().encode(real_passages, progress=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, texts=np.array(real_passages), vectors=vecs)
        table = dict(zip(real_passages, vecs, strict=True))
    enc = LookupEncoder(table)
    if n_passages > n:
        rng = np.random.default_rng(0)
        pool = [s.strip() for _, ctx, _ in paras for s in re.split(r"(?<=\.) ", ctx) if len(s) > 40]
        base = np.stack([table[t] for t in real_passages])
        for i in range(n_passages - n):
            sents = [pool[j] for j in rng.integers(0, len(pool), 4)]
            text = " ".join(sents)
            spans, pos = [], 0
            for s in sents:
                spans.append((pos, pos + len(s)))
                pos += len(s) + 1
            SYNTHETIC_SPANS[text] = spans
            v = base[rng.integers(0, len(base))] + rng.normal(0, 0.03, base.shape[1]).astype(np.float32)
            table[text] = (v / np.linalg.norm(v)).astype(np.float32)
            docs.append(Document(f"synthetic-{i}", f"synthetic/{i}", text, ""))  # untitled: embedded as it is
    return docs, enc, questions


SYNTHETIC_SPANS: dict[str, list[tuple[int, int]]] = {}


def fast_synthetic_splitting() -> None:
    """Split synthetic documents at their known sentence boundaries (real ones still go through spaCy)."""
    import docqa.index.passages as passages
    from docqa.index.types import Span

    real = passages.split_sentences

    def split(text: str):
        spans = SYNTHETIC_SPANS.get(text)
        return [Span(a, b) for a, b in spans] if spans is not None else real(text)

    passages.split_sentences = split


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_split_mb() -> dict[str, float]:
    """Resident memory of this process split into anonymous (heap: held) and file-backed (mapped index files: page
    cache the kernel may drop and re-read), MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("RssAnon", "RssFile", "RssShmem"):
            out[key] = int(line.split()[1]) / 1024
    return out


def rss_mb() -> float:
    """Current resident memory of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")
