"""The head-to-head's confidence gates, chosen again with validation questions the documents do not answer.

A gate chosen on answerable validation questions alone never sees the answers it exists to stop: every
answer it is tuned on has a right reply somewhere. ``python -m ragft.experiments gates`` asks every
stored system and seed of ``ragft/results/head_to_head.json`` the 60 questions of
``ragft/data/questions/validation_unanswerable.jsonl``, at the settings the head-to-head chose on
validation (retrieval, reader, adapter: nothing else is tuned), and adds to each stored evaluation:

- ``validation_unanswerable``: the graded replies;
- ``threshold``: chosen again by ``ragft.calibration.choose_threshold`` on the 128 validation questions and
  the 60 unanswerable ones together (``ragft.calibration.joined``);
- ``threshold_answerable_only``: the threshold it replaces, chosen on the 128 answerable ones.

A fresh ``python -m ragft.experiments head-to-head`` does the same inside its run (it asks the
validation unanswerable questions with the other sets), so this command only completes a stored run.
Seed 0's adapters are the shipped ones; seeds 1 and 2 are those ``python -m ragft.experiments wording``
trained again (their replies matched the stored ones on 3 of 4 adapters exactly; see ``wording``).
Resumable: each evaluation is stored as soon as it is done, and a rerun skips the ones that hold the
set.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import ragft
from ragft.calibration import choose_threshold, joined
from ragft.experiments.head_to_head import RAG_CONFIGS
from ragft.experiments.head_to_head import STORED as H2H_STORED
from ragft.experiments.results import load_partial, save_stored
from ragft.experiments.wording import adapter_folder
from ragft.finetune import load_adapter
from ragft.headtohead import READS, SEEDS, SYSTEMS, TRAINED, build_retriever, grade, load_setup, replies
from ragft.models import load_embedder, load_generator
from ragft.rag import Reader

SET = "validation_unanswerable"
STORED = H2H_STORED  # the gates belong to the head-to-head's stored evaluations


def run(out: Path = STORED) -> dict[str, Any]:
    """Add the validation unanswerable questions and the gate chosen with them to every stored evaluation."""
    ragft.set_seed(0)
    results = load_partial(out)
    if not results.get("units"):
        raise FileNotFoundError(f"{out} holds no head-to-head run: run python -m ragft.experiments head-to-head")
    setup = load_setup()
    questions = setup.validation_unanswerable
    if not questions:
        raise FileNotFoundError("ragft/data/questions/validation_unanswerable.jsonl is missing or empty")
    model, tokenizer = load_generator()
    embedder = load_embedder()
    config = results["rag_config"]
    retriever = build_retriever(embedder, setup.documents, config["hybrid"])
    reader = Reader(retriever, k=config["k"], sentences=config["sentences"], instructed=config["instructed"])
    sentence_reader = reader if reader.selector else Reader(retriever, **RAG_CONFIGS["sentences k2 n3 instructed"])
    units = results["units"]
    started = time.perf_counter()
    for system in SYSTEMS:
        for seed in ([None] if system not in TRAINED else SEEDS):
            name = system + (f" seed {seed}" if seed is not None else "")
            unit = units[name]
            if SET in unit:
                continue
            use = (sentence_reader if system == "raft" else reader) if system in READS else None
            if seed is not None and not (adapter_folder(TRAINED[system], seed) / "adapter_config.json").is_file():
                raise FileNotFoundError(f"{adapter_folder(TRAINED[system], seed)} is missing: "
                                        "run python -m ragft.experiments wording --parts adapters")
            m = load_adapter(model, adapter_folder(TRAINED[system], seed)) if seed is not None else model
            asked = time.perf_counter()
            unit[SET] = grade(replies(m, tokenizer, questions, use), questions)
            if seed is not None:
                model = m.unload()
            unit["threshold_answerable_only"] = unit.get("threshold_answerable_only", unit["threshold"])
            unit["threshold"] = choose_threshold(joined(unit["validation"], unit[SET]))
            unit[SET + "_seconds"] = round(time.perf_counter() - asked, 1)
            save_stored(out, results)
            print(json.dumps({name: {"answered": sum(not x for x in unit[SET]["idk"]),
                                     "threshold before": unit["threshold_answerable_only"],
                                     "threshold": unit["threshold"]}}), flush=True)
    results["sizes"][SET] = len(questions)
    results["question_ids"][SET] = [q.id for q in questions]
    results["gates_seconds"] = round(results.get("gates_seconds", 0.0) + time.perf_counter() - started, 1)
    save_stored(out, results)
    return results
