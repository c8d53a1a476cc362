"""Scoring: is the reference answer in what the model said, did it decline, and did retrieval find the
right document (recall@k, MRR). ``contains_answer`` and the retrieval metrics are taught in notebook 02a."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from ragft.chunking import Chunk
from ragft.data import Question, normalize
from ragft.retrieval import Retriever


def contains_answer(prediction: str, answers: Sequence[str]) -> bool:
    """True if any reference answer occurs in the prediction as whole words, after ``normalize``.

    Whole words matter: "EUR 89" must not count as found inside "EUR 899", nor "20 minutes"
    inside "120 minutes".

    Taught in notebook 02a.
    """
    text = normalize(prediction)
    return any(re.search(rf"(?<![\w.,]){re.escape(normalize(a))}(?![\w]|[.,]\d)", text) for a in answers if a)


def accuracy(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> float:
    """Share of predictions that contain one of their reference answers."""
    if len(predictions) != len(answers) or not answers:
        raise ValueError("predictions and answers must be non-empty and of the same length")
    return sum(contains_answer(p, a) for p, a in zip(predictions, answers)) / len(answers)


ABSTAIN_PHRASES = ("i don't know", "i do not know", "not mentioned", "does not say", "doesn't say",
                   "does not mention", "doesn't mention", "no information", "not provided", "cannot answer",
                   "can't answer", "not specified", "not stated")


def is_abstention(reply: str) -> bool:
    """True when a reply declines to answer ("I don't know", "the text does not say", ...)."""
    text = normalize(reply)
    return not text or any(p in text for p in ABSTAIN_PHRASES)


TERM = re.compile(r"[A-Za-z]*\d[\w.,%/-]*|\b[A-Z][\w-]*[A-Z0-9][\w-]*\b")


def key_terms(text: str) -> list[str]:
    """The checkable tokens of a text: anything with a digit (numbers, versions, codes) and CamelCase or ALL-CAPS names."""
    return list(dict.fromkeys(t.rstrip(".,") for t in TERM.findall(text)))


def unsupported_terms(summary: str, sources: Sequence[str]) -> list[str]:
    """Key terms of ``summary`` that appear in none of the ``sources``: candidates for invented facts."""
    text = " ".join(sources)
    return [t for t in key_terms(summary) if not contains_answer(text, [t])]


def distinct_docs(hits: Sequence[tuple[Chunk, float]]) -> list[str]:
    """Document ids in the order their first chunk was retrieved (each document once).

    Taught in notebook 02a.
    """
    return list(dict.fromkeys(c.doc_id for c, _ in hits))


def recall_at_k(retrieved: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], k: int) -> float:
    """Share of questions with at least one gold document among the first ``k`` retrieved ids.

    Taught in notebook 02a.
    """
    if len(retrieved) != len(gold) or not gold:
        raise ValueError("retrieved and gold must be non-empty and of the same length")
    return sum(bool(set(r[:k]) & set(g)) for r, g in zip(retrieved, gold)) / len(gold)


def mean_reciprocal_rank(retrieved: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> float:
    """Mean of 1/rank of the first gold document (0 when none is retrieved).

    Taught in notebook 02a.
    """
    if len(retrieved) != len(gold) or not gold:
        raise ValueError("retrieved and gold must be non-empty and of the same length")
    total = 0.0
    for r, g in zip(retrieved, gold):
        total += next((1 / rank for rank, d in enumerate(r, 1) if d in set(g)), 0.0)
    return total / len(gold)


def retrieval_scores(retriever: Retriever, questions: Sequence[Question], k: int = 3,
                     query_vectors: np.ndarray | None = None) -> dict[str, float]:
    """Recall@1 and recall@k over distinct documents, and how often the answer text is inside the top-k chunks.

    Pass ``query_vectors`` (from ``retriever.embed``) to score many retrievers without re-embedding the questions.
    """
    if not questions:
        raise ValueError("no questions to score")
    vectors = retriever.embed([q.question for q in questions]) if query_vectors is None else query_vectors
    _, ids = retriever.index.search(vectors, min(len(retriever.chunks), 10 * k))
    docs = [list(dict.fromkeys(retriever.chunks[i].doc_id for i in row)) for row in ids]
    gold = [q.doc_ids for q in questions]
    found = [contains_answer(" ".join(retriever.chunks[i].text for i in row[:k]), q.answers)
             for row, q in zip(ids, questions)]
    return {"recall@1": recall_at_k(docs, gold, 1), f"recall@{k}": recall_at_k(docs, gold, k),
            f"answer in top-{k} chunks": sum(found) / len(found)}
