"""Chapter 1's RAG-for-tickets row: the base model reading a retrieved section for each test ticket.

``python -m ragft.experiments purpose`` (about two minutes) writes ``ragft/results/purpose.json``."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ragft
from ragft.chunking import chunk_by_heading
from ragft.data import load_documents, load_tickets
from ragft.experiments.results import save_stored, stored_path
from ragft.models import load_embedder, load_generator
from ragft.retrieval import Retriever
from ragft.triage import exact_matches, is_valid_record, ticket_prompt, triage

STORED = stored_path("purpose")


def rag_ticket_prompts(hits: list, tickets: list) -> list[str]:
    """Chapter 1's RAG for tickets: each ticket's top section (``hits`` from ``Retriever.search``), above the
    detailed triage prompt."""
    return [f"{h[0][0].text}\n\n{ticket_prompt(t.text, detailed=True)}" for h, t in zip(hits, tickets)]


def purpose(out: Path) -> dict[str, Any]:
    """Chapter 1's costliest row: RAG on every test ticket (a retrieved section above each prompt).

    Stores each ticket's retrieved section, reply, and whether the reply is a valid record and the exact
    one; notebook 01 computes its table row from this file and re-runs the first tickets live.
    """
    ragft.set_seed(0)
    retriever = Retriever(load_embedder(), [c for d in load_documents() for c in chunk_by_heading(d)])
    model, tokenizer = load_generator()
    tickets = load_tickets("test")
    started = time.perf_counter()
    hits = retriever.search([t.text for t in tickets], k=1)
    replies = triage(model, tokenizer, rag_ticket_prompts(hits, tickets))
    results = {"versions": ragft.versions(), "machine": ragft.env.machine(),
               "tickets": [t.id for t in tickets], "section": [h[0][0].id for h in hits],
               "reply": replies, "valid_record": [is_valid_record(r) for r in replies],
               "exact": exact_matches(replies, [t.label for t in tickets]),
               "seconds": round(time.perf_counter() - started, 1)}
    print(f"RAG on {len(tickets)} tickets: {sum(results['valid_record'])} valid records, "
          f"{sum(results['exact'])} exact, {results['seconds']} s", flush=True)
    save_stored(out, results, indent=1)
    return results
