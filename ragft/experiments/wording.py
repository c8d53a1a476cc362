"""Chapter 5's wording axis: the head-to-head's five systems asked the same facts as users type them.

``python -m ragft.experiments wording`` stores everything in ``ragft/results/wording.json`` (resumable:
each finished unit is stored at once and a rerun skips it). Three parts:

- ``adapters``: the closed-book and RAFT adapters of the head-to-head's seeds 1 and 2, trained again
  exactly as ``ragft.experiments.head_to_head`` trained them (same split, recipe, seed and early stop;
  only seed 0's adapters ship). Each unit stores its validation curve beside the stored one: training
  on a CPU is not bit-for-bit repeatable, so the check is that the curves agree up to the kept step.
- ``distances``: for every question of every set, the cosine (the book's embedder) to its nearest
  training question, to the nearest training question about the same fact, and to its gold chunk.
- ``plain``: every system and seed, at the settings chosen on validation in the head-to-head (reader,
  retrieval, threshold: nothing is tuned again), on the 255 plainly worded questions of
  ``ragft/data/questions/test_plain.jsonl``; then the retrained adapters answer the 255 test questions
  again, so that their replies can be compared with the stored ones.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import ragft
from ragft.chunking import chunk_by_heading
from ragft.data import Question, load_questions, normalize
from ragft.experiments.head_to_head import RAG_CONFIGS, RECIPES, STOP_QUESTIONS, train_adapter
from ragft.experiments.results import load_partial, load_stored, save_stored, stored_path
from ragft.finetune import QA_SYSTEM, closed_book_examples, load_adapter
from ragft.headtohead import ADAPTER_DIR, READS, SEEDS, SYSTEMS, TRAINED, build_retriever, grade, load_setup, replies
from ragft.models import cache_dir, load_embedder, load_generator
from ragft.raft import raft_examples
from ragft.rag import Reader

STORED = stored_path("wording")
PLAIN = "test_plain"  # the question split asked in plain words
PARTS = ("adapters", "distances", "plain")
RETRAINED = tuple(s for s in SEEDS if s != SEEDS[0])  # seed 0's adapters ship under ragft/adapters/
DISTANCE_SETS = ("train", "validation", "test", PLAIN, "unanswerable", "updates")


def adapter_folder(kind: str, seed: int) -> Path:
    """Where an adapter of the head-to-head lives: the shipped one for seed 0, the retrained cache otherwise
    (the folder ``python -m ragft.experiments head-to-head`` uses too)."""
    if seed == SEEDS[0]:
        return ADAPTER_DIR / f"h2h-{kind}"
    return cache_dir() / "h2h-runs" / f"{kind}-seed{seed}"


def gold_chunk_texts(question: Question, chunks_by_doc: dict[str, list[str]]) -> list[str]:
    """The chunks of a question's gold documents that hold its answer (all of their chunks if none does)."""
    chunks = [c for d in question.doc_ids for c in chunks_by_doc.get(d, [])]
    holding = [c for c in chunks if any(normalize(a) in normalize(c) for a in question.answers)]
    return holding or chunks


def distances(embedder: Any, sets: dict[str, Sequence[Question]], train: Sequence[Question],
              chunks_by_doc: dict[str, list[str]]) -> dict[str, dict[str, list]]:
    """Per set and question: cosine to the nearest training question (``train_nearest``), to the nearest
    one about the same fact (``train_same_fact``, None for a fact never trained on) and to the best gold
    chunk (``gold_chunk``, None without an answer)."""
    def encode(texts: Sequence[str]) -> Any:
        return embedder.encode(list(texts), normalize_embeddings=True, show_progress_bar=False, batch_size=64)

    trained = encode([q.question for q in train])
    train_facts = [q.fact_ids[0] for q in train]
    out = {}
    for name, questions in sets.items():
        vectors = encode([q.question for q in questions])
        sims = vectors @ trained.T
        rows: dict[str, list] = {"id": [], "train_nearest": [], "train_same_fact": [], "gold_chunk": []}
        for i, q in enumerate(questions):
            own = [j for j, f in enumerate(train_facts) if q.fact_ids and f == q.fact_ids[0]]
            if name == "train":  # a training question is its own nearest: use the others
                others = [j for j in range(len(train)) if train[j].id != q.id]
                nearest = float(sims[i, others].max())
                own = [j for j in own if train[j].id != q.id]
            else:
                nearest = float(sims[i].max())
            gold = gold_chunk_texts(q, chunks_by_doc) if q.answer else []
            rows["id"].append(q.id)
            rows["train_nearest"].append(round(nearest, 4))
            rows["train_same_fact"].append(round(float(sims[i, own].max()), 4) if own else None)
            rows["gold_chunk"].append(round(float((encode(gold) @ vectors[i]).max()), 4) if gold else None)
        out[name] = rows
    return out


