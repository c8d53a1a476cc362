"""Chapter 6's end-to-end embedder comparison: RAG on every test question with the shipped and the fine-tuned embedder.

``python -m ragft.experiments embedder`` (about 6 minutes on two cores) writes ``ragft/results/embedder.json``."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ragft
from ragft.chunking import chunk_by_heading
from ragft.data import load_documents, load_questions
from ragft.embedder_tuning import embedder_pairs, fine_tune_embedder
from ragft.evaluate import retrieval_scores
from ragft.experiments.results import save_stored, stored_path
from ragft.headtohead import grade, replies
from ragft.models import load_embedder, load_generator
from ragft.rag import Reader
from ragft.retrieval import Retriever

STORED = stored_path("embedder")


def embedder(out: Path) -> dict[str, Any]:
    """Chapter 6's embedder fine-tune, then RAG end to end on every test question with each embedder."""
    from datasets import Dataset
    ragft.set_seed(0)
    chunks = [c for d in load_documents() for c in chunk_by_heading(d)]
    test = load_questions("test")
    pairs = Dataset.from_dict(embedder_pairs(chunks, load_questions("train")))
    shipped_retriever = Retriever(load_embedder(), chunks)
    tuned = load_embedder()
    started = time.perf_counter()
    trainer = fine_tune_embedder(tuned, pairs)
    results: dict[str, Any] = {"versions": ragft.versions(), "machine": ragft.env.machine(),
                               "pairs": len(pairs), "steps": trainer.state.global_step,
                               "training_seconds": round(time.perf_counter() - started, 1),
                               "questions": [q.id for q in test], "systems": {}}
    tuned_retriever = Retriever(tuned, chunks)
    model, tokenizer = load_generator()
    for name, retriever in [("shipped", shipped_retriever), ("fine-tuned", tuned_retriever)]:
        started = time.perf_counter()
        asked = grade(replies(model, tokenizer, test, Reader(retriever, k=1)), test)
        results["systems"][name] = {"retrieval": retrieval_scores(retriever, test, k=3),
                                    "correct": asked["correct"], "reply": asked["reply"],
                                    "seconds": round(time.perf_counter() - started, 1)}
        print(f"{name}: {sum(asked['correct'])} of {len(test)} answered", flush=True)
    save_stored(out, results, indent=1)
    return results
