"""Chapter 7's decision guide: every rule, the input checks and the widget."""
from __future__ import annotations

import dataclasses

import pytest

from ragft.choose import (
    CHOICES,
    MIN_EXAMPLES,
    Evidence,
    Recommendation,
    Requirements,
    recommend,
    recommend_widget,
    scenarios,
)

EVIDENCE = Evidence(
    rag_latency_ms=350, closed_book_latency_ms=120, reindex_seconds=0.4, retrain_seconds=240,
    rag_accuracy=0.21, finetuned_accuracy=0.08, format_accuracy_finetuned=0.43, format_accuracy_base=0.05,
)


def make(**changes) -> Requirements:
    """A product that needs nothing special; tests switch on one need at a time."""
    base = dict(knowledge_changes="never", needs_private_knowledge=False, labelled_examples=0,
                needs_sources=False, latency_budget_ms=1000.0, needs_style_or_format=False)
    return Requirements(**{**base, **changes})


@pytest.mark.parametrize("name, choice", [
    ("support chatbot over a changing help centre", "RAG"),
    ("ticket triage into a fixed JSON schema", "fine-tuning"),
    ("internal policy assistant that must cite sources, with a triage step", "both"),
    ("a style rewriter with 500 examples", "fine-tuning"),
    ("general chit-chat", "prompting"),
])
def test_scenarios(name, choice):
    rec = recommend(scenarios()[name])
    assert rec.choice == choice
    assert rec.reasons and all(text.endswith(".") for text in rec.reasons + rec.warnings)


def test_every_choice_has_a_scenario():
    assert {recommend(req).choice for req in scenarios().values()} == set(CHOICES)


def test_sources_alone_force_rag():
    rec = recommend(make(needs_sources=True))
    assert rec.choice == "RAG"
    assert any("cite" in reason for reason in rec.reasons)


@pytest.mark.parametrize("rate", ["monthly", "weekly", "daily"])
def test_changing_knowledge_means_rag(rate):
    rec = recommend(make(knowledge_changes=rate, labelled_examples=1000))
    assert rec.choice == "RAG"
    assert any(rate in reason for reason in rec.reasons)


@pytest.mark.parametrize("rate", ["never", "yearly"])
def test_stable_public_knowledge_does_not_need_rag(rate):
    assert recommend(make(knowledge_changes=rate)).choice == "prompting"


def test_private_knowledge_means_rag_even_with_examples():
    # Facts go in through retrieval; many examples without a format need do not make a fine-tune.
    assert recommend(make(needs_private_knowledge=True, labelled_examples=5000)).choice == "RAG"


def test_format_with_enough_examples_means_fine_tuning():
    rec = recommend(make(needs_style_or_format=True, labelled_examples=300, hardware="gpu"))
    assert rec.choice == "fine-tuning"
    assert rec.warnings == ()


def test_format_with_few_examples_warns():
    rec = recommend(make(needs_style_or_format=True, labelled_examples=30))
    assert rec.choice == "fine-tuning"
    assert any("30" in warning and "few-shot" in warning for warning in rec.warnings)
    enough = recommend(make(needs_style_or_format=True, labelled_examples=MIN_EXAMPLES))
    assert not any("labelled example" in warning for warning in enough.warnings)


def test_format_without_examples_is_not_fine_tuning():
    rec = recommend(make(needs_style_or_format=True, labelled_examples=0))
    assert rec.choice == "prompting"
    assert any("examples" in warning for warning in rec.warnings)


def test_both():
    rec = recommend(make(needs_private_knowledge=True, needs_style_or_format=True, labelled_examples=200))
    assert rec.choice == "both"


def test_neither_means_prompting():
    rec = recommend(make())
    assert rec.choice == "prompting"
    assert any("Neither retrieval nor training" in reason for reason in rec.reasons)


def test_cpu_fine_tuning_mentions_gpu():
    cpu = recommend(make(needs_style_or_format=True, labelled_examples=300, hardware="cpu"))
    assert any("CPU" in warning and "GPU" in warning for warning in cpu.warnings)
    assert not any("CPU" in text for text in recommend(make(needs_sources=True)).warnings)


