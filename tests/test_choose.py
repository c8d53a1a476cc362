"""Chapter 7's decision guide: every rule, the input checks and the widget."""
from __future__ import annotations

import dataclasses
import re

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
    ("customer portal where each customer sees only its own contracts", "RAG"),
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
    (dict(per_user_access="yes"), "per_user_access"),
    (dict(must_delete=1), "must_delete"),
    (dict(untrusted_documents=None), "untrusted_documents"),
    (dict(questions_like_training="plain"), "questions_like_training"),
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


# Chapter 8, reliability and security: numbers chosen so that each one prints as a distinct percentage or time.
SECURITY = dict(
    rag_leak_unfiltered=0.62, rag_leak_filtered=0.03, finetuned_leak=0.37, rag_delete_ms=1.5,
    finetuned_forget_retrain_seconds=250, finetuned_recall_deleted=0.81, injection_success_plain=0.45,
    injection_success_defended=0.12, injection_defence="delimited prompt + indexing filter",
)
FORMAT = dict(needs_style_or_format=True, labelled_examples=300, hardware="gpu")  # a behaviour to fine-tune
PORTAL = "customer portal where each customer sees only its own contracts"
EXISTING = {
    "support chatbot over a changing help centre": "RAG",
    "ticket triage into a fixed JSON schema": "fine-tuning",
    "internal policy assistant that must cite sources, with a triage step": "both",
    "a style rewriter with 500 examples": "fine-tuning",
    "general chit-chat": "prompting",
}


def text_of(rec: Recommendation) -> str:
    return " ".join(rec.reasons + rec.warnings)


@pytest.mark.parametrize("name, choice", EXISTING.items())
def test_security_needs_off_by_default_leave_existing_scenarios_alone(name, choice):
    req = scenarios()[name]
    assert (req.per_user_access, req.must_delete, req.untrusted_documents) == (False, False, False)
    for evidence in (None, EVIDENCE):
        rec = recommend(req, evidence)
        assert rec.choice == choice
        # Security numbers are quoted only by security needs: adding them changes nothing here.
        with_security = dataclasses.replace(evidence or Evidence(), **SECURITY)
        assert recommend(req, with_security) == rec
        for word in ("permission", "delete", "Deleting", "instructions", "planted"):
            assert word not in text_of(rec)


def test_requirements_built_the_old_way_still_work():
    old = Requirements("weekly", True, 0, False, 2000, False)  # positional, as before chapter 8
    assert old == scenarios()["support chatbot over a changing help centre"]
    assert recommend(old).choice == "RAG"


def test_per_user_access_means_rag_with_the_filter_before_the_search():
    rec = recommend(make(per_user_access=True))
    assert rec.choice == "RAG"
    assert any("permission filter before the search" in reason for reason in rec.reasons)
    assert "%" not in text_of(rec)  # nothing measured, nothing quoted
    measured = " ".join(recommend(make(per_user_access=True), Evidence(**SECURITY)).reasons)
    assert "62 %" in measured and "3 %" in measured
    assert measured.index("62 %") < measured.index("3 %")  # without the filter, then with it
    only_filtered = " ".join(recommend(make(per_user_access=True), Evidence(rag_leak_filtered=0.03)).reasons)
    assert "3 %" in only_filtered and "with the filter" in only_filtered and "without" not in only_filtered


def test_per_user_access_with_a_fine_tune_warns_to_train_on_shared_data_only():
    req = make(per_user_access=True, **FORMAT)
    rec = recommend(req)
    assert rec.choice == "both"
    [warning] = [w for w in rec.warnings if "permission" in w]
    assert "every user" in warning and "one adapter per permission group" in warning and "%" not in warning
    [quoted] = [w for w in recommend(req, Evidence(finetuned_leak=0.37)).warnings if "permission" in w]
    assert "37 %" in quoted
    # No fine-tune, no warning about one, whatever was measured.
    assert not any("adapter" in w for w in recommend(make(per_user_access=True), Evidence(**SECURITY)).warnings)


def test_must_delete_means_rag_and_quotes_the_deletion_time():
    rec = recommend(make(must_delete=True))
    assert rec.choice == "RAG"
    assert any("delete the document" in reason for reason in rec.reasons)
    assert " ms" not in text_of(rec)
    quoted = recommend(make(must_delete=True), Evidence(rag_delete_ms=1.5))
    assert any("1.5 ms" in reason for reason in quoted.reasons)
    assert not any("retrain" in w for w in recommend(make(must_delete=True), Evidence(**SECURITY)).warnings)


