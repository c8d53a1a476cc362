"""Chapter 5's experiment: the same questions through five systems, with every cost measured.

``python -m ragft.experiments head-to-head`` runs it (about an hour on two CPU cores) and writes
``ragft/results/head_to_head.json``; the chapter's notebooks read that file, and re-run its cheapest
parts live so that the tests notice when the stored results stop matching the code.

The five systems:

- ``base``: the instruction model alone, closed book;
- ``rag``: the same model reading the best-matching section of the knowledge base;
- ``finetuned``: a LoRA adapter trained on the training paraphrases of the facts, closed book;
- ``rag+finetuned``: that adapter, reading retrieved text as ``rag`` does;
- ``raft``: an adapter trained RAFT-style, on questions after retrieved text (the gold section plus
  a distractor, or distractors only with the reply "I don't know."), used with retrieval.
"""
from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

SYSTEMS = ("base", "rag", "finetuned", "rag+finetuned", "raft")
TRAINED = {"finetuned": "closed-book adapter", "rag+finetuned": "closed-book adapter", "raft": "RAFT adapter"}
RETRIEVAL_K = {"rag": 1, "rag+finetuned": 1, "raft": 2}  # RAFT reads what it was trained on: gold + 1 distractor
SEEDS = (0, 1, 2)
N_OTHER_FACTS = 15
CLOSED_BOOK_EPOCHS = 4
RAFT_EPOCHS = 1  # its examples are long (two sections each): one pass costs as much as four closed-book ones
BATCH_SIZE = 8
MAX_NEW_TOKENS = 32
STORED = Path(__file__).parent / "results" / "head_to_head.json"


@dataclass
class Setup:
    """Everything the systems share: the facts, the question sets, the documents and their chunks."""

    facts: dict[str, Any]
    fact_ids: list[str]
    train: list[Any]
    test: list[Any]
    unanswerable: list[Any]
    updates: list[Any]
    documents: list[Any]


def load_setup(n_other: int = N_OTHER_FACTS, seed: int = 0, quick: bool = False) -> Setup:
    """The facts that change in ``updates.jsonl`` plus ``n_other`` drawn at random, and their questions.

    Every fact that an update changes is in the set, so that the freshness test can ask each system
    about a fact it was trained on. ``quick`` shrinks everything for a smoke test.
    """
    from ragft.data import load_documents, load_facts, load_questions

    facts = {f.id: f for f in load_facts()}
    updates = sorted(load_questions("updates"), key=lambda q: q.id)
    changed = sorted({u.fact_ids[0] for u in updates})
    others = sorted(random.Random(seed).sample(sorted(set(facts) - set(changed)), n_other))
    if quick:
        changed, others, updates = changed[:4], others[:2], [u for u in updates if u.fact_ids[0] in changed[:4]]
    ids = sorted(changed + others)
    keep = set(ids)
    train = [q for q in sorted(load_questions("train"), key=lambda q: q.id) if q.fact_ids[0] in keep]
    test = [q for q in sorted(load_questions("test"), key=lambda q: q.id) if q.fact_ids[0] in keep]
    unanswerable = sorted(load_questions("unanswerable"), key=lambda q: q.id)[:8 if quick else None]
    return Setup(facts, ids, train, test, unanswerable, updates, load_documents())


def updated_documents(documents: Sequence[Any], updates: Sequence[Any]) -> list[Any]:
    """The documents that ``updates`` change, after every change is applied (each document once)."""
    from ragft.data import apply_update

    by_id = {d.id: d for d in documents}
    changed: dict[str, Any] = {}
    for u in updates:
        doc_id = u.doc_ids[0]
        changed[doc_id] = apply_update(changed.get(doc_id, by_id[doc_id]), u)
    return list(changed.values())


def updated_facts(facts: dict[str, Any], updates: Sequence[Any]) -> dict[str, Any]:
    """The facts with each update's new answer written into its statement."""
    from dataclasses import replace

    new = dict(facts)
    for u in updates:
        f = new[u.fact_ids[0]]
        if u.old_answer not in f.statement:
            raise ValueError(f"{u.id}: the old answer {u.old_answer!r} is not in the statement of {f.id}")
        new[f.id] = replace(f, statement=f.statement.replace(u.old_answer, u.answer), answer=u.answer)
    return new


