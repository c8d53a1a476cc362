"""Ticket triage, the behaviour task: the book's one metric, what a practitioner tries before fine-tuning, and the
trained adapter that ships with the package.

Every system here is scored the same way: it writes (or is made to write) a reply for each test ticket, and
``ragft.triage.exact_matches`` parses the reply and compares all three fields with the label.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import ragft
from ragft.data import load_tickets
from ragft.finetune import add_lora, greedy_exact_match, tokenize_example, train
from ragft.models import load_embedder, load_generator
from ragft.triage import (
    ADAPTER_DIR,
    PERTURBATIONS,
    TICKET_SYSTEM,
    NearestTickets,
    TicketClassifier,
    exact_matches,
    few_shot_prompt,
    field_scores,
    load_triage_adapter,
    same_record,
    template_split,
    ticket_example,
    ticket_prompt,
    triage,
)

# The experiment: ``python -m ragft.experiments triage`` (about 70 minutes on two CPU cores: run_seconds in triage.json).
VAL_TEMPLATES = 2  # templates per category held out of training to tune and stop on; test is never looked at for a choice
RECIPES = {  # what was tried for the adapter, in this order; the best step on validation is kept in each
    # a constant rate, stopped when validation stops improving (this one was given up to 600 steps)
    "lr3e-3-r8-top8": dict(lr=3e-3, r=8, alpha=16, layers=list(range(22, 30)), max_steps=600),
    # a lower rate and a higher rank, stopped the same way
    "lr1e-3-r16-top8": dict(lr=1e-3, r=16, alpha=32, layers=list(range(22, 30))),
    # the first recipe with the rate decaying linearly to 0 over 500 steps, run to the end
    "lr3e-3-r8-top8-decay": dict(lr=3e-3, r=8, alpha=16, layers=list(range(22, 30)), schedule="linear",
                                 patience=None),
}
BATCH_SIZE = 4
MAX_STEPS = 500
EVAL_EVERY = 25  # validation (teacher-forced exact reply on 40 tickets) every 25 steps
PATIENCE = 4  # stop after 4 evaluations (100 steps) without a better validation score
TEST_EVERY = 100  # the test tickets are also scored every 100 steps, for the chapter's steps curve only
CURVE_SIZES = (20, 40, 80, 160)
CURVE_STEPS = 100  # the data-size curve: every size trained for the same number of steps
FEW_SHOT_K = (1, 3, 6)
CLASSIFIER_C = (0.1, 1.0, 10.0, 100.0)
from ragft.experiments.results import load_partial, load_stored, save_stored, stored_path

STORED = stored_path("triage")


def splits(seed: int = 0) -> tuple[list[Any], list[Any], list[Any]]:
    """(train, validation, test) tickets of the triage experiment; validation's templates are not trained on."""
    fit, val = template_split(load_tickets("train"), per_category=VAL_TEMPLATES, seed=seed)
    return fit, val, load_tickets("test")


def scored(replies: Sequence[str], tickets: Sequence[Any]) -> dict[str, Any]:
    """The stored form of one system's run: its replies, per-ticket exact match, and every rate."""
    labels = [t.label for t in tickets]
    return {"replies": list(replies), "exact": [int(x) for x in exact_matches(replies, labels)],
            **{k: round(v, 4) for k, v in field_scores(replies, labels).items()}}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    import time

    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def train_recipe(model: Any, tokenizer: Any, fit: Sequence[Any], val: Sequence[Any], test: Sequence[Any],
                 recipe: dict[str, Any], steps: int = MAX_STEPS, patience: int | None = PATIENCE,
                 test_every: int | None = TEST_EVERY, seed: int = 0, select: bool = True) -> tuple[Any, dict[str, Any]]:
    """Train one adapter; with ``select``, score ``val`` as it goes, stop early and keep the best step.

    Without ``select`` it trains exactly ``steps`` steps and keeps the last weights (the data-size curve).
    """
    import torch

    data = [tokenize_example(tokenizer, ticket_example(t), TICKET_SYSTEM) for t in fit]
    val_data = [tokenize_example(tokenizer, ticket_example(t), TICKET_SYSTEM) for t in val]
    test_curve: list[tuple[int, float]] = []
    calls = {"n": 0}

    def score(m: Any) -> float:
        calls["n"] += 1
        step = min(calls["n"] * EVAL_EVERY, steps)  # train scores every EVAL_EVERY steps and at the last
        if test_every and step % test_every == 0:  # recorded for the chapter's plot, never used to choose
            replies = triage(m, tokenizer, [ticket_prompt(t.text) for t in test])
            test_curve.append((step, round(sum(scored(replies, test)["exact"]) / len(test), 4)))
        return sum(greedy_exact_match(m, val_data, tokenizer.pad_token_id)) / len(val_data)

    torch.manual_seed(seed)
    model = add_lora(model, r=recipe["r"], alpha=recipe["alpha"], layers=recipe["layers"])
    history, seconds = _timed(lambda: train(
        model, data, tokenizer.pad_token_id, val_examples=val_data, batch_size=BATCH_SIZE, lr=recipe["lr"],
        eval_every=EVAL_EVERY, seed=seed, steps=steps, schedule=recipe.get("schedule", "constant"),
        score_fn=score if select else None, patience=recipe.get("patience", patience) if select else None,
        progress=False))
    return model, {"recipe": {**recipe, "patience": recipe.get("patience", patience) if select else None},
                   "tickets": len(fit), "batch_size": BATCH_SIZE, "max_steps": steps,
                   "steps_run": len(history.steps), "best_step": history.best_step,
                   "train_loss": [round(x, 4) for x in history.train_loss], "val_steps": history.val_steps,
                   "val_loss": [round(x, 4) for x in history.val_loss],
                   "val_exact": [round(x, 4) for x in history.val_score], "test_curve": test_curve,
                   "best_val_exact": round(max(history.val_score), 4) if history.val_score else None,
                   "training_seconds": round(seconds, 1),
                   "seconds_per_step": round(history.seconds_per_step, 3)}


