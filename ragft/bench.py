"""Measure the book's pipelines on this machine and print the numbers as JSON.

Run: ``python -m ragft.bench`` (about two minutes on 2 CPU cores). This is a measurement, not a
test: the numbers depend on the machine, so nothing here asserts on them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any, Callable

import numpy as np

from ragft.chunking import chunk_by_heading
from ragft.data import load_documents, load_questions, load_tickets
from ragft.finetune import Example, add_lora, tokenize_example, train
from ragft.models import ANSWER_TOKENS, load_embedder, load_generator
from ragft.rag import answer_questions
from ragft.retrieval import Retriever
from ragft.stats import percentiles
from ragft.triage import ticket_completion, ticket_prompt


def _percentiles(seconds: list[float]) -> dict[str, float]:
    return percentiles(np.asarray(seconds) * 1000, 2)


def _best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(n_questions: int = 20, lora_steps: int = 10, repeats: int = 3) -> dict[str, Any]:
    """Run every measurement once and return the results."""
    import torch

    embedder = load_embedder()
    model, tokenizer = load_generator()
    chunks = [c for d in load_documents() for c in chunk_by_heading(d)]
    texts = [c.text for c in chunks]
    questions = [q.question for q in load_questions("test")]

    embedder.encode(texts[:64], batch_size=64)  # warm-up: first calls pay one-off costs
    bare = _best_of(repeats, lambda: embedder.encode(texts, batch_size=64, show_progress_bar=False))
    book = _best_of(repeats, lambda: Retriever(embedder, chunks, batch_size=64, show_progress_bar=False))
    retriever = Retriever(embedder, chunks, show_progress_bar=False)

    search_times = []
    for q in questions:
        t = time.perf_counter()
        retriever.search(q, k=3)
        search_times.append(time.perf_counter() - t)

    vector = retriever.embed([questions[0]])
    index_times = []
    for _ in range(len(questions)):
        t = time.perf_counter()
        retriever.index.search(vector, 3)
        index_times.append(time.perf_counter() - t)

    answer_times = []
    for q in questions[:n_questions]:
        t = time.perf_counter()
        answer_questions(retriever, model, tokenizer, [q], k=1, max_new_tokens=ANSWER_TOKENS)
        answer_times.append(time.perf_counter() - t)

    prompt = "Write a short paragraph about greenhouse sensors."
    batch = tokenizer(tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                    add_generation_prompt=True), return_tensors="pt")
    t = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=64, min_new_tokens=64, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    gen_seconds = time.perf_counter() - t
    new_tokens = out.shape[1] - batch["input_ids"].shape[1]

    tickets = load_tickets("train")[:8 * lora_steps]
    data = [tokenize_example(tokenizer, Example(ticket_prompt(x.text), ticket_completion(x.label))) for x in tickets]
    lora_model = add_lora(model)
    history = train(lora_model, data, tokenizer.pad_token_id, epochs=1.0, batch_size=8, progress=False)

    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads()},
        "indexing": {
            "chunks": len(chunks),
            "bare_encode_chunks_per_s": round(len(chunks) / bare, 1),
            "book_pipeline_chunks_per_s": round(len(chunks) / book, 1),
            "ratio_book_to_bare": round(bare / book, 3),
        },
        "retrieval_latency": {"questions": len(search_times), "k": 3, **_percentiles(search_times),
                              "faiss_search_only": _percentiles(index_times)},
        "answer_latency": {"questions": len(answer_times), "k": 1, "max_new_tokens": ANSWER_TOKENS,
                           **_percentiles(answer_times)},
        "generation": {"new_tokens": int(new_tokens), "tokens_per_s": round(new_tokens / gen_seconds, 1)},
        "lora": {"steps": len(history.steps), "batch_size": 8, "rank": 8, "layers": "all 30",
                 "seconds_per_step": round(history.seconds_per_step, 3)},
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: print the measurements as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20, help="questions for the answer-latency measurement")
    parser.add_argument("--lora-steps", type=int, default=10, help="LoRA training steps to time")
    args = parser.parse_args(argv)
    if args.questions < 1 or args.lora_steps < 1:
        parser.error("--questions and --lora-steps must be at least 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    print(json.dumps(run(args.questions, args.lora_steps), indent=2))


if __name__ == "__main__":
    main()
