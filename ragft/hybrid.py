"""Keyword search (BM25) fused with the dense ranking by reciprocal rank fusion (taught in notebook 05)."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from ragft.chunking import Chunk
from ragft.models import require
from ragft.retrieval import Hit, Retriever, normalize_question

WORD = re.compile(r"[a-z0-9]+(?:[.\-/][a-z0-9]+)*")  # keeps "cg-4", "2.4", "v3.2.1" and "er26500" whole


def bm25_tokens(text: str) -> list[str]:
    """Lower-case words for BM25, with product codes and version numbers kept as one token.

    Taught in notebook 05.
    """
    return WORD.findall(text.lower())


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    """Items ordered by the sum of ``1 / (k + rank)`` over the rankings (Cormack et al., 2009).

    Taught in notebook 05.
    """
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            score[item] = score.get(item, 0.0) + 1 / (k + rank)
    return sorted(score, key=lambda i: (-score[i], i))


class HybridRetriever:
    """Dense ranking and BM25 keyword ranking (the ``bm25s`` library), fused by reciprocal rank fusion.

    Questions full of product codes and version numbers are where keywords help a small embedder.
    ``search`` returns ``(chunk, cosine)`` pairs like ``Retriever``; the cosine is the dense score.

    Taught in notebook 05.
    """

    def __init__(self, dense: Retriever, rrf_k: int = 60) -> None:
        bm25s = require("bm25s")

        self.dense, self.chunks, self.rrf_k = dense, dense.chunks, rrf_k
        self.bm25 = bm25s.BM25()
        self.bm25.index([bm25_tokens(c.text) for c in self.chunks], show_progress=False)

    def embed(self, texts: Sequence[str], batch_size: int = 64, show_progress_bar: bool = False) -> np.ndarray:
        return self.dense.embed(texts, batch_size, show_progress_bar)

    def search(self, questions: str | Sequence[str], k: int = 3) -> list[Hit] | list[list[Hit]]:
        single = isinstance(questions, str)
        qs = [normalize_question(q) for q in ([questions] if single else questions)]
        n = len(self.chunks)
        dense = self.dense.search(qs, k=n)
        index = {c.id: i for i, c in enumerate(self.chunks)}
        hits = []
        for q, ranked in zip(qs, dense):
            cosine = {index[c.id]: s for c, s in ranked}
            keyword = np.argsort(-self.bm25.get_scores(bm25_tokens(q)), kind="stable")
            fused = reciprocal_rank_fusion([[index[c.id] for c, _ in ranked], keyword.tolist()], self.rrf_k)
            hits.append([(self.chunks[i], cosine[i]) for i in fused[:k]])
        return hits[0] if single else hits

    def update(self, chunks: Sequence[Chunk]) -> "HybridRetriever":
        """The dense index updated as ``Retriever.update`` does; the keyword index is rebuilt (it is cheap)."""
        return HybridRetriever(self.dense.update(chunks), self.rrf_k)
