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
from ragft.models import ANSWER_TOKENS, load_embedder, load_generator, used_whole_budget
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
                               "questions": [q.id for q in test], "max_new_tokens": ANSWER_TOKENS, "configs": []}
    for k, layout in CONTEXT_CONFIGS:
        started = time.perf_counter()
        answers = answer_questions(retriever, model, tokenizer, questions, k=k, layout=layout, max_new_tokens=ANSWER_TOKENS)
        results["configs"].append({
            "k": k, "layout": layout,
            "in_prompt": [contains_answer(" ".join(c.text for c, _ in h[:k]), q.answers) for h, q in zip(hits, test)],
            "correct": [contains_answer(a.text, q.answers) for a, q in zip(answers, test)],
            "reply": [a.text for a in answers], "seconds": round(time.perf_counter() - started, 1)})
        print(f"k={k} {layout}: {sum(results['configs'][-1]['correct'])} of {len(test)} answered "
              f"in {results['configs'][-1]['seconds']} s", flush=True)
    results["budget_check"] = budget_check(retriever, model, tokenizer, test, results["configs"][0])
    save_stored(out, results, indent=1)
    return results


def budget_check(retriever: Retriever, model: Any, tokenizer: Any, test: list[Any], run: dict[str, Any],
                 factor: int = 2) -> dict[str, Any]:
    """Does the reader's budget cut answers short? Every reply of ``run`` (k=1, plain) that was scored wrong
    and used the whole budget is asked again with ``factor`` times the budget; a reply that then gives the
    answer was cut in mid-answer. Stores which questions were re-asked and which of them turned right."""
    k, layout = run["k"], run["layout"]
    budget = ANSWER_TOKENS
    full = [i for i, (reply, ok) in enumerate(zip(run["reply"], run["correct"]))
            if not ok and used_whole_budget(tokenizer, reply, budget)]
    again = answer_questions(retriever, model, tokenizer, [test[i].question for i in full], k=k, layout=layout,
                             max_new_tokens=factor * budget)
    turned = [contains_answer(a.text, test[i].answers) for a, i in zip(again, full)]
    print(f"budget check: {len(full)} wrong replies used all {budget} tokens; with {factor * budget}, "
          f"{sum(turned)} of them give the answer", flush=True)
    return {"k": k, "layout": layout, "budget": budget, "factor": factor, "questions": len(test),
            "reasked": [test[i].id for i in full], "turned_right": turned, "reply": [a.text for a in again]}
