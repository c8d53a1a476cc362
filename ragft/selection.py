"""Sentence selection: keep only the retrieved sentences most similar to the question (taught in notebook 05)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ragft.chunking import Chunk, split_sentences
from ragft.retrieval import Searcher, normalize_question


class SentenceSelector:
    """Keep only the ``n`` sentences of the retrieved chunks most similar to the question.

    A small model reads a short context better than a whole section. Each kept sentence stays with
    its chunk's first line (the document and section title), so that "the cell lasts 31 months"
    still says which product it is about. Sentence vectors are computed once per chunk and reused.

    Taught in notebook 05.
    """

    def __init__(self, retriever: Searcher, n: int = 3) -> None:
        if n < 1:
            raise ValueError(f"need n >= 1 sentences, got {n}")
        self.retriever, self.n = retriever, n
        self._cache: dict[str, tuple[list[str], np.ndarray]] = {}

    def _sentences(self, chunk: Chunk) -> tuple[list[str], np.ndarray]:
        if chunk.text not in self._cache:
            parts = split_sentences(chunk.text)
            self._cache[chunk.text] = (parts, self.retriever.embed(parts))
        return self._cache[chunk.text]

    def contexts(self, question: str, chunks: Sequence[Chunk]) -> list[str]:
        """One context per chunk that keeps a sentence: its title line, then its kept sentences in order."""
        q = self.retriever.embed([normalize_question(question)])[0]
        scored = []
        for c, chunk in enumerate(chunks):
            parts, vectors = self._sentences(chunk)
            scored += [(float(v @ q), c, i) for i, v in enumerate(vectors) if i > 0 or len(parts) == 1]
        keep = sorted((c, i) for _, c, i in sorted(scored, reverse=True)[:self.n])
        out = []
        for c in dict.fromkeys(c for c, _ in keep):
            parts = self._sentences(chunks[c])[0]
            body = " ".join(parts[i] for cc, i in keep if cc == c)
            out.append(f"{parts[0]}\n{body}" if len(parts) > 1 else body)
        return out