def test_must_delete_with_a_fine_tune_warns_that_forgetting_means_retraining():
    req = make(must_delete=True, **FORMAT)
    rec = recommend(req)
    assert rec.choice == "both"
    [warning] = [w for w in rec.warnings if "Deleting" in w]
    assert "retraining" in warning and "never fine-tune on data that may have to be deleted" in warning
    assert not re.search(r"\d", warning)  # nothing measured, no numbers
    [quoted] = [w for w in recommend(req, Evidence(**SECURITY)).warnings if "Deleting" in w]
    assert "250 s" in quoted and "81 %" in quoted
    [time_only] = [w for w in recommend(req, Evidence(finetuned_forget_retrain_seconds=42)).warnings
                   if "Deleting" in w]
    assert "42.0 s" in time_only and "%" not in time_only


def test_untrusted_documents_warn_only_when_retrieval_is_chosen():
    plain = recommend(make(needs_sources=True))
    rec = recommend(make(needs_sources=True, untrusted_documents=True))
    assert (rec.choice, rec.reasons) == (plain.choice, plain.reasons)  # a warning, not a change of choice
    [warning] = [w for w in rec.warnings if w not in plain.warnings]
    assert "instructions" in warning and "indexed" in warning and "secrets or tools" in warning
    assert "%" not in warning
    # Without retrieval there are no retrieved documents to plant anything in.
    assert recommend(make(untrusted_documents=True), Evidence(**SECURITY)) == recommend(make())
    tuned = recommend(make(untrusted_documents=True, **FORMAT), Evidence(**SECURITY))
    assert tuned.choice == "fine-tuning" and not any("instructions" in w for w in tuned.warnings)


def test_untrusted_documents_quote_the_defence_only_with_its_name():
    req = make(needs_sources=True, untrusted_documents=True)

    def warning(**numbers) -> str:
        [text] = [w for w in recommend(req, Evidence(**numbers)).warnings if "instructions" in w]
        return text

    both = warning(**SECURITY)
    assert "45 %" in both and "12 %" in both and "delimited prompt + indexing filter" in both
    unnamed = warning(injection_success_plain=0.45, injection_success_defended=0.12)
    assert "45 %" in unnamed and "12 %" not in unnamed
    assert "45 %" not in warning(injection_defence="delimited prompt")
    alone = warning(injection_success_defended=0.12, injection_defence="delimited prompt")
    assert "12 % of planted attacks succeeded with delimited prompt" in alone


def test_customer_portal_scenario():
    req = scenarios()[PORTAL]
    assert (req.per_user_access, req.must_delete, req.untrusted_documents) == (True, True, True)
    assert (req.knowledge_changes, req.labelled_examples, req.latency_budget_ms) == ("weekly", 0, 3000)
    rec = recommend(req)
    assert rec.choice == "RAG"
    assert any("permission filter" in r for r in rec.reasons) and any("delete the document" in r for r in rec.reasons)
    [warning] = rec.warnings  # only the planted-documents warning: no fine-tune, so nothing about adapters
    assert "instructions" in warning
    measured = recommend(req, Evidence(rag_leak_unfiltered=0.5, rag_leak_filtered=0.0, rag_delete_ms=2.0,
                                       injection_success_plain=0.4, injection_success_defended=0.1,
                                       injection_defence="delimited prompt"))
    text = str(measured)
    assert "50 %" in text and "0 %" in text and "2 ms" in text
    assert "40 %" in text and "10 % with delimited prompt" in text


SHARE_FIELDS = ("rag_leak_unfiltered", "rag_leak_filtered", "finetuned_leak", "finetuned_recall_deleted",
                "injection_success_plain", "injection_success_defended")
TIME_FIELDS = ("rag_delete_ms", "finetuned_forget_retrain_seconds")


@pytest.mark.parametrize("field", SHARE_FIELDS)
def test_security_shares_must_lie_between_0_and_1(field):
    Evidence(**{field: 0.0})
    Evidence(**{field: 1})
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=field):
            Evidence(**{field: bad})


@pytest.mark.parametrize("field", TIME_FIELDS)
def test_security_times_must_not_be_negative(field):
    assert getattr(Evidence(**{field: 1500.0}), field) == 1500.0  # a time is not a share: above 1 is fine
    with pytest.raises(ValueError, match=field):
        Evidence(**{field: -1})