def ask(system: str, model: Any, tokenizer: Any, retriever: Any, questions: Sequence[Any],
        threshold: float | None) -> tuple[list[str], list[bool]]:
    """Each question's reply and whether the system declined to answer (low retrieval score or "I don't know")."""
    from ragft.evaluate import is_abstention
    from ragft.finetune import QA_SYSTEM
    from ragft.models import generate
    from ragft.rag import answer_questions

    texts = [q.question for q in questions]
    if system in RETRIEVAL_K:
        answers = answer_questions(retriever, model, tokenizer, texts, k=RETRIEVAL_K[system], threshold=threshold,
                                   max_new_tokens=MAX_NEW_TOKENS)
        replies = [a.text for a in answers]
        declined = [a.abstained or is_abstention(a.text) for a in answers]
    else:
        replies = generate(model, tokenizer, texts, max_new_tokens=MAX_NEW_TOKENS, system=QA_SYSTEM, batch_size=16)
        declined = [is_abstention(r) for r in replies]
    return replies, declined


def score(replies: Sequence[str], declined: Sequence[bool], questions: Sequence[Any]) -> list[int]:
    """Per question: 1 correct, 0 declined, -1 a wrong answer given with confidence (a hallucination)."""
    from ragft.evaluate import contains_answer

    out = []
    for reply, no, q in zip(replies, declined, questions):
        if q.answer is not None and not no and contains_answer(reply, q.answers):
            out.append(1)
        else:
            out.append(0 if no else -1)
    return out


def summarise(outcomes: dict[str, list[int]]) -> dict[str, float]:
    """Accuracy on test, abstention on unanswerable, and the hallucination rate over both sets."""
    test, unans = outcomes["test"], outcomes["unanswerable"]
    both = test + unans
    return {"accuracy": sum(o == 1 for o in test) / len(test),
            "abstention": sum(o == 0 for o in unans) / len(unans),
            "hallucination": sum(o == -1 for o in both) / len(both)}


def build_index(embedder: Any, documents: Sequence[Any]) -> tuple[Any, float]:
    """The heading-chunk retriever over ``documents`` and the seconds it took to chunk and embed them."""
    from ragft.rag import Retriever, chunk_by_heading

    started = time.perf_counter()
    retriever = Retriever(embedder, [c for d in documents for c in chunk_by_heading(d)], show_progress_bar=False)
    return retriever, time.perf_counter() - started


def absorb_update(retriever: Any, documents: Sequence[Any], updates: Sequence[Any]) -> tuple[Any, float]:
    """Re-chunk and re-embed only the documents the updates change; return the new retriever and the seconds."""
    from ragft.rag import chunk_by_heading

    started = time.perf_counter()
    chunks = [c for d in updated_documents(documents, updates) for c in chunk_by_heading(d)]
    new = retriever.update(chunks)
    return new, time.perf_counter() - started


def closed_book_examples(setup: Setup, facts: dict[str, Any] | None = None) -> list[Any]:
    """The closed-book training set: every training paraphrase of the chosen facts, answered by the fact."""
    from ragft.finetune import fact_example

    return [fact_example(q, facts or setup.facts) for q in setup.train]


def train_adapter(kind: str, model: Any, tokenizer: Any, setup: Setup, retriever: Any, seed: int,
                  facts: dict[str, Any] | None = None, quick: bool = False) -> tuple[Any, float]:
    """Train (or load from the cache) one adapter; return the adapted model and its training seconds."""
    from ragft.finetune import QA_SYSTEM, fit_lora, raft_examples

    if kind == "closed-book adapter":
        examples, system, epochs = closed_book_examples(setup, facts), QA_SYSTEM, CLOSED_BOOK_EPOCHS
    elif kind == "RAFT adapter":
        examples, system, epochs = raft_examples(retriever, setup.train, setup.facts, seed=seed), None, RAFT_EPOCHS
    else:
        raise ValueError(f"unknown adapter kind {kind!r}")
    steps = 3 if quick else math.ceil(epochs * len(examples) / BATCH_SIZE)
    tuned, history = fit_lora(model, tokenizer, examples, system=system, steps=steps, batch_size=BATCH_SIZE,
                              seed=seed)
    return tuned, history.seconds_per_step * steps


