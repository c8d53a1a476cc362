"""A house style and thread summaries: what a prompt, a retrieved text and a LoRA fine-tune each do for the
two use cases the source articles give fine-tuning beyond labels and formats.

``python -m ragft.experiments style`` (parts ``style`` and ``summaries``) writes ``ragft/results/style.json``
and ships the two adapters under ``ragft/adapters/style`` and ``ragft/adapters/summaries``. Every setting
(recipe, k, prompts) was fixed before the runs; the only choice made from data is each adapter's kept
step, on its validation set. The test sets are never looked at for a choice.
"""
from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import ragft
from ragft.chunking import Chunk
from ragft.data import load_documents, load_facts, load_questions
from ragft.experiments.results import check_parts, load_partial, save_stored, store_parts, stored_path
from ragft.finetune import Example, add_lora, evaluate_loss, tokenize_example, train
from ragft.headtohead import build_retriever
from ragft.models import chat_prompt, generate, load_embedder, load_generator
from ragft.retrieval import Retriever
from ragft.style import (STYLE_ADAPTER_DIR, StyleItem, compliance, load_style_guide, reply_prompt, style_items,
                         styled_reply)
from ragft.summaries import Thread, load_threads, note_prompt, note_query, score_notes

STORED = stored_path("style")
ADAPTERS = STYLE_ADAPTER_DIR.parent
PARTS = ("style", "summaries")
DOC_SPLIT = {"test": 16, "validation": 6}  # documents held out; the other 30 give the style training emails
FEW_SHOT_K = 3
STYLE_SYSTEMS = ("rag", "guide in prompt", "guide retrieved", "few-shot", "lora", "lora+rag")
SUMMARY_SYSTEMS = ("prompted", "rag", "lora", "lora+rag")
RECIPE = dict(r=8, alpha=16, layers=list(range(22, 30)), lr=2e-3, batch_size=8, max_steps=120, eval_every=10,
              patience=3)  # fixed before the runs, the triage recipe's shape; stopped on validation loss
SUMMARY_RECIPE = {**RECIPE, "batch_size": 4, "max_steps": 90}  # 3 epochs of the 120 training threads
STYLE_TOKENS = 64  # a styled reply is 25 to 50 tokens
NOTE_TOKENS = 128  # the longest reference note is under 110 tokens
BATCH = 8
GUIDE_ID = "style-guide"


def doc_split(seed: int = 0) -> dict[str, list[str]]:
    """Documents for the style emails: ``DOC_SPLIT`` of them held out for test and validation, with a fixed
    seed, so that no test answer is ever in a training reply."""
    ids = sorted(d.id for d in load_documents())
    random.Random(seed).shuffle(ids)
    n_test, n_val = DOC_SPLIT["test"], DOC_SPLIT["validation"]
    return {"test": sorted(ids[:n_test]), "validation": sorted(ids[n_test:n_test + n_val]),
            "train": sorted(ids[n_test + n_val:])}


def style_sets(quick: bool = False) -> dict[str, list[StyleItem]]:
    """Train, validation and test emails: one training paraphrase per fact of the train and validation
    documents, and every plainly worded test question about the test documents."""
    split = doc_split()
    first: dict[str, Any] = {}
    for q in sorted(load_questions("train"), key=lambda q: q.id):
        first.setdefault(q.fact_ids[0], q)
    def about(docs: list[str], questions: Sequence[Any]) -> list[Any]:
        return [q for q in questions if q.doc_ids[0] in set(docs)]
    sets = {"train": style_items(about(split["train"], list(first.values())), seed=1),
            "validation": style_items(about(split["validation"], list(first.values())), seed=2),
            "test": style_items(about(split["test"], sorted(load_questions("test_plain"), key=lambda q: q.id)), seed=3)}
    if quick:
        sets = {"train": sets["train"][:24], "validation": sets["validation"][:8], "test": sets["test"][:8]}
    return sets


def _timed_replies(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int) -> tuple[list[str], float]:
    started = time.perf_counter()
    out = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=BATCH)
    return out, (time.perf_counter() - started) / max(len(prompts), 1)


def _prompt_tokens(tokenizer: Any, prompts: Sequence[str]) -> float:
    return round(sum(len(tokenizer(chat_prompt(tokenizer, p), add_special_tokens=False)["input_ids"])
                     for p in prompts) / len(prompts), 1)


