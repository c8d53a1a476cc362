"""The stored house-style and summary run (``python -m ragft.experiments style``): what it asked, that its stored
scores are what the checkers say of its stored replies today, and that its two adapters ship."""
import json

import pytest

from ragft.chunking import chunk_by_heading
from ragft.data import load_documents
from ragft.experiments.results import load_stored
from ragft.experiments.style import STYLE_SYSTEMS, SUMMARY_SYSTEMS, doc_split, style_sets
from ragft.finetune import stop_reason
from ragft.style import (STYLE_ADAPTER_DIR, StyleItem, compliance, load_style_adapter, style_difference, style_outcomes,
                         style_rate, style_table)
from ragft.summaries import (SUMMARY_ADAPTER_DIR, load_summary_adapter, load_threads, score_notes, summary_difference,
                             summary_score, summary_table)


@pytest.fixture(scope="module")
def stored():
    return load_stored("style")


def test_the_style_emails_are_about_documents_no_training_reply_mentions(stored):
    house = stored["style"]
    split = doc_split()
    assert house["doc_split"] == split
    assert not set(split["test"]) & set(split["train"]) and not set(split["validation"]) & set(split["train"])
    sets = style_sets()
    assert {e["doc_id"] for e in house["test"]} <= set(split["test"])
    assert [e["id"] for e in house["test"]] == [i.id for i in sets["test"]]
    assert house["sizes"] == {name: len(items) for name, items in sets.items()}
    assert not {i.fact_id for i in sets["train"]} & {i.fact_id for i in sets["test"]}


def test_every_style_system_stored_one_scored_reply_per_email(stored):
    house = stored["style"]
    assert list(house["systems"]) == list(STYLE_SYSTEMS)
    items = [StyleItem(e["id"], e["email"], e["first_name"], "", tuple(e["answers"]), e["doc_id"], "")
             for e in house["test"]]
    for system, run in house["systems"].items():
        assert len(run["replies"]) == len(items)
        rescored = compliance(run["replies"], items)
        for key, outcomes in rescored.items():
            assert run[key] == outcomes, f"{system} {key}: the checkers no longer agree with the stored scores"


def test_the_summaries_stored_scores_are_what_the_checks_say_today(stored):
    notes = stored["summaries"]
    threads = load_threads("test")
    assert [t["id"] for t in notes["test"]] == [t.id for t in threads]
    assert list(notes["systems"]) == list(SUMMARY_SYSTEMS)
    sections = {c.id: c.text for d in load_documents() for c in chunk_by_heading(d)}
    retrieved = [[sections[i]] for i in notes["retrieved"]]
    for system, run in notes["systems"].items():
        contexts = retrieved if "rag" in system else [[] for _ in threads]
        again = score_notes(run["notes"], threads, contexts)
        assert again["invented"] == run["invented"] and again["well_formed"] == run["well_formed"], system
        assert again["rouge_l"] == pytest.approx(run["rouge_l"], abs=1e-4), system


@pytest.mark.parametrize("folder, part", [(STYLE_ADAPTER_DIR, "style"), (SUMMARY_ADAPTER_DIR, "summaries")])
def test_both_adapters_ship_and_say_why_they_stopped(stored, folder, part):
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and config["r"] == 8
    record = stored[part]["adapter"]
    assert record["best_step"] in record["val_steps"]
    assert min(record["val_loss"]) == record["val_loss"][record["val_steps"].index(record["best_step"])]
    assert stop_reason(record).startswith(("early stop", "budget"))


def test_the_tables_have_every_system_and_intervals_that_hold_the_rate(stored):
    for row in style_table(stored["style"]):
        for key in ("form_rules", "all_rules", "content"):
            low, high = row[f"{key}_interval"]
            assert low <= row[key] <= high
    for row in summary_table(stored["summaries"]):
        assert row["rouge_l_interval"][0] <= row["rouge_l"] <= row["rouge_l_interval"][1]
    assert [r["system"] for r in style_table(stored["style"])] == list(STYLE_SYSTEMS)


def test_form_rules_are_the_five_rules_other_than_answer_first(stored):
    house = stored["style"]
    run = house["systems"]["lora+rag"]
    form = style_outcomes(house, "lora+rag", "form_rules")
    for i, kept in enumerate(form):
        assert kept == int(all(run[r][i] for r in ("greeting", "short", "numbers", "sign_off", "no_banned_phrases")))
    assert style_difference(house, "lora+rag", "lora+rag")["mean"] == 0


def test_bad_names_fail_clearly(stored):
    with pytest.raises(ValueError, match="no system 'gpt'"):
        style_rate(stored["style"], "gpt")
    with pytest.raises(ValueError, match="key must be one of"):
        style_rate(stored["style"], "rag", "tone")
    with pytest.raises(ValueError, match="no system 'gpt'"):
        summary_score(stored["summaries"], "gpt")
    with pytest.raises(ValueError, match="key must be one of"):
        summary_difference(stored["summaries"], "rag", "prompted", key="bleu")


@pytest.mark.parametrize("load", [load_style_adapter, load_summary_adapter])
def test_a_missing_shipped_adapter_names_the_command_that_makes_it(tmp_path, load):
    with pytest.raises(FileNotFoundError, match="run python -m ragft.experiments style"):
        load(None, tmp_path)
