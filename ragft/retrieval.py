"""Dense retrieval: chunks embedded once into a FAISS inner-product index, searched by cosine similarity.

Taught in notebook 02a. ``Searcher`` names what every retriever of the book offers (``Retriever``,
``ragft.hybrid.HybridRetriever``, ``ragft.access.PermissionedRetriever``'s underlying index, ``ragft.vectordb.ChromaRetriever``)."""
from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from ragft.chunking import Chunk
from ragft.env import show_progress
from ragft.models import embed, require

Hit = tuple[Chunk, float]  # a retrieved chunk and its score (the cosine, for the dense ranking)


class Searcher(Protocol):
    """What the book's readers need of any retriever: its chunks, the embedder's vectors, and a search that
    returns ``(chunk, score)`` pairs for one question, or a list of them for several."""

    chunks: list[Chunk]

    def embed(self, texts: Sequence[str], batch_size: int = 64, show_progress_bar: bool = False) -> np.ndarray: ...

    def search(self, questions: str | Sequence[str], k: int = 3) -> list[Hit] | list[list[Hit]]: ...


def normalize_question(question: str) -> str:
    """The question with surrounding and repeated whitespace removed; empty questions are refused.

    Taught in notebook 02a.
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("the question is empty: ask something")
    return " ".join(question.split())


class Retriever:
    """Dense retrieval: chunks embedded once, stored in a FAISS inner-product index.

    Taught in notebook 02a.
    """

    def __init__(self, embedder: Any, chunks: Sequence[Chunk], batch_size: int = 64,
                 show_progress_bar: bool | None = None) -> None:
        faiss = require("faiss")

        if show_progress_bar is None:
            show_progress_bar = show_progress()
        if not chunks:
            raise ValueError("no chunks to index: check that the document folder holds text")
        self.embedder, self.chunks = embedder, list(chunks)
        vectors = self.embed([c.text for c in self.chunks], batch_size, show_progress_bar)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def subset(self, doc_ids: Sequence[str]) -> "Retriever":
        """A retriever over the chunks of ``doc_ids`` only, reusing the stored vectors (nothing is re-embedded)."""
        faiss = require("faiss")

        keep = set(doc_ids)
        rows = [i for i, c in enumerate(self.chunks) if c.doc_id in keep]
        if not rows:
            raise ValueError("none of these documents is in the index")
        vectors = self.index.reconstruct_n(0, self.index.ntotal)[rows]
        new = object.__new__(Retriever)
        new.embedder, new.chunks = self.embedder, [self.chunks[i] for i in rows]
        new.index = faiss.IndexFlatIP(vectors.shape[1])
        new.index.add(vectors)
        return new

    def update(self, chunks: Sequence[Chunk]) -> "Retriever":
        """A retriever where every document that ``chunks`` come from is replaced by those chunks.

        Only the new chunks are embedded; the vectors of all other documents are reused. This is how
        a RAG system absorbs an edited document: re-chunk it, re-embed it, swap it in.
        """
        faiss = require("faiss")

        if not chunks:
            raise ValueError("no chunks given: pass the new chunks of the changed documents")
        changed = {c.doc_id for c in chunks}
        rows = [i for i, c in enumerate(self.chunks) if c.doc_id not in changed]
        kept = self.index.reconstruct_n(0, self.index.ntotal)[rows]
        new = object.__new__(Retriever)
        new.embedder, new.chunks = self.embedder, [self.chunks[i] for i in rows] + list(chunks)
        new.index = faiss.IndexFlatIP(kept.shape[1])
        new.index.add(np.concatenate([kept, self.embed([c.text for c in chunks])]))
        return new

    def embed(self, texts: Sequence[str], batch_size: int = 64, show_progress_bar: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, so that the inner product is the cosine similarity."""
        return embed(self.embedder, texts, batch_size, show_progress_bar)

    def search(self, questions: str | Sequence[str], k: int = 3) -> list[Hit] | list[list[Hit]]:
        """Top-``k`` ``(chunk, cosine)`` pairs for one question, or a list of them for several (``[]`` for none)."""
        single = isinstance(questions, str)
        qs = [normalize_question(q) for q in ([questions] if single else questions)]
        if not qs:
            return []
        k = min(k, len(self.chunks))
        scores, ids = self.index.search(self.embed(qs), k)
        hits = [[(self.chunks[i], float(s)) for s, i in zip(row_s, row_i)] for row_s, row_i in zip(scores, ids)]
        return hits[0] if single else hits