def fit_adapter(model: Any, tokenizer: Any, examples: list[Example], val_examples: list[Example],
                recipe: dict[str, Any], folder: Path) -> tuple[Any, dict[str, Any]]:
    """Train a LoRA adapter until the validation loss stops improving, keep its best step, save it to ``folder``."""
    import torch

    data = [tokenize_example(tokenizer, e, max_length=1024) for e in examples]
    val = [tokenize_example(tokenizer, e, max_length=1024) for e in val_examples]
    pad = tokenizer.pad_token_id
    torch.manual_seed(0)
    model = add_lora(model, r=recipe["r"], alpha=recipe["alpha"], layers=recipe["layers"])
    started = time.perf_counter()
    history = train(model, data, pad, val_examples=val, batch_size=recipe["batch_size"], lr=recipe["lr"],
                    eval_every=recipe["eval_every"], steps=recipe["max_steps"], schedule="constant",
                    score_fn=lambda m: -evaluate_loss(m, val, pad), patience=recipe["patience"], progress=False)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"  # not this machine's cache path
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    for extra in folder.iterdir():
        if extra.name not in ("adapter_config.json", "adapter_model.safetensors"):
            extra.unlink()
    return model, {"recipe": recipe, "examples": len(data), "validation_examples": len(val),
                   "max_steps": recipe["max_steps"], "steps_run": len(history.steps), "best_step": history.best_step,
                   "train_loss": [round(x, 4) for x in history.train_loss], "val_steps": history.val_steps,
                   "val_loss": [round(x, 4) for x in history.val_loss], "training_seconds": round(seconds, 1),
                   "seconds_per_step": round(history.seconds_per_step, 3)}


def run_style(model: Any, tokenizer: Any, embedder: Any, adapter_dir: Path, quick: bool) -> dict[str, Any]:
    """The house style four ways (six systems) on the held-out emails; per-email outcomes stored."""
    sets = style_sets(quick)
    facts = {f.id: f for f in load_facts()}
    guide = load_style_guide()
    retriever = build_retriever(embedder, load_documents(), hybrid=False)
    # the knowledge base plus the style guide as one more section: what "the guide retrieved" searches
    with_guide = Retriever(embedder, retriever.chunks + [Chunk(GUIDE_ID, GUIDE_ID, guide)], show_progress_bar=False)

    def sections(items: Sequence[StyleItem]) -> list[Any]:
        return [h[0][0] for h in retriever.search([i.email for i in items], k=1)]

    def target(item: StyleItem) -> str:
        return styled_reply(item.first_name, facts[item.fact_id].statement)

    def examples(items: Sequence[StyleItem]) -> list[Example]:  # every other email with its retrieved section
        found = sections(items)
        return [Example(reply_prompt(i.email, [c.text] if n % 2 == 0 else []), target(i))
                for n, (i, c) in enumerate(zip(items, found))]

    test = sets["test"]
    found = sections(test)
    guided = with_guide.search([i.email for i in test], k=2)
    shot_items = random.Random(0).sample(sets["train"], FEW_SHOT_K)
    shots = [(i.email, target(i)) for i in shot_items]
    prompts = {
        "rag": [reply_prompt(i.email, [c.text]) for i, c in zip(test, found)],
        "guide in prompt": [reply_prompt(i.email, [c.text], guide=guide) for i, c in zip(test, found)],
        "guide retrieved": [reply_prompt(i.email, [c.text for c, _ in h]) for i, h in zip(test, guided)],
        "few-shot": [reply_prompt(i.email, [c.text], examples=shots) for i, c in zip(test, found)],
        "lora": [reply_prompt(i.email) for i in test],
        "lora+rag": [reply_prompt(i.email, [c.text]) for i, c in zip(test, found)],
    }
    out: dict[str, Any] = {
        "doc_split": doc_split(), "sizes": {k: len(v) for k, v in sets.items()},
        "test": [{"id": i.id, "first_name": i.first_name, "answers": list(i.answers), "doc_id": i.doc_id,
                  "email": i.email} for i in test],
        "retrieved": [c.id for c in found], "guide_retrieved": [int(any(c.id == GUIDE_ID for c, _ in h)) for h in guided],
        "few_shot_ids": [i.id for i in shot_items], "systems": {}}
    for system in STYLE_SYSTEMS[:4]:
        replies, seconds = _timed_replies(model, tokenizer, prompts[system], STYLE_TOKENS)
        out["systems"][system] = {"replies": replies, **compliance(replies, test), "seconds_per_reply": round(seconds, 3),
                                  "prompt_tokens": _prompt_tokens(tokenizer, prompts[system])}
        print(system, {k: sum(v) for k, v in compliance(replies, test).items()}, flush=True)
    tuned, record = fit_adapter(model, tokenizer, examples(sets["train"]), examples(sets["validation"]),
                                {**RECIPE, "max_steps": 20} if quick else RECIPE, adapter_dir)
    out["adapter"] = record
    for system in STYLE_SYSTEMS[4:]:
        replies, seconds = _timed_replies(tuned, tokenizer, prompts[system], STYLE_TOKENS)
        out["systems"][system] = {"replies": replies, **compliance(replies, test), "seconds_per_reply": round(seconds, 3),
                                  "prompt_tokens": _prompt_tokens(tokenizer, prompts[system]),
                                  "training_seconds": record["training_seconds"]}
        print(system, {k: sum(v) for k, v in compliance(replies, test).items()}, flush=True)
    tuned.unload()
    return out