LATENCY_CHILD = """
import json, sys
from ragft.headtohead import serve
print("RESULT " + json.dumps(serve(*json.loads(sys.argv[1]))))
"""


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (``VmRSS``) or at its peak (``VmHWM``), in MB (Linux; NaN elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def serve(system: str, adapter: str | None, questions: list[str], threshold: float | None) -> dict[str, float]:
    """Run in a fresh process: load one system as it would be deployed, answer one question at a time.

    Returns the per-question latency (p50, p95, in ms, retrieval included) and the process's peak
    memory, so that each system's memory is measured on its own. A LoRA adapter is merged into the
    weights first, as one would serve it.
    """
    import numpy as np
    import torch  # noqa: F401  (imported first, so that the baseline includes it)

    from ragft.data import load_documents
    from ragft.finetune import QA_SYSTEM, load_adapter
    from ragft.models import generate, load_embedder, load_generator
    from ragft.rag import answer_questions

    baseline = rss_mb()
    model, tokenizer = load_generator()
    if adapter:
        model = load_adapter(model, adapter).merge_and_unload()
    retriever = build_index(load_embedder(), load_documents())[0] if system in RETRIEVAL_K else None
    seconds = []
    for q in [questions[0]] + questions:  # the first answer warms up and is not counted
        started = time.perf_counter()
        if retriever is not None:
            answer_questions(retriever, model, tokenizer, [q], k=RETRIEVAL_K[system], threshold=threshold,
                             max_new_tokens=MAX_NEW_TOKENS)
        else:
            generate(model, tokenizer, q, max_new_tokens=MAX_NEW_TOKENS, system=QA_SYSTEM)
        seconds.append(time.perf_counter() - started)
    ms = np.array(seconds[1:]) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "peak_mb": round(rss_mb("VmHWM"), 1),
            "python_torch_mb": round(baseline, 1)}


def measure_serving(system: str, adapter: str | None, questions: list[str], threshold: float | None) -> dict[str, float]:
    """``serve`` in a child process (so that peak memory belongs to this system alone)."""
    args = json.dumps([system, adapter, questions, threshold])
    done = subprocess.run([sys.executable, "-c", LATENCY_CHILD, args], capture_output=True, text=True, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"serving {system} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def run(out: Path = STORED, seeds: Sequence[int] = SEEDS, quick: bool = False, latency_questions: int = 10) -> dict:
    """The whole experiment; writes the results to ``out`` as JSON and returns them."""
    import ragft
    from ragft.data import load_questions
    from ragft.evaluate import contains_answer
    from ragft.models import load_embedder, load_generator
    from ragft.rag import abstention_threshold, chunk_by_heading

    ragft.set_seed(0)
    setup = load_setup(quick=quick)
    model, tokenizer = load_generator()
    embedder = load_embedder()
    retriever, index_seconds = build_index(embedder, setup.documents)
    train_scores = [h[0][1] for h in retriever.search([q.question for q in load_questions("train")], k=1)]
    threshold = abstention_threshold(train_scores, 0.95)
    fresh, reindex_seconds = absorb_update(retriever, setup.documents, setup.updates)
    changed = updated_documents(setup.documents, setup.updates)
    new_facts = updated_facts(setup.facts, setup.updates)
    sets = {"test": setup.test, "unanswerable": setup.unanswerable}
    results: dict[str, Any] = {
        "versions": ragft.versions(), "facts": setup.fact_ids, "threshold": round(threshold, 4),
        "sizes": {k: len(v) for k, v in {**sets, "train": setup.train, "updates": setup.updates}.items()},
        "question_ids": {k: [q.id for q in v] for k, v in {**sets, "updates": setup.updates}.items()},
        "index": {"chunks": len(retriever.chunks), "build_seconds": round(index_seconds, 2),
                  "reindex_seconds": round(reindex_seconds, 2),
                  "changed_documents": len(changed), "changed_chunks": sum(len(chunk_by_heading(d)) for d in changed),
                  "bytes": retriever.index.ntotal * retriever.index.d * 4},
        "model_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
        "embedder_bytes": sum(p.numel() * p.element_size() for p in embedder.parameters()), "runs": []}
    log = print

    def evaluate(system: str, m: Any, seed: int | None, training_seconds: float | None, replies_too: bool) -> None:
        run_result: dict[str, Any] = {"system": system, "seed": seed, "training_seconds": training_seconds,
                                      "outcomes": {}, "replies": {}}
        started = time.perf_counter()
        for name, questions in sets.items():
            replies, declined = ask(system, m, tokenizer, retriever, questions, threshold)
            run_result["outcomes"][name] = score(replies, declined, questions)
            if replies_too:
                run_result["replies"][name] = replies
        # Freshness: the update questions before the change is absorbed (stale) and after.
        # (Before: asked of the first seed only, to save time; no system gives the new answer then.)
        after = ask(system, m, tokenizer, fresh if system in RETRIEVAL_K else retriever, setup.updates, threshold)
        if seed in (None, seeds[0]):
            stale = ask(system, m, tokenizer, retriever, setup.updates, threshold) if system in RETRIEVAL_K else after
            run_result["outcomes"]["updates_before"] = score(*stale, setup.updates)
            run_result["outcomes"]["updates_old_answer"] = [
                int(contains_answer(r, [u.old_answer])) for r, u in zip(stale[0], setup.updates)]
        run_result["outcomes"]["updates_after"] = score(*after, setup.updates)
        if replies_too:
            run_result["replies"]["updates_after"] = after[0]
        run_result.update({k: round(v, 4) for k, v in summarise(run_result["outcomes"]).items()})
        run_result["eval_seconds"] = round(time.perf_counter() - started, 1)
        results["runs"].append(run_result)
        log(json.dumps({k: v for k, v in run_result.items() if k not in ("outcomes", "replies")}), flush=True)

    evaluate("base", model, None, None, True)
    evaluate("rag", model, None, None, True)
    adapters: dict[str, str] = {}
    keep = Path(tempfile.mkdtemp(prefix="ragft-h2h-"))
    for seed in seeds:
        for kind in ("closed-book adapter", "RAFT adapter"):
            tuned, seconds = train_adapter(kind, model, tokenizer, setup, retriever, seed, quick=quick)
            systems = [s for s, k in TRAINED.items() if k == kind]
            for system in systems:
                evaluate(system, tuned, seed, round(seconds, 1), seed == seeds[0])
            if seed == seeds[0]:
                adapters[kind] = str(keep / kind.split()[0])
                tuned.save_pretrained(adapters[kind])
                results.setdefault("adapter_bytes", {})[kind] = sum(
                    f.stat().st_size for f in Path(adapters[kind]).glob("*.safetensors"))
            model = tuned.unload()
    # Freshness for the closed-book fine-tune: retrain on the updated facts, then ask again.
    tuned, seconds = train_adapter("closed-book adapter", model, tokenizer, setup, retriever, seeds[0],
                                   facts=new_facts, quick=quick)
    replies, declined = ask("finetuned", tuned, tokenizer, retriever, setup.updates, threshold)
    results["retrain"] = {"seed": seeds[0], "training_seconds": round(seconds, 1),
                          "updates_after": score(replies, declined, setup.updates), "replies": replies}
    model = tuned.unload()
    log(json.dumps({"retrain_seconds": round(seconds, 1),
                    "updates_after": sum(x == 1 for x in results["retrain"]["updates_after"])}), flush=True)
    # Latency and memory, each system alone in a fresh process.
    sample = [q.question for q in setup.test[:3 if quick else latency_questions]]
    results["serving"] = {}
    for system in SYSTEMS:
        adapter = adapters.get(TRAINED.get(system, ""))
        results["serving"][system] = measure_serving(system, adapter, sample, threshold)
        log(json.dumps({system: results["serving"][system]}), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=None, separators=(",", ":")) + "\n")
    return results