def test_rag_latency_warning_only_when_measured_over_budget():
    rag = make(needs_private_knowledge=True, latency_budget_ms=200)
    assert not any("ms" in warning for warning in recommend(rag).warnings)  # no evidence, no numbers
    over = recommend(rag, EVIDENCE)
    assert any("350 ms" in warning and "200 ms" in warning for warning in over.warnings)
    under = recommend(dataclasses.replace(rag, latency_budget_ms=500), EVIDENCE)
    assert not any("ms" in warning for warning in under.warnings)


def test_closed_book_latency_warning_for_fine_tuning():
    tuned = make(needs_style_or_format=True, labelled_examples=300, hardware="gpu", latency_budget_ms=100)
    assert recommend(tuned).warnings == ()
    assert any("120 ms" in warning for warning in recommend(tuned, EVIDENCE).warnings)
    relaxed = dataclasses.replace(tuned, latency_budget_ms=150)
    assert recommend(relaxed, EVIDENCE).warnings == ()


def test_reasons_quote_evidence():
    req = make(needs_private_knowledge=True, knowledge_changes="weekly",
               needs_style_or_format=True, labelled_examples=200)
    text = " ".join(recommend(req, EVIDENCE).reasons)
    assert "21 %" in text and "8 %" in text
    assert "0.4 s" in text and "240 s" in text
    assert "5 %" in text and "43 %" in text
    plain = " ".join(recommend(req).reasons)
    assert "%" not in plain and " s " not in plain


def test_str_shows_choice_reasons_and_warnings():
    rec = recommend(make(needs_sources=True, latency_budget_ms=100), EVIDENCE)
    text = str(rec)
    assert text.startswith("Recommendation: RAG")
    assert all(reason in text for reason in rec.reasons)
    assert all(f"! {warning}" in text for warning in rec.warnings)
    assert str(Recommendation("both", ("A.",), ("B.",))) == "Recommendation: both\n  - A.\n  ! B."


@pytest.mark.parametrize("changes, field", [
    (dict(knowledge_changes="hourly"), "knowledge_changes"),
    (dict(labelled_examples=-1), "labelled_examples"),
    (dict(labelled_examples=2.5), "labelled_examples"),
    (dict(latency_budget_ms=0), "latency_budget_ms"),
    (dict(latency_budget_ms=-5.0), "latency_budget_ms"),
    (dict(hardware="tpu"), "hardware"),
    (dict(needs_sources="yes"), "needs_sources"),
])
def test_invalid_requirements(changes, field):
    with pytest.raises(ValueError, match=field):
        make(**changes)


def test_invalid_evidence():
    with pytest.raises(ValueError, match="rag_accuracy"):
        Evidence(rag_accuracy=21)
    with pytest.raises(ValueError, match="rag_latency_ms"):
        Evidence(rag_latency_ms=-1)


def test_widget_recomputes_on_change():
    pytest.importorskip("ipywidgets")
    box = recommend_widget(EVIDENCE)
    output = box.children[-1]

    def shown() -> str:
        return "".join(item["text"] for item in output.outputs)

    assert shown().startswith("Recommendation: RAG")  # the help-centre chatbot it starts from
    by_name = {child.description: child for child in box.children[:-1]}
    by_name["Needs a fixed format or style"].value = True
    by_name["Labelled examples"].value = 30
    assert shown().startswith("Recommendation: both")
    assert "Only 30 labelled examples" in shown()
    by_name["Latency budget (ms)"].value = 0
    assert "latency_budget_ms" in shown()  # a bad value is reported, not raised


def test_a_measured_classifier_is_offered_before_a_fine_tune():
    req = make(needs_style_or_format=True, labelled_examples=160)
    without = recommend(req, EVIDENCE)
    assert not any("classifier" in w for w in without.warnings)
    with_classifier = recommend(req, dataclasses.replace(EVIDENCE, format_accuracy_classifier=0.57))
    assert with_classifier.choice == "fine-tuning"
    assert any("classifier" in w and "57 %" in w and "43 %" in w for w in with_classifier.warnings)
    with pytest.raises(ValueError, match="format_accuracy_classifier"):
        Evidence(format_accuracy_classifier=1.5)