def run_summaries(model: Any, tokenizer: Any, embedder: Any, adapter_dir: Path, quick: bool) -> dict[str, Any]:
    """Thread -> handover note: prompted, RAG-style, LoRA and LoRA with retrieval; per-thread outcomes stored."""
    threads = {s: load_threads(s) for s in ("train", "validation", "test")}
    if quick:
        threads = {"train": threads["train"][:16], "validation": threads["validation"][:6], "test": threads["test"][:6]}
    retriever = build_retriever(embedder, load_documents(), hybrid=False)

    def sections(ts: Sequence[Thread]) -> list[Any]:
        return [h[0][0] for h in retriever.search([note_query(t) for t in ts], k=1)]

    def examples(ts: Sequence[Thread]) -> list[Example]:  # every other thread with its retrieved section
        return [Example(note_prompt(t.text, [c.text] if n % 2 == 0 else []), t.note)
                for n, (t, c) in enumerate(zip(ts, sections(ts)))]

    test = threads["test"]
    found = sections(test)
    contexts = {"prompted": [[] for _ in test], "rag": [[c.text] for c in found], "lora": [[] for _ in test],
                "lora+rag": [[c.text] for c in found]}
    out: dict[str, Any] = {"sizes": {k: len(v) for k, v in threads.items()},
                           "test": [{"id": t.id, "template": t.template, "needs_documents": int(t.needs_documents),
                                     "doc_ids": list(t.doc_ids)} for t in test],
                           "retrieved": [c.id for c in found],
                           "retrieved_right_document": [int(c.doc_id in t.doc_ids) for c, t in zip(found, test)],
                           "systems": {}}

    def run(system: str, m: Any) -> None:
        prompts = [note_prompt(t.text, c) for t, c in zip(test, contexts[system])]
        notes, seconds = _timed_replies(m, tokenizer, prompts, NOTE_TOKENS)
        scores = score_notes(notes, test, contexts[system])
        out["systems"][system] = {"notes": notes, **scores, "seconds_per_reply": round(seconds, 3),
                                  "prompt_tokens": _prompt_tokens(tokenizer, prompts)}
        print(system, round(sum(scores["rouge_l"]) / len(test), 3), sum(scores["any_invented"]), flush=True)

    for system in SUMMARY_SYSTEMS[:2]:
        run(system, model)
    tuned, record = fit_adapter(model, tokenizer, examples(threads["train"]), examples(threads["validation"]),
                                {**SUMMARY_RECIPE, "max_steps": 10} if quick else SUMMARY_RECIPE, adapter_dir)
    out["adapter"] = record
    for system in SUMMARY_SYSTEMS[2:]:
        run(system, tuned)
        out["systems"][system]["training_seconds"] = record["training_seconds"]
    tuned.unload()
    return out


def run(out: Path = STORED, parts: Sequence[str] = PARTS, quick: bool = False) -> dict[str, Any]:
    """The parts asked for, each stored in ``out`` as soon as it is done."""
    check_parts(parts, PARTS)
    ragft.set_seed(0)
    results = load_partial(out)
    model, tokenizer = load_generator()
    embedder = load_embedder()
    where = (out.parent / "adapters") if quick else ADAPTERS
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "style": lambda: run_style(model, tokenizer, embedder, where / "style", quick),
        "summaries": lambda: run_summaries(model, tokenizer, embedder, where / "summaries", quick)}
    return store_parts(out, results, parts, PARTS, steps, before_each=lambda: ragft.set_seed(0))