def run(out: Path = STORED, adapter_out: Path = ADAPTER_DIR, quick: bool = False) -> dict[str, Any]:
    """Every unit of the experiment, each stored in ``out`` as soon as it is done (a rerun skips stored units)."""
    import shutil
    ragft.set_seed(0)
    results: dict[str, Any] = load_partial(out)
    results.update({"versions": ragft.versions(), "machine": ragft.env.machine()})
    fit, val, test = splits()
    if quick:
        fit, val, test = fit[:24], val[:8], test[:8]
    results["sizes"] = {"train": len(fit), "validation": len(val), "test": len(test)}
    results["ids"] = {"validation": [t.id for t in val], "test": [t.id for t in test]}
    units = results.setdefault("units", {})
    model, tokenizer = load_generator()
    embedder = load_embedder()
    work = ragft.models.cache_dir() / ("triage-quick" if quick else "triage-runs")

    def save() -> None:
        save_stored(out, results)

    def unit(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name not in units:
            units[name] = fn()
            save()
            print(json.dumps({name: {k: v for k, v in units[name].items()
                                     if not isinstance(v, (list, dict))}}), flush=True)
        return units[name]

    def per_ticket(replies_fn: Callable[[], list[str]], tickets: Sequence[Any]) -> dict[str, Any]:
        replies, seconds = _timed(replies_fn)
        return {**scored(replies, tickets), "seconds_per_ticket": round(seconds / len(tickets), 4)}

    # 1. The adapter: each recipe trained until validation stops improving; the best on validation ships.
    for name, recipe in RECIPES.items():
        folder = work / name

        def train_unit() -> dict[str, Any]:
            nonlocal model
            tuned, record = train_recipe(model, tokenizer, fit, val, test, recipe,
                                         steps=40 if quick else recipe.get("max_steps", MAX_STEPS))
            shutil.rmtree(folder, ignore_errors=True)
            tuned.save_pretrained(folder)
            model = tuned.unload()
            return record
        unit(f"adapter {name}", train_unit)
    # 2. Prompting the base model: zero-shot, with the schema and the allowed values, free and constrained.
    for constrained in (False, True):
        name = "zero-shot" + (" constrained" if constrained else "")
        unit(name, lambda: per_ticket(lambda: triage(model, tokenizer, [ticket_prompt(t.text, True) for t in test],
                                                     constrained=constrained), test))
    # 3. Few-shot: the k most similar training tickets as examples; k chosen on validation.
    nearest, index_seconds = _timed(lambda: NearestTickets(embedder, fit))
    for constrained in (False, True):
        name = "few-shot" + (" constrained" if constrained else "")

        def few_shot() -> dict[str, Any]:
            tried = {}
            for k in FEW_SHOT_K:
                prompts = [few_shot_prompt(t.text, s) for t, s in zip(val, nearest.nearest([t.text for t in val], k))]
                tried[str(k)] = sum(scored(triage(model, tokenizer, prompts, constrained=constrained), val)["exact"]) / len(val)
            best = max(FEW_SHOT_K, key=lambda k: (tried[str(k)], -k))
            result = per_ticket(lambda: triage(model, tokenizer, [few_shot_prompt(t.text, s) for t, s in zip(
                test, nearest.nearest([t.text for t in test], best))], constrained=constrained), test)
            return {**result, "tried": {"k": tried}, "chosen": {"k": best}, "one_off_seconds": round(index_seconds, 2)}
        unit(name, few_shot)

    # 4. Embeddings + logistic regression, one head per field; C chosen on validation.
    def classifier() -> dict[str, Any]:
        tried = {str(c): sum(scored(TicketClassifier(embedder, fit, C=c).replies([t.text for t in val]), val)["exact"])
                 / len(val) for c in CLASSIFIER_C}
        best = max(CLASSIFIER_C, key=lambda c: (tried[str(c)], -c))
        clf, seconds = _timed(lambda: TicketClassifier(embedder, fit, C=best))
        return {**per_ticket(lambda: clf.replies([t.text for t in test]), test), "tried": {"C": tried},
                "chosen": {"C": best}, "one_off_seconds": round(seconds, 2)}
    unit("classifier", classifier)

    best_name = max(RECIPES, key=lambda n: (units[f"adapter {n}"]["best_val_exact"], n == next(iter(RECIPES))))
    results["chosen_recipe"] = best_name
    if not (adapter_out / "adapter_config.json").is_file() or results.get("shipped") != best_name:
        shutil.rmtree(adapter_out, ignore_errors=True)
        adapter_out.mkdir(parents=True)
        shutil.copy(work / best_name / "adapter_model.safetensors", adapter_out / "adapter_model.safetensors")
        config = json.loads((work / best_name / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"  # not this machine's cache path
        (adapter_out / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        results["shipped"] = best_name
        save()
    tuned = load_triage_adapter(model, adapter_out)
    for constrained in (False, True):
        name = "adapter" + (" constrained" if constrained else "")
        unit(name, lambda: {**per_ticket(lambda: triage(tuned, tokenizer, [ticket_prompt(t.text) for t in test],
                                                        constrained=constrained), test),
                            "one_off_seconds": units[f"adapter {best_name}"]["training_seconds"],
                            "adapter_bytes": (adapter_out / "adapter_model.safetensors").stat().st_size})

    # 5. Consistency: the same record after a change that should not matter, for the adapter and the classifier.
    clf = TicketClassifier(embedder, fit, C=units["classifier"]["chosen"]["C"])
    systems = {"adapter": lambda texts: triage(tuned, tokenizer, [ticket_prompt(x) for x in texts]),
               "classifier": clf.replies}
    for system, answer in systems.items():
        before = units["adapter" if system == "adapter" else "classifier"]["replies"]
        for change, fn in PERTURBATIONS.items():
            def consistency() -> dict[str, Any]:
                after = answer([fn(t.text) for t in test])
                return {**scored(after, test), "same": [int(x) for x in same_record(before, after)]}
            unit(f"consistency {system} {change}", consistency)
    model = tuned.unload()

    # 6. The learning curve by data size, every size for the same number of steps (the chosen recipe).
    for n in CURVE_SIZES:
        if n > len(fit):
            continue

        def curve_point() -> dict[str, Any]:
            nonlocal model
            tuned_n, record = train_recipe(model, tokenizer, fit[:n], val, test, RECIPES[best_name],
                                           steps=8 if quick else CURVE_STEPS, test_every=None, select=False)
            record.update(per_ticket(lambda: triage(tuned_n, tokenizer, [ticket_prompt(t.text) for t in test]), test))
            model = tuned_n.unload()
            return record
        unit(f"curve n={n}", curve_point)

    def spot() -> dict[str, Any]:
        nonlocal model
        tuned_s, record = spot_check(model, tokenizer, RECIPES[best_name])
        model = tuned_s.unload()
        return record
    if not quick:
        unit("spot check", spot)
    return results


SPOT_CHECK = dict(tickets=20, steps=10, test=20)  # small enough for a notebook to re-run in half a minute


def spot_check(model: Any, tokenizer: Any, recipe: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """The smallest stored run: the chosen recipe on 20 tickets for 10 steps, scored on 20 test tickets."""
    fit, val, test = splits()
    test = test[:SPOT_CHECK["test"]]
    tuned, record = train_recipe(model, tokenizer, fit[:SPOT_CHECK["tickets"]], val, test,
                                 recipe or RECIPES[load_stored("triage")["chosen_recipe"]], steps=SPOT_CHECK["steps"],
                                 test_every=None, select=False)
    record.update(scored(triage(tuned, tokenizer, [ticket_prompt(t.text) for t in test]), test))
    return tuned, record
