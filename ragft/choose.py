"""Chapter 7's decision guide: RAG, fine-tuning, both, or plain prompting?

``recommend`` turns a product's requirements into a choice and the reasons for it, written as
plain sentences. The rules are a short list of if-statements, each encoding something that
chapters 1-6 measured: retrieval is how a model answers from new or private facts, and
fine-tuning is how it learns a behaviour (a format, a label set, a style); and chapter 8 measured
what each approach leaks, forgets and can be made to say. Pass an ``Evidence`` with your own
measured numbers and the reasons quote them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from numbers import Real
from typing import Any

CHANGE_RATES = ("never", "yearly", "monthly", "weekly", "daily")  # how often the knowledge changes
HARDWARE = ("cpu", "gpu")
CHOICES = ("RAG", "fine-tuning", "both", "prompting")
FAST_CHANGE = ("monthly", "weekly", "daily")  # too often to retrain a model each time
MIN_EXAMPLES = 100  # the book's triage adapter learnt the format from 164 labelled tickets (chapter 4)


@dataclass(frozen=True)
class Requirements:
    """What a product needs. Invalid values raise ``ValueError`` naming the field."""

    knowledge_changes: str  # one of CHANGE_RATES
    needs_private_knowledge: bool  # must answer from facts the model cannot know (company documents, ...)
    labelled_examples: int  # how many input -> desired output examples exist (>= 0)
    needs_sources: bool  # must answers cite the document they came from?
    latency_budget_ms: float  # per answer, > 0
    needs_style_or_format: bool  # a fixed output format, label set or house style the base model does not follow
    hardware: str = "cpu"  # one of HARDWARE
    per_user_access: bool = False  # different users may see different documents (per-customer data, ...)
    must_delete: bool = False  # a fact or document must be removable for good on request (a customer leaving, GDPR)
    untrusted_documents: bool = False  # documents come from outside or many authors, so one may carry instructions
    questions_like_training: bool = False  # users ask in the words of the examples a model could be trained on
    # (a fixed FAQ, a form, short plain questions like the training pairs), not in their own, varied words

    def __post_init__(self) -> None:
        if self.knowledge_changes not in CHANGE_RATES:
            raise ValueError(f"knowledge_changes must be one of {CHANGE_RATES}, got {self.knowledge_changes!r}")
        if self.hardware not in HARDWARE:
            raise ValueError(f"hardware must be one of {HARDWARE}, got {self.hardware!r}")
        for name in ("needs_private_knowledge", "needs_sources", "needs_style_or_format",
                     "per_user_access", "must_delete", "untrusted_documents", "questions_like_training"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        n = self.labelled_examples
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"labelled_examples must be a whole number >= 0, got {n!r}")
        budget = self.latency_budget_ms
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
            raise ValueError(f"latency_budget_ms must be a number > 0, got {budget!r}")


SHARES = frozenset({  # the Evidence fields that are shares of questions, checked to lie in 0..1
    "rag_accuracy", "finetuned_accuracy", "rag_hallucination", "finetuned_hallucination",
    "rag_accuracy_plain", "finetuned_accuracy_plain", "raft_accuracy", "raft_accuracy_plain",
    "format_accuracy_finetuned", "format_accuracy_base", "format_accuracy_classifier", "format_accuracy_few_shot",
    "style_finetuned", "style_guide_prompt", "style_few_shot", "summary_rouge_prompted", "summary_rouge_finetuned",
    "rag_leak_unfiltered", "rag_leak_filtered", "finetuned_leak", "finetuned_recall_deleted",
    "injection_success_plain", "injection_success_defended",
})
TEXT_FIELDS = frozenset({"injection_defence"})  # the Evidence fields that are names, not numbers


@dataclass(frozen=True)
class Evidence:
    """Measured numbers (from the book's head-to-head and security chapters) that the reasons quote. All optional.

    Shares (the fields in ``SHARES``) must lie between 0 and 1, times and latencies must be >= 0, and
    ``injection_defence`` is the name of the defence measured in ``injection_success_defended``.
    """

    rag_latency_ms: float | None = None  # p50 per answer with retrieval
    closed_book_latency_ms: float | None = None  # p50 per answer without retrieval
    reindex_seconds: float | None = None  # time for RAG to absorb an update
    retrain_seconds: float | None = None  # time for a fine-tune to absorb an update
    rag_accuracy: float | None = None  # on new facts, 0..1
    finetuned_accuracy: float | None = None  # closed book on new facts (held-out wording), 0..1
    rag_accuracy_plain: float | None = None  # the same facts asked in plain words, close to training (chapter 5), 0..1
    finetuned_accuracy_plain: float | None = None  # the closed-book fine-tune on those plain questions, 0..1
    raft_accuracy: float | None = None  # a reader trained on retrieved text (RAFT), held-out wording, 0..1
    raft_accuracy_plain: float | None = None  # RAFT on the plain questions, 0..1
    rag_hallucination: float | None = None  # share of wrong answers with retrieval when it answers everything, 0..1
    finetuned_hallucination: float | None = None  # the same for a closed-book fine-tune, 0..1
    format_accuracy_finetuned: float | None = None  # structured-output exact match after fine-tuning, 0..1
    format_accuracy_base: float | None = None  # the same, before fine-tuning, 0..1
    format_accuracy_classifier: float | None = None  # the same for embeddings + logistic regression, 0..1
    format_accuracy_few_shot: float | None = None  # the same for the best few-shot prompt of the base model, 0..1
    format_latency_ms: float | None = None  # time per structured record with the fine-tune (the ticket task)
    format_examples: int | None = None  # labelled examples the fine-tune learnt the ticket format from
    style_finetuned: float | None = None  # house style: share of replies keeping every rule, style fine-tune + RAG
    style_guide_prompt: float | None = None  # the same with the style guide in the prompt of the base model, 0..1
    style_few_shot: float | None = None  # the same with three styled example replies in the prompt, 0..1
    summary_rouge_prompted: float | None = None  # handover notes: mean ROUGE-L F1 of the prompted base model, 0..1
    summary_rouge_finetuned: float | None = None  # the same for the summary fine-tune, 0..1
    retrieval_ms: float | None = None  # median time of the retrieval step alone (search and prompt building)
    prompt_reading_ms: float | None = None  # median extra time to read the retrieved text in the prompt
    # Chapter 8 (reliability and security); leak rates are over questions about documents the user may not read
    rag_leak_unfiltered: float | None = None  # share answered with the restricted fact, RAG without a filter, 0..1
    rag_leak_filtered: float | None = None  # the same with the permission filter before the search, 0..1
    finetuned_leak: float | None = None  # the same for one shared fine-tune trained on the restricted facts, 0..1
    rag_delete_ms: float | None = None  # time to delete a document from the index
    finetuned_forget_retrain_seconds: float | None = None  # time to retrain the adapter without the deleted facts
    finetuned_recall_deleted: float | None = None  # share of deleted facts the fine-tune still stated, 0..1
    injection_success_plain: float | None = None  # share of planted prompt injections that succeeded, plain RAG, 0..1
    injection_success_defended: float | None = None  # the same with the defence named below, 0..1
    injection_defence: str | None = None  # e.g. "delimited prompt + indexing filter"

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if field.name in TEXT_FIELDS:
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f"{field.name} must be a non-empty string, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ValueError(f"{field.name} must be a number, got {value!r}")
            if field.name in SHARES and not 0 <= value <= 1:
                raise ValueError(f"{field.name} must be between 0 and 1, got {value!r}")
            if field.name not in SHARES and not value >= 0:
                raise ValueError(f"{field.name} must be a number >= 0, got {value!r}")


@dataclass(frozen=True)
class Recommendation:
    """A choice (one of ``CHOICES``), the reasons for it and anything to watch out for."""

    choice: str
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [f"Recommendation: {self.choice}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines += [f"  ! {warning}" for warning in self.warnings]
        return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _ms(x: float) -> str:
    return f"{x:.0f} ms" if x >= 10 else f"{x:.2g} ms"


def _s(x: float) -> str:
    return f"{x:.0f} s" if x >= 100 else f"{x:.1f} s" if x >= 1 else f"{x:.2g} s"


def recommend(req: Requirements, evidence: Evidence | None = None) -> Recommendation:
    """Recommend RAG, fine-tuning, both or prompting for ``req``, quoting ``evidence`` if given."""
    ev = evidence or Evidence()
    reasons: list[str] = []
    warnings: list[str] = []
    retrieval = training = False

    # Chapters 5-6: retrieval answers from documents; a closed-book fine-tune recalls few new facts.
    # Chapter 5 asked the same facts in two wordings: the users' wording decides which numbers apply.
    plain = (req.questions_like_training and ev.rag_accuracy_plain is not None
             and ev.finetuned_accuracy_plain is not None)
    if req.needs_private_knowledge:
        retrieval = True
        if plain:
            numbers = (f": on held-out questions in plain words close to the training questions, retrieval answered "
                       f"{_pct(ev.rag_accuracy_plain)} and a closed-book fine-tune {_pct(ev.finetuned_accuracy_plain)}")
        elif ev.rag_accuracy is not None and ev.finetuned_accuracy is not None:
            numbers = (f": on held-out questions worded unlike the training questions, retrieval answered "
                       f"{_pct(ev.rag_accuracy)} and a closed-book fine-tune {_pct(ev.finetuned_accuracy)}")
            if (ev.rag_hallucination is not None and ev.finetuned_hallucination is not None
                    and ev.finetuned_hallucination > ev.rag_hallucination):
                numbers += (f", and answering every question the fine-tune's answers were wrong "
                            f"{_pct(ev.finetuned_hallucination)} of the time against {_pct(ev.rag_hallucination)} "
                            "with retrieval")
        else:
            numbers = ""
        reasons.append(f"Facts must come from your documents{numbers}; only retrieval can show where an answer "
                       "came from and take a change without retraining.")
    # Citing alone forces retrieval: a closed-book model cannot point at the document it used.
    if req.needs_sources:
        retrieval = True
        reasons.append("Answers must cite their sources, and only retrieval knows which document an answer came from.")
    # Chapter 6: an update reaches RAG by re-indexing; a fine-tune must be retrained on it.
    if req.knowledge_changes in FAST_CHANGE:
        retrieval = True
        if ev.reindex_seconds is not None and ev.retrain_seconds is not None:
            numbers = f"re-indexing took {_s(ev.reindex_seconds)} where retraining took {_s(ev.retrain_seconds)}"
        else:
            numbers = "re-indexing absorbs an update in seconds where a fine-tune must be retrained"
        reasons.append(f"The knowledge changes {req.knowledge_changes}: {numbers}.")
    # Chapter 8: retrieval can drop the documents a user may not read before the search; a model cannot.
    if req.per_user_access:
        retrieval = True
        leaked = "of questions about documents the user may not read were answered with the restricted fact"
        unfiltered, filtered = ev.rag_leak_unfiltered, ev.rag_leak_filtered
        if unfiltered is not None and filtered is not None:
            numbers = f" (without the filter, {_pct(unfiltered)} {leaked}; with it, {_pct(filtered)})"
        elif unfiltered is not None:
            numbers = f" (without the filter, {_pct(unfiltered)} {leaked})"
        elif filtered is not None:
            numbers = f" (with the filter, {_pct(filtered)} {leaked})"
        else:
            numbers = ""
        reasons.append("Different users may see different documents: retrieval can apply the permission filter "
                       "before the search, so that only documents the user may read reach the prompt"
                       f"{numbers}.")
    # Chapter 8: deleting a document from the index removes its answers at once; a fine-tune keeps them.
    if req.must_delete:
        retrieval = True
        numbers = f" (deleting a document took {_ms(ev.rag_delete_ms)})" if ev.rag_delete_ms is not None else ""
        reasons.append("Facts must be removable for good on request: delete the document from the index and "
                       f"the answers that came from it are gone{numbers}.")
    # Chapter 4: fine-tuning teaches a behaviour (format, labels, style) from labelled examples.
    # It is never chosen to store facts, so changing knowledge alone can never lead here.
    if req.needs_style_or_format and req.labelled_examples >= 1:
        training = True
        n = req.labelled_examples
        numbers = ""
        if ev.format_accuracy_base is not None and ev.format_accuracy_finetuned is not None:
            numbers = (f" (on the book's fixed JSON label set, exact match went from {_pct(ev.format_accuracy_base)} "
                       f"to {_pct(ev.format_accuracy_finetuned)})")
        if None not in (ev.style_finetuned, ev.style_guide_prompt, ev.style_few_shot):
            numbers += (f"; for a house style of six checkable rules, {_pct(ev.style_finetuned)} of the fine-tune's "
                        f"replies kept every rule, against {_pct(ev.style_guide_prompt)} with the style guide in the "
                        f"prompt and {_pct(ev.style_few_shot)} with styled examples")
        if None not in (ev.summary_rouge_prompted, ev.summary_rouge_finetuned):
            numbers += (f"; for notes in a fixed form, ROUGE-L went from {ev.summary_rouge_prompted:.2f} prompted to "
                        f"{ev.summary_rouge_finetuned:.2f} fine-tuned")
        reasons.append(f"Answers need a format or style the base model does not follow: "
                       f"a fine-tune learns it from your {n} labelled example{'s' * (n != 1)}{numbers}.")
        if n < MIN_EXAMPLES:
            few = ev.format_accuracy_few_shot
            measured = (f"; in the book's runs the best few-shot prompt of the base model (the most similar "
                        f"labelled examples, held to valid records) reached {_pct(few)} exact match"
                        + (f" against the fine-tune's {_pct(ev.format_accuracy_finetuned)}"
                           if ev.format_accuracy_finetuned is not None else "") if few is not None else "")
            learnt = f" (the book's adapter learnt from {ev.format_examples})" if ev.format_examples else ""
            warnings.append(f"Only {n} labelled example{'s' * (n != 1)}: collect about 100-200"
                            f"{learnt}, or try few-shot prompting first{measured}.")
        # Chapter 4: on a fixed label set, a classifier on sentence embeddings is the cheap first try.
        if ev.format_accuracy_classifier is not None and ev.format_accuracy_finetuned is not None:
            warnings.append(f"If the output is a fixed set of labels, try a classifier on sentence embeddings first: "
                            f"in the book's runs it reached {_pct(ev.format_accuracy_classifier)} exact match against "
                            f"the fine-tune's {_pct(ev.format_accuracy_finetuned)}, for seconds of training.")
    # Chapter 5: a reader trained on retrieved text (RAFT) beat the untrained one; it needs question-answer pairs.
    if req.needs_private_knowledge and req.labelled_examples >= 1 and ev.raft_accuracy is not None \
            and ev.rag_accuracy is not None:
        both_wordings = ""
        if ev.raft_accuracy_plain is not None and ev.rag_accuracy_plain is not None:
            both_wordings = (f" on questions worded unlike training, and {_pct(ev.raft_accuracy_plain)} against "
                             f"{_pct(ev.rag_accuracy_plain)} in plain words")
        warnings.append(f"With question-answer examples, consider training the reader on retrieved text (RAFT): "
                        f"in the book's runs it answered {_pct(ev.raft_accuracy)} against "
                        f"{_pct(ev.rag_accuracy)} for the untrained reader{both_wordings}.")
    # Without examples there is nothing to fine-tune on.
    if req.needs_style_or_format and req.labelled_examples == 0:
        warnings.append("A fixed format or style needs labelled examples to fine-tune on and you have none: "
                        "collect about 100-200, or describe the format in the prompt with a few examples.")

    if retrieval and training:
        choice = "both"
    elif retrieval:
        choice = "RAG"
    elif training:
        choice = "fine-tuning"
    else:
        choice = "prompting"
        reasons.append("Neither retrieval nor training can help yet: prompt the base model, and revisit "
                       "this choice when you have private documents, sources to cite or labelled examples.")

    # Chapter 8: a fine-tune cannot check permissions when it answers; whatever it was trained on,
    # it can tell any user. The only fix is one adapter per permission group.
    if training and req.per_user_access:
        numbers = ""
        if ev.finetuned_leak is not None:
            numbers = (f" (one shared adapter trained on restricted facts stated {_pct(ev.finetuned_leak)} of them "
                       "to users who may not read them)")
        warnings.append("Train the fine-tune only on data that every user of that model may see: a fine-tune "
                        f"cannot check permissions when it answers{numbers}, and the only fix is one adapter "
                        "per permission group.")
    # Chapter 8: what a fine-tune learnt stays in its weights until it is retrained without it.
    if training and req.must_delete:
        measured = []
        if ev.finetuned_recall_deleted is not None:
            measured.append(f"before retraining, the fine-tune still stated {_pct(ev.finetuned_recall_deleted)} "
                            "of the deleted facts")
        if ev.finetuned_forget_retrain_seconds is not None:
            measured.append(f"retraining without the deleted facts took {_s(ev.finetuned_forget_retrain_seconds)}")
        numbers = f" ({'; '.join(measured)})" if measured else ""
        warnings.append("Deleting a fact from a fine-tune means retraining it without that fact"
                        f"{numbers}: never fine-tune on data that may have to be deleted.")
    # Chapter 8: a planted document's instructions reach the prompt through retrieval. This changes how
    # RAG is built, not the choice: the alternative answers from no documents at all.
    if retrieval and req.untrusted_documents:
        measured = []
        if ev.injection_success_plain is not None:
            measured.append(f"{_pct(ev.injection_success_plain)} of planted attacks succeeded with plain RAG")
        if ev.injection_success_defended is not None and ev.injection_defence is not None:
            attacks = " of planted attacks succeeded" if not measured else ""
            measured.append(f"{_pct(ev.injection_success_defended)}{attacks} with {ev.injection_defence}")
        numbers = f" ({', '.join(measured)})" if measured else ""
        warnings.append("Documents from outside or from many authors can carry instructions that steer the "
                        f"answers{numbers}: filter documents when they are indexed, mark retrieved text off from "
                        "the instructions in the prompt, and give the model no secrets or tools it must not use.")
    # Latency: only warn about numbers that were measured, never invented ones.
    if retrieval and ev.rag_latency_ms is not None and ev.rag_latency_ms > req.latency_budget_ms:
        split = (f"; at equal reply length, retrieval added {_ms(ev.retrieval_ms)} of search and "
                 f"{_ms(ev.prompt_reading_ms)} of extra prompt reading per answer"
                 if ev.retrieval_ms is not None and ev.prompt_reading_ms is not None else "")
        warnings.append(f"Retrieval-augmented answers took {_ms(ev.rag_latency_ms)} at p50 on the book's 2-core "
                        f"CPU, over the budget of {_ms(req.latency_budget_ms)}{split}: most of an answer's time is "
                        "writing it, so shorter answers and shorter retrieved text help most; the book did not "
                        "measure faster hardware.")
    # a fine-tuned behaviour is timed on its own task when that was measured, else on the closed-book facts
    measured_ms = ev.format_latency_ms if training and ev.format_latency_ms is not None else ev.closed_book_latency_ms
    what = ("A fine-tuned record took" if training and ev.format_latency_ms is not None
            else "Closed-book answers took")
    if not retrieval and measured_ms is not None and measured_ms > req.latency_budget_ms:
        warnings.append(f"{what} {_ms(measured_ms)} on the book's 2-core CPU, over the budget of "
                        f"{_ms(req.latency_budget_ms)}: shorter outputs are faster; the book did not measure "
                        "faster hardware.")
    # The book's LoRA runs trained a small model on a CPU; bigger models need a GPU.
    if training and req.hardware == "cpu":
        warnings.append("LoRA fine-tunes a small model like the book's on a CPU, but a larger model needs a GPU.")
    return Recommendation(choice, tuple(reasons), tuple(warnings))


def scenarios() -> dict[str, Requirements]:
    """Worked product scenarios for chapter 7, one per kind of answer."""
    return {
        "support chatbot over a changing help centre": Requirements(
            "weekly", needs_private_knowledge=True, labelled_examples=0, needs_sources=False,
            latency_budget_ms=2000, needs_style_or_format=False),  # -> RAG
        "ticket triage into a fixed JSON schema": Requirements(
            "yearly", needs_private_knowledge=False, labelled_examples=160, needs_sources=False,
            latency_budget_ms=1000, needs_style_or_format=True),  # -> fine-tuning
        "internal policy assistant that must cite sources, with a triage step": Requirements(
            "monthly", needs_private_knowledge=True, labelled_examples=300, needs_sources=True,
            latency_budget_ms=3000, needs_style_or_format=True),  # -> both
        "a style rewriter with 500 examples": Requirements(
            "never", needs_private_knowledge=False, labelled_examples=500, needs_sources=False,
            latency_budget_ms=2000, needs_style_or_format=True, hardware="gpu"),  # -> fine-tuning
        "general chit-chat": Requirements(
            "never", needs_private_knowledge=False, labelled_examples=0, needs_sources=False,
            latency_budget_ms=1500, needs_style_or_format=False),  # -> prompting
        "customer portal where each customer sees only its own contracts": Requirements(
            "weekly", needs_private_knowledge=True, labelled_examples=0, needs_sources=True,
            latency_budget_ms=3000, needs_style_or_format=False, per_user_access=True, must_delete=True,
            untrusted_documents=True),  # -> RAG, with a warning about planted documents
    }


def recommend_widget(evidence: Evidence | None = None) -> Any:
    """An ipywidgets form whose output shows ``recommend``'s answer, updated on every change."""
    try:
        import ipywidgets as widgets
    except ImportError as error:
        raise ImportError("recommend_widget needs ipywidgets; without it, build a Requirements, "
                          "call recommend() and print the result instead.") from error
    start = scenarios()["support chatbot over a changing help centre"]
    style = {"description_width": "initial"}
    controls = {
        "knowledge_changes": widgets.Dropdown(options=CHANGE_RATES, value=start.knowledge_changes,
                                              description="Knowledge changes", style=style),
        "needs_private_knowledge": widgets.Checkbox(value=start.needs_private_knowledge,
                                                    description="Needs private knowledge", style=style),
        "labelled_examples": widgets.IntText(value=start.labelled_examples, description="Labelled examples",
                                             style=style),
        "needs_sources": widgets.Checkbox(value=start.needs_sources, description="Must cite sources", style=style),
        "latency_budget_ms": widgets.FloatText(value=start.latency_budget_ms, description="Latency budget (ms)",
                                               style=style),
        "needs_style_or_format": widgets.Checkbox(value=start.needs_style_or_format,
                                                  description="Needs a fixed format or style", style=style),
        "hardware": widgets.Dropdown(options=HARDWARE, value=start.hardware, description="Hardware", style=style),
        "per_user_access": widgets.Checkbox(value=start.per_user_access,
                                            description="Users may see different documents", style=style),
        "must_delete": widgets.Checkbox(value=start.must_delete, description="Data must be deletable on request",
                                        style=style),
        "untrusted_documents": widgets.Checkbox(value=start.untrusted_documents,
                                                description="Documents may carry instructions", style=style),
        "questions_like_training": widgets.Checkbox(value=start.questions_like_training,
                                                    description="Users ask in the words of the training examples",
                                                    style=style),
    }
    output = widgets.Output()

    def render(change: Any = None) -> None:
        try:
            req = Requirements(**{name: control.value for name, control in controls.items()})
            text = str(recommend(req, evidence))
        except ValueError as error:
            text = f"Invalid input: {error}"
        output.outputs = ({"output_type": "stream", "name": "stdout", "text": text + "\n"},)

    for control in controls.values():
        control.observe(render, names="value")
    render()
    return widgets.VBox([*controls.values(), output])
