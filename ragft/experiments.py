"""Scripted experiments too long for a notebook: chapter 1's RAG-for-tickets row, the facts learning curve (chapter 3), ticket triage (chapters 2-4, 7),
the head-to-head (chapter 5), the embedder fine-tune (chapter 6), chapter 2's context sweep and the
reliability and security measurements (chapter 8, ``ragft.reliability``) and the scaling measurements
(chapter 9, ``ragft.scale``).

Run ``python -m ragft.experiments learning-curves`` (about 5 minutes on two CPU cores). It writes
``ragft/results/learning_curves.json`` (shipped with the package, so that Colab has it too); the
training-data notebook plots that file and re-runs its
cheapest points live, so the tests notice when the stored results stop matching the code.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any

PARAPHRASES = (1, 2, 3)
N_FACTS = 24
STORED = Path(__file__).parent / "results" / "learning_curves.json"
EMBEDDER = Path(__file__).parent / "results" / "embedder.json"
CONTEXT = Path(__file__).parent / "results" / "context.json"
PURPOSE = Path(__file__).parent / "results" / "purpose.json"
# Chapter 2's context sweep: (chunks retrieved, prompt layout), each answering every test question
CONTEXT_CONFIGS = ((1, "plain"), (1, "question-first"), (2, "plain"), (3, "plain"), (3, "numbered"))


def load_stored(path: Path = STORED, experiment: str = "learning-curves") -> dict[str, Any]:
    """The stored results of an experiment (by default the learning curves, written by ``learning-curves``)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is missing: run python -m ragft.experiments {experiment}")
    return json.loads(Path(path).read_text())


def chosen_facts(n: int = N_FACTS, seed: int = 0) -> list[str]:
    """The fact ids the facts experiments use (the same draw as chapter 1)."""
    from ragft.data import load_facts

    return sorted(random.Random(seed).sample(sorted(f.id for f in load_facts()), n))


def facts_point(model: Any, tokenizer: Any, paraphrases: int, epochs: float = 4.0, batch_size: int = 8,
                lr: float = 3e-3, seed: int = 0) -> dict[str, Any]:
    """Train a fresh adapter on ``paraphrases`` training questions per chosen fact; score trained and new wording."""
    from ragft.data import load_facts, load_questions
    from ragft.evaluate import accuracy
    from ragft.finetune import QA_SYSTEM, fact_example, fit_lora
    from ragft.models import generate

    facts = {f.id: f for f in load_facts()}
    ids = chosen_facts()
    by_fact: dict[str, list] = {}
    for q in load_questions("train"):
        if q.fact_ids[0] in ids:
            by_fact.setdefault(q.fact_ids[0], []).append(q)
    train = [q for f in ids for q in by_fact[f][:paraphrases]]
    first = [by_fact[f][0] for f in ids]
    test = [q for q in load_questions("test") if q.fact_ids[0] in ids]
    steps = math.ceil(epochs * len(train) / batch_size)
    started = time.perf_counter()
    tuned, history = fit_lora(model, tokenizer, [fact_example(q, facts) for q in train], system=QA_SYSTEM,
                              steps=steps, batch_size=batch_size, lr=lr, seed=seed)

    def score(questions: list) -> float:
        replies = generate(tuned, tokenizer, [q.question for q in questions], max_new_tokens=32, system=QA_SYSTEM,
                           batch_size=16)
        return round(accuracy(replies, [q.answers for q in questions]), 4)

    result = {"paraphrases": paraphrases, "examples": len(train), "steps": steps, "trained_wording": score(first),
              "new_wording": score(test), "train_loss": [round(x, 4) for x in history.train_loss],
              "seconds": round(time.perf_counter() - started, 1)}
    tuned.unload()
    return result