def load_stored(path: Path = STORED) -> dict[str, Any]:
    """The stored head-to-head results (written by ``python -m ragft.experiments head-to-head``)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is missing: run python -m ragft.experiments head-to-head")
    return json.loads(Path(path).read_text())


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per system: mean and spread over seeds of each rate, plus latency, memory and one-off cost."""
    rows = []
    for system in SYSTEMS:
        runs = [r for r in results["runs"] if r["system"] == system]
        row: dict[str, Any] = {"system": system, "seeds": len(runs)}
        for key in ("accuracy", "abstention", "hallucination"):
            values = [r[key] for r in runs]
            row[key] = statistics.mean(values)
            row[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        after = [sum(o == 1 for o in r["outcomes"]["updates_after"]) / len(r["outcomes"]["updates_after"])
                 for r in runs]
        row["updates_after"] = statistics.mean(after)
        seconds = [r["training_seconds"] for r in runs if r["training_seconds"] is not None]
        row["training_seconds"] = statistics.mean(seconds) if seconds else 0.0
        row.update(results["serving"][system])
        rows.append(row)
    return rows


def freshness(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per system: how it absorbs the update and in how many seconds, and the share of update questions
    answered with the old answer before (first seed), the new answer before absorbing, and the new answer
    after (mean over seeds; for the closed-book fine-tune, after retraining)."""

    def share(outcomes: Sequence[int]) -> float:
        return sum(o == 1 for o in outcomes) / len(outcomes)

    out = {}
    for system in SYSTEMS:
        runs = [r for r in results["runs"] if r["system"] == system]
        after = statistics.mean(share(r["outcomes"]["updates_after"]) for r in runs)
        row = {"old_before": sum(runs[0]["outcomes"]["updates_old_answer"]) / results["sizes"]["updates"],
               "new_before": share(runs[0]["outcomes"]["updates_before"]), "new_after": after}
        if system in RETRIEVAL_K:
            row.update(how="re-embed the changed documents", seconds=results["index"]["reindex_seconds"])
        elif system == "finetuned":
            row.update(how="train again on the updated facts", seconds=results["retrain"]["training_seconds"],
                       new_before=after, new_after=share(results["retrain"]["updates_after"]))
        else:
            row.update(how="nothing to absorb (no knowledge)", seconds=0.0)
        out[system] = row
    return out
