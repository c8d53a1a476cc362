"""Chapter 2's context sweep: how many chunks, in which prompt layout, on every test question.

``python -m ragft.experiments context`` writes ``ragft/results/context.json``."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ragft
from ragft.chunking import chunk_by_heading
from ragft.data import load_documents, load_questions
from ragft.evaluate import contains_answer
from ragft.models import load_embedder, load_generator
from ragft.rag import answer_questions
from ragft.retrieval import Retriever

# Chapter 2's context sweep: (chunks retrieved, prompt layout), each answering every test question
CONTEXT_CONFIGS = ((1, "plain"), (1, "question-first"), (2, "plain"), (3, "plain"), (3, "numbered"))
from ragft.experiments.results import save_stored, stored_path

STORED = stored_path("context")


def context_sweep(out: Path) -> dict[str, Any]:
    """Chapter 2's sweep: every test question answered with 1-3 retrieved chunks in three prompt layouts.

    Per configuration and question it stores whether the prompt contained a reference answer and whether
    the reply gave one, so the notebook can print each rate with its interval and pair the configurations.
    """
    ragft.set_seed(0)
    retriever = Retriever(load_embedder(), [c for d in load_documents() for c in chunk_by_heading(d)])
    model, tokenizer = load_generator()
    test = load_questions("test")
    questions = [q.question for q in test]
    hits = retriever.search(questions, k=max(k for k, _ in CONTEXT_CONFIGS))
    results: dict[str, Any] = {"versions": ragft.versions(), "machine": ragft.env.machine(),
                               "questions": [q.id for q in test], "max_new_tokens": 24, "configs": []}
    for k, layout in CONTEXT_CONFIGS:
        started = time.perf_counter()
        answers = answer_questions(retriever, model, tokenizer, questions, k=k, layout=layout, max_new_tokens=24)
        results["configs"].append({
            "k": k, "layout": layout,
            "in_prompt": [contains_answer(" ".join(c.text for c, _ in h[:k]), q.answers) for h, q in zip(hits, test)],
            "correct": [contains_answer(a.text, q.answers) for a, q in zip(answers, test)],
            "reply": [a.text for a in answers], "seconds": round(time.perf_counter() - started, 1)})
        print(f"k={k} {layout}: {sum(results['configs'][-1]['correct'])} of {len(test)} answered "
              f"in {results['configs'][-1]['seconds']} s", flush=True)
    save_stored(out, results, indent=1)
    return results
