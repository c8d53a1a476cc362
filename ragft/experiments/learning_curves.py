"""The facts learning curve of chapter 3: LoRA adapters trained on 1, 2 or 3 paraphrases per fact.

``python -m ragft.experiments learning-curves`` (about 5 minutes on two cores) writes ``ragft/results/learning_curves.json``."""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import ragft
from ragft.adapter_cache import fit_lora
from ragft.data import load_facts, load_questions
from ragft.evaluate import accuracy
from ragft.finetune import QA_SYSTEM, fact_example
from ragft.models import ANSWER_TOKENS, generate, load_generator

PARAPHRASES = (1, 2, 3)
N_FACTS = 24
from ragft.experiments.results import save_stored, stored_path

STORED = stored_path("learning_curves")


def chosen_facts(n: int = N_FACTS, seed: int = 0) -> list[str]:
    """The fact ids the facts experiments use (the same draw as chapter 1)."""
    return sorted(random.Random(seed).sample(sorted(f.id for f in load_facts()), n))


def facts_point(model: Any, tokenizer: Any, paraphrases: int, epochs: float = 4.0, batch_size: int = 8,
                lr: float = 3e-3, seed: int = 0) -> dict[str, Any]:
    """Train a fresh adapter on ``paraphrases`` training questions per chosen fact; score trained and new wording."""
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
        replies = generate(tuned, tokenizer, [q.question for q in questions], max_new_tokens=ANSWER_TOKENS, system=QA_SYSTEM,
                           batch_size=16)
        return round(accuracy(replies, [q.answers for q in questions]), 4)

    result = {"paraphrases": paraphrases, "examples": len(train), "steps": steps, "trained_wording": score(first),
              "new_wording": score(test), "train_loss": [round(x, 4) for x in history.train_loss],
              "seconds": round(time.perf_counter() - started, 1)}
    tuned.unload()
    return result


def learning_curves(out: Path) -> dict[str, Any]:
    """Every point of the facts curve, written to ``out`` as JSON (the behaviour curves are in ``triage``)."""
    ragft.set_seed(0)
    model, tokenizer = load_generator()
    results: dict[str, Any] = {"facts": [], "versions": ragft.versions(), "machine": ragft.env.machine()}
    for p in PARAPHRASES:
        results["facts"].append(facts_point(model, tokenizer, p))
        print(json.dumps({k: v for k, v in results["facts"][-1].items() if "loss" not in k}), flush=True)
    save_stored(out, results, indent=1)
    return results