def learning_curves(out: Path) -> dict[str, Any]:
    """Every point of the facts curve, written to ``out`` as JSON (the behaviour curves are in ``triage``)."""
    import ragft
    from ragft.models import load_generator

    ragft.set_seed(0)
    model, tokenizer = load_generator()
    results: dict[str, Any] = {"facts": [], "versions": ragft.versions(), "machine": ragft.env.machine()}
    for p in PARAPHRASES:
        results["facts"].append(facts_point(model, tokenizer, p))
        print(json.dumps({k: v for k, v in results["facts"][-1].items() if "loss" not in k}), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    return results


def context_sweep(out: Path) -> dict[str, Any]:
    """Chapter 2's sweep: every test question answered with 1-3 retrieved chunks in three prompt layouts.

    Per configuration and question it stores whether the prompt contained a reference answer and whether
    the reply gave one, so the notebook can print each rate with its interval and pair the configurations.
    """
    import ragft
    from ragft.data import load_documents, load_questions
    from ragft.evaluate import contains_answer
    from ragft.models import load_embedder, load_generator
    from ragft.rag import Retriever, answer_questions, chunk_by_heading

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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    return results


def rag_ticket_prompts(hits: list, tickets: list) -> list[str]:
    """Chapter 1's RAG for tickets: each ticket's top section (``hits`` from ``Retriever.search``), above the
    detailed triage prompt."""
    from ragft.finetune import ticket_prompt

    return [f"{h[0][0].text}\n\n{ticket_prompt(t.text, detailed=True)}" for h, t in zip(hits, tickets)]


def purpose(out: Path) -> dict[str, Any]:
    """Chapter 1's costliest row: RAG on every test ticket (a retrieved section above each prompt).

    Stores each ticket's retrieved section, reply, and whether the reply is a valid record and the exact
    one; notebook 01 computes its table row from this file and re-runs the first tickets live.
    """
    import ragft
    from ragft.data import load_documents, load_tickets
    from ragft.finetune import exact_matches, is_valid_record
    from ragft.models import load_embedder, load_generator
    from ragft.rag import Retriever, chunk_by_heading
    from ragft.triage import triage

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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    return results


def embedder_pairs(chunks: list, questions: list) -> dict[str, list[str]]:
    """One (training question, gold section) pair per fact: the first training wording of each fact."""
    from ragft.data import load_facts
    from ragft.finetune import gold_chunk

    facts = {f.id: f for f in load_facts()}
    first_wording = list({q.fact_ids[0]: q for q in reversed(questions)}.values())[::-1]
    return {"question": [q.question for q in first_wording],
            "section": [gold_chunk(chunks, facts[q.fact_ids[0]]).text for q in first_wording]}


def embedder(out: Path) -> dict[str, Any]:
    """Chapter 6's embedder fine-tune, then RAG end to end on every test question with each embedder."""
    from datasets import Dataset

    import ragft
    from ragft.data import load_documents, load_questions
    from ragft.finetune import fine_tune_embedder
    from ragft.headtohead import Reader, grade, replies
    from ragft.models import load_embedder, load_generator
    from ragft.rag import Retriever, chunk_by_heading, retrieval_scores

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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ragft.experiments", description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["learning-curves", "purpose", "head-to-head", "embedder", "context", "security", "triage",
                                                   "scale", "clear-adapter-cache"],
                        help="an experiment to run, or clear-adapter-cache to delete the adapters fit_lora cached")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON (default: ragft/results/)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="head-to-head only: the training seeds to run (default 0 1 2; stored ones are skipped)")
    parser.add_argument("--parts", nargs="+", default=None,
                        help="security and scale only: the parts to run (security: access finetune injection backdoor; "
                             "scale: index synthetic training throughput database; default all)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test on a few facts or tickets (needs --out; it leaves the stored results alone)")
    args = parser.parse_args(argv)
    if args.experiment == "clear-adapter-cache":
        from ragft.finetune import adapter_cache_dir, clear_adapter_cache

        print(f"deleted {clear_adapter_cache()} cached adapters from {adapter_cache_dir()}")
        return
    if args.experiment in ("learning-curves", "purpose", "embedder", "context", "security", "scale") and args.quick:
        raise SystemExit(f"{args.experiment} has no --quick variant: it runs in minutes (use --out to keep the stored file)")
    if args.experiment == "learning-curves":
        out = args.out or STORED
        learning_curves(out)
    elif args.experiment == "purpose":
        out = args.out or PURPOSE
        purpose(out)
    elif args.experiment == "embedder":
        out = args.out or EMBEDDER
        embedder(out)
    elif args.experiment == "context":
        out = args.out or CONTEXT
        context_sweep(out)
    elif args.experiment == "security":
        from ragft import reliability

        out = args.out or reliability.STORED
        reliability.run(out, parts=tuple(args.parts) if args.parts else reliability.PARTS)
    elif args.experiment == "scale":
        from ragft import scale

        out = args.out or scale.STORED
        scale.run(out, parts=tuple(args.parts) if args.parts else scale.PARTS)
    elif args.experiment == "triage":
        from ragft import triage

        if args.quick and args.out is None:
            raise SystemExit("--quick needs --out, so that it does not overwrite the stored results")
        out = args.out or triage.STORED
        triage.run(out, adapter_out=out.parent / "triage-adapter" if args.quick else triage.ADAPTER_DIR,
                   quick=args.quick)
    else:
        from ragft import headtohead

        out = args.out or headtohead.STORED
        if args.quick and args.out is None:
            raise SystemExit("--quick needs --out, so that it does not overwrite the stored results")
        seeds = tuple(args.seeds) if args.seeds else (0,) if args.quick else headtohead.SEEDS
        if seeds[0] != headtohead.SEEDS[0]:
            raise SystemExit(f"--seeds must start with {headtohead.SEEDS[0]}, the seed whose adapters ship")
        headtohead.run(out, seeds=seeds, quick=args.quick,
                       adapter_out=out.parent / "adapters" if args.quick else headtohead.ADAPTER_DIR)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
