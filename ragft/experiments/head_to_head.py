"""Chapter 5's experiment: five systems, every held-out question, each system at its fair best.

``python -m ragft.experiments head-to-head`` runs it (hours on two CPU cores; resumable: every finished
unit is stored in ``ragft/results/head_to_head.json`` at once, and a rerun skips what is stored). The
chapter's notebooks compute their tables from that file and re-run a slice live.

The five systems:

- ``base``: the instruction model alone, closed book;
- ``rag``: the same model reading retrieved text (retrieval, context and prompt tuned on validation);
- ``finetuned``: a LoRA adapter trained on the training paraphrases of the facts, closed book;
- ``rag+finetuned``: that adapter, reading retrieved text as ``rag`` does;
- ``raft``: an adapter trained to read (RAFT): questions after retrieved sentences, with the short
  answer as target, or "I don't know." when the sentences do not hold it.

The split, fixed for every system: one fact in five is held out of all training (*unseen* facts); of
the three training paraphrases of every other fact, two are trained on and one is *validation*
(with the third paraphrase of the unseen facts). Every choice (RAG configuration, training step,
confidence threshold) is made on validation; the 255 test, 61 unanswerable and 33 update questions
are only ever scored.
"""
from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import ragft
from ragft.calibration import choose_threshold, joined
from ragft.chunking import chunk_by_heading
from ragft.data import Question, load_documents
from ragft.evaluate import recall_at_k
from ragft.finetune import QA_SYSTEM, add_lora, closed_book_examples, load_adapter, tokenize_example, train
from ragft.headtohead import (
    ADAPTER_DIR,
    MAX_NEW_TOKENS,
    READS,
    SEEDS,
    SYSTEMS,
    build_retriever,
    grade,
    load_setup,
    replies,
    updated_documents,
    updated_facts,
)
from ragft.models import cache_dir, chat_prompt, generate, load_embedder, load_generator, used_whole_budget
from ragft.raft import raft_examples
from ragft.rag import Reader
from ragft.stats import percentiles

# What was tried for the RAG reader, on validation (k sections retrieved; "sentences": the n sentences of
# those sections most similar to the question; "instructed": a system message that says to answer with
# the words of the text and to say "I don't know" when it does not say).
RAG_CONFIGS = {
    "section k1 plain": dict(k=1, sentences=None, instructed=False),
    "section k1 instructed": dict(k=1, sentences=None, instructed=True),
    "sentences k2 n3 plain": dict(k=2, sentences=3, instructed=False),
    "sentences k2 n3 instructed": dict(k=2, sentences=3, instructed=True),
    "sentences k3 n2 instructed": dict(k=3, sentences=2, instructed=True),
}
TUNE_QUESTIONS = 64  # validation questions that score each RAG configuration
THRESHOLD_QUESTIONS = 128  # validation questions on which each system's confidence threshold is chosen
STOP_QUESTIONS = 64  # validation questions that score an adapter during training (early stopping)
RECIPES = {  # LoRA on the top 8 layers, batch 8; validated every EVAL_EVERY steps, the best step kept
    "closed-book": dict(lr=3e-3, r=8, max_epochs=8, patience=2, schedule="constant"),
    "raft": dict(lr=2e-3, r=8, max_epochs=3, patience=2, schedule="constant", p_gold=0.8),
}
BATCH_SIZE = 8
EVAL_EVERY = 50
LAYERS = range(22, 30)
from ragft.experiments.results import load_partial, save_stored, stored_path

STORED = stored_path("head_to_head")


def train_adapter(kind: str, model: Any, tokenizer: Any, examples: Sequence[Any],
                  score: Callable[[Any], float] | None, seed: int, system: str | None, quick: bool = False,
                  steps: int | None = None) -> tuple[Any, dict[str, Any]]:
    """LoRA trained until the validation score stops improving (the best step's weights are kept);
    with ``score=None``, for exactly ``steps`` steps."""
    import torch

    recipe = RECIPES[kind]
    data = [tokenize_example(tokenizer, e, system) for e in examples]
    if steps is None:
        steps = 4 if quick else math.ceil(recipe["max_epochs"] * len(data) / BATCH_SIZE)
    torch.manual_seed(seed)
    model = add_lora(model, r=recipe["r"], alpha=2 * recipe["r"], layers=LAYERS)
    started = time.perf_counter()
    history = train(model, data, tokenizer.pad_token_id, batch_size=BATCH_SIZE, lr=recipe["lr"],
                    eval_every=2 if quick else EVAL_EVERY, seed=seed, steps=steps, schedule=recipe["schedule"],
                    score_fn=score, patience=recipe["patience"] if score else None, progress=False)
    seconds = time.perf_counter() - started
    return model, {"recipe": recipe, "examples": len(data), "max_steps": steps, "steps_run": len(history.steps),
                   "best_step": history.best_step, "val_steps": history.val_steps,
                   "val_accuracy": [round(x, 4) for x in history.val_score],
                   "train_loss": [round(x, 4) for x in history.train_loss[::5]],
                   "training_seconds": round(seconds, 1), "seconds_per_step": round(history.seconds_per_step, 3)}