def run(out: Path = STORED, parts: Sequence[str] = PARTS) -> dict[str, Any]:
    """Every unit of the parts asked for, each stored in ``out`` as soon as it is done."""
    ragft.set_seed(0)
    results: dict[str, Any] = load_partial(out)
    units = results.setdefault("units", {})
    h2h = load_stored("head_to_head")
    setup = load_setup()
    model, tokenizer = load_generator()
    embedder = load_embedder()
    retriever = build_retriever(embedder, setup.documents, h2h["rag_config"]["hybrid"])
    config = h2h["rag_config"]
    reader = Reader(retriever, k=config["k"], sentences=config["sentences"], instructed=config["instructed"])
    sentence_reader = reader if reader.selector else Reader(retriever, **RAG_CONFIGS["sentences k2 n3 instructed"])
    trained = set(setup.trained_ids)
    stop_pool = [q for q in setup.validation if q.fact_ids[0] in trained]
    stop = sorted(random.Random(1).sample(stop_pool, min(STOP_QUESTIONS, len(stop_pool))), key=lambda q: q.id)
    results.update({"versions": ragft.versions(), "machine": ragft.env.machine(), "rag_config": config})

    def unit(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name not in units:
            started = time.perf_counter()
            units[name] = fn()
            units[name]["unit_seconds"] = round(time.perf_counter() - started, 1)
            save_stored(out, results)
            print(json.dumps({name: {k: v for k, v in units[name].items() if not isinstance(v, (list, dict))}}),
                  flush=True)
        return units[name]

    def score_fn(use: Reader | None) -> Callable[[Any], float]:
        def score(m: Any) -> float:
            g = grade(replies(m, tokenizer, stop, use), stop)
            return sum(g["correct"]) / len(stop)
        return score

    if "adapters" in parts:
        for seed in RETRAINED:
            for kind, examples, system, use in (
                    ("closed-book", lambda s: closed_book_examples(setup.train, setup.facts), QA_SYSTEM, None),
                    ("raft", lambda s: raft_examples(sentence_reader, setup.train, setup.facts,
                                                     RECIPES["raft"]["p_gold"], s),
                     sentence_reader.system, sentence_reader)):
                folder = adapter_folder(kind, seed)

                def train_one() -> dict[str, Any]:
                    nonlocal model
                    tuned, info = train_adapter(kind, model, tokenizer, examples(seed), score_fn(use), seed, system)
                    tuned.save_pretrained(folder)
                    model = tuned.unload()
                    before = h2h["units"][f"train {kind} seed {seed}"]
                    info["stored_val_accuracy"] = before["val_accuracy"]
                    info["same_as_stored"] = (info["val_accuracy"] == before["val_accuracy"]
                                              and info["best_step"] == before["best_step"])
                    return info

                if not (folder / "adapter_config.json").is_file():
                    units.pop(f"train {kind} seed {seed}", None)
                unit(f"train {kind} seed {seed}", train_one)

    if "distances" in parts or "plain" in parts:
        questions = {name: sorted(load_questions(name), key=lambda q: q.id) for name in DISTANCE_SETS
                     if name != "validation"}
        questions["validation"] = setup.validation
    if "distances" in parts:
        chunks_by_doc: dict[str, list[str]] = {}
        for d in setup.documents:
            chunks_by_doc[d.id] = [c.text for c in chunk_by_heading(d)]
        unit("distances", lambda: distances(embedder, questions, setup.train, chunks_by_doc))

    if "plain" in parts:
        plain = questions[PLAIN]
        results["question_ids"] = [q.id for q in plain]
        for system in SYSTEMS:
            for seed in ([None] if system not in TRAINED else SEEDS):
                name = f"{system}" + (f" seed {seed}" if seed is not None else "")

                def ask(system: str = system, seed: int | None = seed) -> dict[str, Any]:
                    nonlocal model
                    use = (sentence_reader if system == "raft" else reader) if system in READS else None
                    m = load_adapter(model, adapter_folder(TRAINED[system], seed)) if seed is not None else model
                    graded = grade(replies(m, tokenizer, plain, use), plain)
                    if seed is not None:
                        model = m.unload()
                    return {"seed": seed, "threshold": h2h["units"][name]["threshold"], PLAIN: graded}

                if seed is not None and not (adapter_folder(TRAINED[system], seed) / "adapter_config.json").is_file():
                    raise FileNotFoundError(f"{adapter_folder(TRAINED[system], seed)} is missing: run the adapters part")
                unit(name, ask)
        # Are the retrained adapters the stored systems? Each one answers the 255 test questions again.
        for seed in RETRAINED:
            for system in ("finetuned", "raft"):
                def again(system: str = system, seed: int = seed) -> dict[str, Any]:
                    nonlocal model
                    use = sentence_reader if system == "raft" else None
                    m = load_adapter(model, adapter_folder(TRAINED[system], seed))
                    graded = grade(replies(m, tokenizer, setup.test, use), setup.test)
                    model = m.unload()
                    return {"seed": seed, "test": graded}

                unit(f"test again {system} seed {seed}", again)
    save_stored(out, results)
    return results