@pytest.mark.parametrize("bad", ["", "   ", 3, 0.5])
def test_injection_defence_must_be_a_name(bad):
    with pytest.raises(ValueError, match="injection_defence"):
        Evidence(injection_defence=bad)
    assert Evidence(injection_defence="delimited prompt").injection_defence == "delimited prompt"


def test_evidence_rejects_text_where_a_number_belongs():
    with pytest.raises(ValueError, match="rag_leak_filtered"):
        Evidence(rag_leak_filtered="0.1")
    with pytest.raises(ValueError, match="rag_delete_ms"):
        Evidence(rag_delete_ms=True)


def test_widget_has_the_security_checkboxes():
    pytest.importorskip("ipywidgets")
    box = recommend_widget(EVIDENCE)
    output = box.children[-1]
    by_name = {child.description: child for child in box.children[:-1]}

    def shown() -> str:
        return "".join(item["text"] for item in output.outputs)

    assert "instructions" not in shown()
    by_name["Documents may carry instructions"].value = True
    assert shown().startswith("Recommendation: RAG") and "instructions" in shown()
    by_name["Needs a fixed format or style"].value = True
    by_name["Labelled examples"].value = 300
    assert "permission group" not in shown() and "Deleting" not in shown()
    by_name["Users may see different documents"].value = True
    by_name["Data must be deletable on request"].value = True
    assert shown().startswith("Recommendation: both")
    assert "one adapter per permission group" in shown() and "Deleting a fact" in shown()


WORDINGS = dataclasses.replace(EVIDENCE, rag_accuracy_plain=0.31, finetuned_accuracy_plain=0.22, raft_accuracy=0.36,
                               raft_accuracy_plain=0.45)


def test_the_users_wording_decides_which_measured_accuracies_are_quoted():
    own = text_of(recommend(make(needs_private_knowledge=True), WORDINGS))
    like = text_of(recommend(make(needs_private_knowledge=True, questions_like_training=True), WORDINGS))
    assert "worded unlike the training questions, retrieval answered 21 % and a closed-book fine-tune 8 %" in own
    assert "plain words close to the training questions, retrieval answered 31 % and a closed-book fine-tune 22 %" in like
    # without plain-wording evidence, the held-out numbers stand for both
    assert "retrieval answered 21 %" in text_of(recommend(make(needs_private_knowledge=True,
                                                               questions_like_training=True), EVIDENCE))
    # the wording changes what is quoted, never the choice: retrieval wins on both wordings in the book's runs
    for req in (make(needs_private_knowledge=True), make(needs_private_knowledge=True, questions_like_training=True)):
        assert recommend(req, WORDINGS).choice == "RAG"


def test_a_trained_reader_is_offered_only_with_private_knowledge_and_examples():
    offer = "consider training the reader on retrieved text (RAFT)"
    with_pairs = recommend(make(needs_private_knowledge=True, labelled_examples=200), WORDINGS)
    assert any(offer in w and "36 % against 21 %" in w and "45 % against 31 % in plain words" in w
               for w in with_pairs.warnings)
    assert not any(offer in w for w in recommend(make(needs_private_knowledge=True), WORDINGS).warnings)
    assert not any(offer in w for w in recommend(make(labelled_examples=200), WORDINGS).warnings)


def test_the_house_style_and_summary_numbers_are_quoted_when_measured():
    """Chapter 4 measured a style and summaries: the fine-tuning reason quotes them, and only when given."""
    req = make(needs_style_or_format=True, labelled_examples=500)
    ev = Evidence(style_finetuned=0.6, style_guide_prompt=0.0, style_few_shot=0.05, summary_rouge_prompted=0.21,
                  summary_rouge_finetuned=0.55)
    said = " ".join(recommend(req, ev).reasons)
    assert "60 % of the fine-tune's replies kept every rule" in said and "0 % with the style guide" in said
    assert "5 % with styled examples" in said and "ROUGE-L went from 0.21 prompted to 0.55 fine-tuned" in said
    assert "house style" not in " ".join(recommend(req, Evidence(style_finetuned=0.6)).reasons)  # all three or none
    with pytest.raises(ValueError, match="style_few_shot must be between 0 and 1"):
        Evidence(style_few_shot=5)