LATENCY_CHILD = """
import json, sys
from ragft.experiments.head_to_head import serve
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


def serve(system: str, adapter: str | None, reader_settings: dict[str, Any] | None, questions: list[str]
          ) -> dict[str, float]:
    """Load one system as it would be deployed (adapter merged), answer one question at a time.

    Returns the per-question latency (p50, p95, in ms, retrieval included) and the process's peak memory.
    """
    import numpy as np
    import torch  # noqa: F401  (imported first, so that the baseline includes it)

    baseline = rss_mb()
    model, tokenizer = load_generator()
    if adapter:
        model = load_adapter(model, adapter).merge_and_unload()
    reader = None
    if reader_settings is not None:
        settings = dict(reader_settings)
        hybrid = settings.pop("hybrid")
        reader = Reader(build_retriever(load_embedder(), load_documents(), hybrid), **settings)
    seconds = []
    for q in [questions[0]] + questions:  # the first answer warms up and is not counted
        started = time.perf_counter()
        if reader is not None:
            prompt = reader.prompts([q])[0][0]
            generate(model, tokenizer, prompt, max_new_tokens=MAX_NEW_TOKENS, system=reader.system)
        else:
            generate(model, tokenizer, q, max_new_tokens=MAX_NEW_TOKENS, system=QA_SYSTEM)
        seconds.append(time.perf_counter() - started)
    ms = np.array(seconds[1:]) * 1000
    return {**percentiles(ms, 1),
            "peak_mb": round(rss_mb("VmHWM"), 1), "python_torch_mb": round(baseline, 1)}


def budget_check(model: Any, tokenizer: Any, test: Sequence[Question],
                 systems: dict[str, tuple[dict[str, Any], str | None, Reader | None]], adapters: Path,
                 factor: int = 2) -> dict[str, Any]:
    """Does the reader budget cut answers short? For each system (its stored run, its shipped adapter or
    None, its reader or None): every test reply scored wrong that used the whole budget is asked again with
    ``factor`` times the budget. A reply that then gives the answer was cut in mid-answer."""
    out: dict[str, Any] = {"budget": MAX_NEW_TOKENS, "factor": factor, "questions": len(test)}
    for system, (run_, kind, use) in systems.items():
        graded = run_["test"]
        full = [i for i, (reply, ok) in enumerate(zip(graded["reply"], graded["correct"]))
                if not ok and used_whole_budget(tokenizer, reply, MAX_NEW_TOKENS)]
        tuned = load_adapter(model, adapters / f"h2h-{kind}") if kind else model
        asked = [test[i] for i in full]
        again = grade(replies(tuned, tokenizer, asked, use, max_new_tokens=factor * MAX_NEW_TOKENS), asked)
        if kind:
            tuned.unload()
        out[system] = {"reasked": [q.id for q in asked], "turned_right": again["correct"], "reply": again["reply"]}
        print(f"budget check, {system}: {len(full)} wrong replies used the whole budget; with "
              f"{factor * MAX_NEW_TOKENS} tokens {sum(again['correct'])} give the answer", flush=True)
    return out


LATENCY_SPLIT_QUESTIONS = 30  # test questions timed for claim 2 (each: 3 systems, prompt reading and 32 tokens)


def latency_split(model: Any, tokenizer: Any, readers: dict[str, Reader | None], questions: Sequence[str],
                  new_tokens: int = MAX_NEW_TOKENS, repeats: int = 2) -> dict[str, Any]:
    """Claim 2's latency, split: per question and system, the milliseconds of retrieval (search and prompt
    building), of reading the prompt (one forward pass over it) and of writing exactly ``new_tokens`` tokens.

    Every system writes the same number of tokens (``min_new_tokens`` = ``max_new_tokens``), so the totals
    differ only by what the approach adds: retrieval and a longer prompt. All prompts run on the base model:
    a merged LoRA adapter has the base model's shape and cost. The fastest of ``repeats`` runs counts; the
    first question warms up and is not stored.
    """
    import torch

    def ms(fn: Callable[[], Any], times: int) -> float:
        best = math.inf
        for _ in range(times):
            started = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - started)
        return round(best * 1000, 1)

    rows: dict[str, dict[str, list[float]]] = {
        s: {"retrieval_ms": [], "prompt_tokens": [], "prompt_ms": [], "generate_ms": []} for s in readers}
    for i, q in enumerate([questions[0], *questions]):
        for system, reader in readers.items():
            if reader is None:
                retrieval, prompt, instruction = 0.0, q, QA_SYSTEM
            else:
                retrieval = ms(lambda: reader.prompts([q]), repeats)
                prompt, instruction = reader.prompts([q])[0][0], reader.system
            ids = tokenizer(chat_prompt(tokenizer, prompt, instruction), return_tensors="pt")
            with torch.no_grad():
                reading = ms(lambda: model(**ids), repeats)
                writing = ms(lambda: model.generate(**ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                                    do_sample=False, pad_token_id=tokenizer.pad_token_id), 1)
            if i == 0:
                continue  # warm-up
            row = rows[system]
            row["retrieval_ms"].append(retrieval)
            row["prompt_tokens"].append(int(ids["input_ids"].shape[1]))
            row["prompt_ms"].append(reading)
            row["generate_ms"].append(writing)  # reading the prompt, then writing new_tokens tokens
    return {"questions": len(questions), "new_tokens": new_tokens, "systems": rows}


def measure_serving(system: str, adapter: str | None, reader_settings: dict[str, Any] | None,
                    questions: list[str]) -> dict[str, float]:
    """``serve`` in a child process (so that peak memory belongs to this system alone)."""
    args = json.dumps([system, adapter, reader_settings, questions])
    done = subprocess.run([sys.executable, "-c", LATENCY_CHILD, args], capture_output=True, text=True, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"serving {system} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def run(out: Path = STORED, seeds: Sequence[int] = SEEDS, quick: bool = False, adapter_out: Path = ADAPTER_DIR,
        latency_questions: int = 10) -> dict[str, Any]:
    """Every unit of the experiment, each stored in ``out`` as soon as it is done (a rerun skips stored units).

    Order: the retrieval and reader choices, the untrained systems, then each seed's closed-book and RAFT
    adapters with the systems that use them; the closed-book retrain on the updated facts; serving cost.
    """
    ragft.set_seed(0)
    results: dict[str, Any] = load_partial(out)
    results.update({"versions": ragft.versions(), "machine": ragft.env.machine()})
    setup = load_setup(quick=quick)
    threshold_sample = sorted(random.Random(2).sample(setup.validation, min(THRESHOLD_QUESTIONS,
                                                                             len(setup.validation))), key=lambda q: q.id)
    sets = {"validation": threshold_sample, "validation_unanswerable": setup.validation_unanswerable,
            "test": setup.test, "unanswerable": setup.unanswerable, "updates": setup.updates}
    results["sizes"] = {"train": len(setup.train), **{k: len(v) for k, v in sets.items()},
                        "trained_facts": len(setup.trained_ids), "unseen_facts": len(setup.unseen_ids)}
    results["unseen_facts"] = setup.unseen_ids
    results["question_ids"] = {k: [q.id for q in v] for k, v in sets.items()}
    units = results.setdefault("units", {})
    model, tokenizer = load_generator()
    embedder = load_embedder()
    work = cache_dir() / ("h2h-quick" if quick else "h2h-runs")
    rng = random.Random(0)
    tune = sorted(rng.sample(setup.validation, min(TUNE_QUESTIONS, len(setup.validation))), key=lambda q: q.id)
    trained = set(setup.trained_ids)
    stop_pool = [q for q in setup.validation if q.fact_ids[0] in trained]
    stop = sorted(random.Random(1).sample(stop_pool, min(STOP_QUESTIONS, len(stop_pool))), key=lambda q: q.id)

    def save() -> None:
        save_stored(out, results)

    def unit(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name not in units:
            started = time.perf_counter()
            units[name] = fn()
            units[name]["unit_seconds"] = round(time.perf_counter() - started, 1)
            save()
            print(json.dumps({name: {k: v for k, v in units[name].items() if not isinstance(v, (list, dict))}}),
                  flush=True)
        return units[name]

    # 1. Retrieval: dense or hybrid (dense + BM25 by reciprocal rank fusion), by recall on validation.
    started = time.perf_counter()
    dense = build_retriever(embedder, setup.documents, hybrid=False)
    build_seconds = time.perf_counter() - started
    hybrid = build_retriever(embedder, setup.documents, hybrid=True)

    def retrieval() -> dict[str, Any]:
        gold = [q.doc_ids for q in setup.validation]
        scores = {}
        for name, r in (("dense", dense), ("hybrid", hybrid)):
            hits = r.search([q.question for q in setup.validation], k=3)
            docs = [[c.doc_id for c, _ in h] for h in hits]
            scores[name] = {f"recall@{k}": round(recall_at_k(docs, gold, k), 4) for k in (1, 2, 3)}
        chosen = "hybrid" if scores["hybrid"]["recall@1"] >= scores["dense"]["recall@1"] else "dense"
        return {"scores": scores, "chosen": chosen, "questions": len(setup.validation)}

    chosen_retrieval = unit("retrieval", retrieval)["chosen"]
    retriever = hybrid if chosen_retrieval == "hybrid" else dense
    started = time.perf_counter()
    fresh = retriever.update([c for d in updated_documents(setup.documents, setup.updates) for c in chunk_by_heading(d)])
    reindex_seconds = time.perf_counter() - started
    changed = updated_documents(setup.documents, setup.updates)
    results["model_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    results["embedder_bytes"] = sum(p.numel() * p.element_size() for p in embedder.parameters())
    results["index"] = results.get("index") or {  # a resumed run keeps the timings it stored
                        "chunks": len(retriever.chunks), "build_seconds": round(build_seconds, 2),
                        "reindex_seconds": round(reindex_seconds, 2),
                        "changed_documents": len(changed),
                        "changed_chunks": sum(len(chunk_by_heading(d)) for d in changed),
                        "bytes": dense.index.ntotal * dense.index.d * 4}

    # 2. The RAG reader: every configuration on the same validation questions.
    for name, config in RAG_CONFIGS.items():
        def tune_unit(config: dict[str, Any] = config) -> dict[str, Any]:
            g = grade(replies(model, tokenizer, tune, Reader(retriever, **config)), tune)
            return {"config": config, "accuracy": round(sum(g["correct"]) / len(tune), 4),
                    "idk": round(sum(g["idk"]) / len(tune), 4), "questions": len(tune)}

        unit(f"rag config {name}", tune_unit)
    best = max(RAG_CONFIGS, key=lambda n: (units[f"rag config {n}"]["accuracy"], -list(RAG_CONFIGS).index(n)))
    results["rag_config"] = {"name": best, **RAG_CONFIGS[best], "hybrid": chosen_retrieval == "hybrid"}
    reader = Reader(retriever, **RAG_CONFIGS[best])
    sentence_reader = reader if reader.selector else Reader(retriever, **RAG_CONFIGS["sentences k2 n3 instructed"])

    def evaluate(system: str, m: Any, extra: dict[str, Any] | None = None, closed: bool = False
                 ) -> dict[str, Any]:
        """Every question set; updates asked before the change is absorbed and after (re-index for readers)."""
        r = sentence_reader if system == "raft" else reader
        use = None if closed or system not in READS else r
        result: dict[str, Any] = dict(extra or {})
        for name, questions in sets.items():
            result[name] = grade(replies(m, tokenizer, questions, use), questions)
        if use is not None:
            result["updates_after"] = grade(replies(m, tokenizer, setup.updates, use.with_retriever(fresh)),
                                            setup.updates)
        result["threshold"] = choose_threshold(joined(result["validation"], result["validation_unanswerable"]))
        return result

    unit("base", lambda: evaluate("base", model))
    unit("rag", lambda: evaluate("rag", model))

    # 3. The trained systems, seed by seed; the first seed's adapters are kept as package data.
    def score_fn(use: Reader | None) -> Callable[[Any], float]:
        def score(m: Any) -> float:
            g = grade(replies(m, tokenizer, stop, use), stop)
            return sum(g["correct"]) / len(stop)
        return score

    def adapter_folder(kind: str, seed: int, facts: str = "") -> Path:
        return work / f"{kind}{facts}-seed{seed}"

    def trained_model(kind: str, seed: int, examples_fn: Callable[[], list[Any]], system: str | None,
                      use: Reader | None, facts: str = "", steps: int | None = None) -> tuple[Any, dict[str, Any]]:
        folder = adapter_folder(kind, seed, facts)
        name = f"train {kind}{facts} seed {seed}"
        if name in units and (folder / "adapter_config.json").is_file():
            return load_adapter(model, folder), units[name]
        units.pop(name, None)
        tuned, info = train_adapter(kind, model, tokenizer, examples_fn(), None if steps else score_fn(use), seed,
                                    system, quick, steps)
        tuned.save_pretrained(folder)
        info["adapter_bytes"] = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        units[name] = info
        save()
        print(json.dumps({name: {k: v for k, v in info.items() if not isinstance(v, (list, dict))}}), flush=True)
        return tuned, info

    def needs(*names: str) -> bool:
        return any(n not in units for n in names)

    for seed in seeds:
        if needs(f"finetuned seed {seed}", f"rag+finetuned seed {seed}") or (seed == seeds[0] and needs("retrain")):
            tuned, info = trained_model("closed-book", seed, lambda: closed_book_examples(setup.train, setup.facts),
                                        QA_SYSTEM, None)
            unit(f"finetuned seed {seed}", lambda: evaluate("finetuned", tuned, {"seed": seed}))
            unit(f"rag+finetuned seed {seed}", lambda: evaluate("rag+finetuned", tuned, {"seed": seed}))
            model = tuned.unload()
        if needs(f"raft seed {seed}", f"raft closed seed {seed}"):
            recipe = RECIPES["raft"]
            tuned, info = trained_model(
                "raft", seed, lambda: raft_examples(sentence_reader, setup.train, setup.facts, recipe["p_gold"], seed),
                sentence_reader.system, sentence_reader)
            unit(f"raft seed {seed}", lambda: evaluate("raft", tuned, {"seed": seed}))
            unit(f"raft closed seed {seed}", lambda: {"seed": seed, "test": grade(
                replies(tuned, tokenizer, setup.test, None), setup.test)})
            model = tuned.unload()
        if seed == seeds[0] and needs("retrain"):
            # Freshness for the closed-book fine-tune: train again on the updated facts, ask the updates.
            # (As many steps as the chosen closed-book adapter of this seed: what a team would re-run.)
            new_facts = updated_facts(setup.facts, setup.updates)
            same = units[f"train closed-book seed {seed}"]["best_step"]
            tuned, info = trained_model("closed-book", seed, lambda: closed_book_examples(setup.train, new_facts),
                                        QA_SYSTEM, None, facts="-updated", steps=same)
            unit("retrain", lambda: {"seed": seed, "training_seconds": info["training_seconds"],
                                     "updates": grade(replies(tuned, tokenizer, setup.updates, None), setup.updates)})
            model = tuned.unload()
        if seed == seeds[0]:
            if (not quick or adapter_out != ADAPTER_DIR) and adapter_folder("closed-book", seed).is_dir():
                ship_adapters(work, seed, adapter_out)  # a resumed run that trained nothing keeps the shipped ones
            if needs("serving"):
                sample = [q.question for q in setup.test[:3 if quick else latency_questions]]
                settings = {**RAG_CONFIGS[best], "hybrid": chosen_retrieval == "hybrid"}
                raft_settings = {**sentence_reader.settings, "hybrid": chosen_retrieval == "hybrid"}
                folders = {"finetuned": adapter_folder("closed-book", seed),
                           "rag+finetuned": adapter_folder("closed-book", seed), "raft": adapter_folder("raft", seed)}

                def serving() -> dict[str, Any]:
                    return {s: measure_serving(s, str(folders[s]) if s in folders else None,
                                               raft_settings if s == "raft" else settings if s in READS else None,
                                               sample) for s in SYSTEMS}

                unit("serving", serving)
            if needs("budget check"):
                unit("budget check", lambda: budget_check(model, tokenizer, setup.test, {
                    "rag": (units["rag"], None, reader), "finetuned": (units[f"finetuned seed {seed}"], "closed-book", None),
                    "rag+finetuned": (units[f"rag+finetuned seed {seed}"], "closed-book", reader),
                    "raft": (units[f"raft seed {seed}"], "raft", sentence_reader)}, adapter_out))
            if needs("latency split"):
                timed = [q.question for q in setup.test[:3 if quick else LATENCY_SPLIT_QUESTIONS]]
                unit("latency split", lambda: latency_split(
                    model, tokenizer, {"finetuned": None, "rag": reader, "raft": sentence_reader}, timed))
    results["seeds"] = [s for s in SEEDS if all(f"{n} seed {s}" in units
                                                for n in ("finetuned", "rag+finetuned", "raft", "raft closed"))]
    save()
    return results


def ship_adapters(work: Path, seed: int, target: Path) -> None:
    """Copy the first seed's closed-book and RAFT adapters into the package (small safetensors files)."""
    import shutil

    for kind, name in (("closed-book", "h2h-closed-book"), ("raft", "h2h-raft")):
        source = work / f"{kind}-seed{seed}"
        if not (source / "adapter_config.json").is_file():
            continue
        dest = target / name
        dest.mkdir(parents=True, exist_ok=True)
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy2(source / f, dest / f)
        config = json.loads((dest / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"  # not this machine's cache path
        (dest / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
