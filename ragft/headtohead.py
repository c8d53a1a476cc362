"""Chapter 5's head-to-head, as the notebooks read it: the five systems, the fixed split, asking and
grading, and every table computed from the stored run (``ragft/results/head_to_head.json``, written by
``python -m ragft.experiments head-to-head``, whose code is ``ragft.experiments.head_to_head``).

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
confidence threshold) is made on validation; the confidence threshold also sees 60 validation
questions the documents do not answer. The 255 test, 61 unanswerable and 33 update questions are only
ever scored.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ragft.calibration import outcomes, summarise
from ragft.chunking import chunk_by_heading
from ragft.data import Document, Fact, Question, apply_update, load_documents, load_facts, load_questions
from ragft.evaluate import contains_answer, is_abstention
from ragft.finetune import QA_SYSTEM, load_adapter
from ragft.hybrid import HybridRetriever
from ragft.models import ANSWER_TOKENS, generate
from ragft.rag import Reader
from ragft.retrieval import Retriever
from ragft.stats import bootstrap_rate, cluster_bootstrap, paired_bootstrap, rate

SYSTEMS = ("base", "rag", "finetuned", "rag+finetuned", "raft")
READS = ("rag", "rag+finetuned", "raft")  # the systems that read retrieved text
TRAINED = {"finetuned": "closed-book", "rag+finetuned": "closed-book", "raft": "raft"}
SEEDS = (0, 1, 2)
UNSEEN_SHARE = 0.2
MAX_NEW_TOKENS = ANSWER_TOKENS


ADAPTER_DIR = Path(__file__).parent / "adapters"


@dataclass
class Setup:
    """The facts, the fixed split and the question sets every system shares."""

    facts: dict[str, Fact]
    trained_ids: list[str]
    unseen_ids: list[str]
    train: list[Question]
    validation: list[Question]
    test: list[Question]
    unanswerable: list[Question]
    updates: list[Question]
    documents: list[Document]
    validation_unanswerable: list[Question]  # questions with no answer in the documents, for choosing gates


def load_setup(seed: int = 0, quick: bool = False) -> Setup:
    """The split: one fact in five held out of training (never one that an update changes), two
    paraphrases of each other fact to train on, the third (and the unseen facts' third) for validation."""
    facts = {f.id: f for f in load_facts()}
    updates = sorted(load_questions("updates"), key=lambda q: q.id)
    changed = {u.fact_ids[0] for u in updates}
    candidates = sorted(set(facts) - changed)
    unseen = sorted(random.Random(seed).sample(candidates, round(UNSEEN_SHARE * len(facts))))
    trained = sorted(set(facts) - set(unseen))
    by_fact: dict[str, list[Any]] = {}
    for q in sorted(load_questions("train"), key=lambda q: q.id):
        by_fact.setdefault(q.fact_ids[0], []).append(q)
    train = [q for f in trained for q in by_fact[f][:-1]]
    validation = [by_fact[f][-1] for f in sorted(facts)]
    test = sorted(load_questions("test"), key=lambda q: q.id)
    unanswerable = sorted(load_questions("unanswerable"), key=lambda q: q.id)
    validation_unanswerable = sorted(load_questions("validation_unanswerable"), key=lambda q: q.id)
    if quick:
        keep = set(trained[:12] + unseen[:3]) | {u.fact_ids[0] for u in updates[:4]}
        train = [q for q in train if q.fact_ids[0] in keep]
        validation = [q for q in validation if q.fact_ids[0] in keep]
        test = [q for q in test if q.fact_ids[0] in keep]
        unanswerable, updates, validation_unanswerable = unanswerable[:6], updates[:4], validation_unanswerable[:6]
    return Setup(facts, trained, unseen, train, validation, test, unanswerable, updates, load_documents(),
                 validation_unanswerable)


def updated_documents(documents: Sequence[Document], updates: Sequence[Question]) -> list[Document]:
    """The documents that ``updates`` change, after every change is applied (each document once)."""
    by_id = {d.id: d for d in documents}
    changed: dict[str, Any] = {}
    for u in updates:
        doc_id = u.doc_ids[0]
        changed[doc_id] = apply_update(changed.get(doc_id, by_id[doc_id]), u)
    return list(changed.values())


def updated_facts(facts: dict[str, Fact], updates: Sequence[Question]) -> dict[str, Fact]:
    """The facts with each update's new answer written into its statement."""
    from dataclasses import replace

    new = dict(facts)
    for u in updates:
        f = new[u.fact_ids[0]]
        if u.old_answer not in f.statement:
            raise ValueError(f"{u.id}: the old answer {u.old_answer!r} is not in the statement of {f.id}")
        new[f.id] = replace(f, statement=f.statement.replace(u.old_answer, u.answer), answer=u.answer)
    return new


def replies(model: Any, tokenizer: Any, questions: Sequence[Question], reader: Reader | None,
            max_new_tokens: int = MAX_NEW_TOKENS) -> dict[str, list]:
    """Every question's reply, its confidence (mean token log-probability), and, when reading, the top
    retrieval cosine. ``reader=None`` asks closed book."""
    texts = [q.question for q in questions]
    out: dict[str, list] = {}
    if reader is None:
        prompts, system = texts, QA_SYSTEM
    else:
        prompts, out["cosine"], out["chunks"] = reader.prompts(texts)
        system = reader.system
    said, sure = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, system=system, batch_size=16,
                          confidence=True)
    out["reply"], out["confidence"] = said, [round(c, 4) for c in sure]
    return out


def grade(asked: dict[str, list], questions: Sequence[Question]) -> dict[str, list]:
    """Add per question: ``idk`` (the reply declines), ``correct`` (it holds the answer or an alias) and
    ``correct_no_alias`` (it holds the reference answer itself)."""
    asked["idk"] = [is_abstention(r) for r in asked["reply"]]
    asked["correct"] = [q.answer is not None and contains_answer(r, q.answers)
                        for r, q in zip(asked["reply"], questions)]
    asked["correct_no_alias"] = [q.answer is not None and contains_answer(r, [q.answer])
                                 for r, q in zip(asked["reply"], questions)]
    return asked


def build_retriever(embedder: Any, documents: Sequence[Document], hybrid: bool) -> Retriever | HybridRetriever:
    """The heading-chunk index over ``documents``: dense, or dense fused with BM25."""
    dense = Retriever(embedder, [c for d in documents for c in chunk_by_heading(d)], show_progress_bar=False)
    return HybridRetriever(dense) if hybrid else dense


def load_h2h_adapter(model: Any, kind: str) -> Any:
    """The shipped adapter of the first seed: ``kind`` is ``"closed-book"`` or ``"raft"``."""
    if kind not in ("closed-book", "raft"):
        raise ValueError(f"kind must be 'closed-book' or 'raft', got {kind!r}")
    folder = ADAPTER_DIR / f"h2h-{kind}"
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} is missing: run python -m ragft.experiments head-to-head")
    return load_adapter(model, folder)


def runs(results: dict[str, Any], system: str) -> list[dict[str, Any]]:
    """The stored evaluations of one system: one for an untrained system, one per seed for a trained one."""
    units = results["units"]
    if system in ("base", "rag"):
        return [units[system]]
    return [units[f"{system} seed {s}"] for s in results["seeds"]]


def system_outcomes(run_: dict[str, Any], part: str = "test") -> list[int]:
    """1 / 0 / -1 per question of one stored evaluation, with that run's threshold."""
    return outcomes(run_[part], run_["threshold"])


def seed_mean(values: Sequence[Sequence[bool | float]]) -> list[float]:
    """Per item, the mean over seeds of one score (each inner list: one seed's scores, item by item)."""
    return [sum(map(float, item)) / len(values) for item in zip(*values)]


def interval(values: Sequence[Sequence[bool | float]]) -> dict[str, float]:
    """A share with its 95 % interval: Wilson for a single run; for several seeds, the seed-averaged
    share with a bootstrap over the questions (``ragft.stats.bootstrap_rate``)."""
    return rate(values[0]) if len(values) == 1 else bootstrap_rate(seed_mean(values))


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per system. ``accuracy``: the share of test questions answered correctly when the system
    answers everything it does not itself decline, averaged over the seeds of a trained system, with
    the seeds' standard deviation and a 95 % interval over the 255 questions (``interval``). Then the
    system behind its validated confidence gate (one threshold per seed, each chosen on validation),
    averaged over seeds: coverage, selective and gated accuracy, abstention on the 61 unanswerable
    questions (with and without the gate), and confident wrong answers over all questions."""
    rows = []
    for system in SYSTEMS:
        rs = runs(results, system)
        per = [summarise(system_outcomes(r, "test"), system_outcomes(r, "unanswerable")) for r in rs]
        ungated = [sum(correct(r)) / len(r["test"]["correct"]) for r in rs]
        row: dict[str, Any] = {"system": system, "seeds": len(rs), "accuracy": statistics.mean(ungated),
                               "accuracy_sd": statistics.stdev(ungated) if len(rs) > 1 else 0.0,
                               "accuracy_ci": interval([correct(r) for r in rs]),
                               "declines_unanswerable": sum(rs[0]["unanswerable"]["idk"]) / len(
                                   rs[0]["unanswerable"]["idk"]),
                               "wrong_ungated": statistics.mean(  # wrong answers given over all, with no gate
                                   sum(o == -1 for part in ("test", "unanswerable") for o in outcomes(r[part], None))
                                   / (len(r["test"]["idk"]) + len(r["unanswerable"]["idk"])) for r in rs)}
        for key in per[0]:
            values = [p[key] for p in per]
            name = "gated_accuracy" if key == "accuracy" else key
            row[name] = statistics.mean(values)
            row[name + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["abstention_ci"] = interval([[o == 0 for o in system_outcomes(r, "unanswerable")] for r in rs])
        row["threshold"] = rs[0]["threshold"]
        row["hallucination"] = row["confident_wrong"]
        training = [results["units"][f"train {TRAINED[system]} seed {s}"]["training_seconds"] for s in results["seeds"]
                    ] if system in TRAINED else [0.0]
        row["training_seconds"] = statistics.mean(training)
        row.update(results["units"]["serving"][system] if "serving" in results["units"] else {})
        rows.append(row)
    return rows


GATES = {"answerable only": "threshold_answerable_only", "with unanswerable": "threshold"}


def gate_choices(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per system and way of choosing its gate (``GATES``: on the 128 answerable validation questions alone,
    or with the 60 validation questions the documents do not answer), the test measures behind it,
    averaged over seeds: coverage, gated accuracy, abstention on the unanswerable test questions and
    confident wrong answers over all, and how many seeds' thresholds the unanswerable questions moved."""
    rows = []
    for system in SYSTEMS:
        rs = runs(results, system)
        for how, key in GATES.items():
            per = [summarise(outcomes(r["test"], r[key]), outcomes(r["unanswerable"], r[key])) for r in rs]
            rows.append({"system": system, "gate": how, "thresholds": [r[key] for r in rs],
                         "moved": sum(r["threshold"] != r["threshold_answerable_only"] for r in rs),
                         **{k: statistics.mean(p[k] for p in per)
                            for k in ("coverage", "accuracy", "abstention", "confident_wrong")}})
    return rows


def correct(run_: dict[str, Any], part: str = "test", gated: bool = False) -> list[bool]:
    """Per question: answered correctly (``gated``: and confident enough to pass the run's threshold)."""
    if gated:
        return [o == 1 for o in system_outcomes(run_, part)]
    return [c and not idk for c, idk in zip(run_[part]["correct"], run_[part]["idk"])]


def compare(results: dict[str, Any], a: str, b: str, part: str = "test", seed_index: int | None = None,
            gated: bool = False) -> dict[str, float]:
    """Accuracy of ``a`` minus ``b`` on the same questions, with a paired bootstrap 95 % interval.

    Each question scores the share of a system's seeds that answered it correctly (an untrained system
    has one run), and questions are resampled in pairs; ``seed_index`` compares one seed's run instead.
    """
    def scores(system: str) -> list[float]:
        rs = runs(results, system)
        if seed_index is not None:
            rs = [rs[min(seed_index, len(rs) - 1)]]
        return seed_mean([correct(r, part, gated) for r in rs])

    return paired_bootstrap(scores(a), scores(b))


def documents_of(results: dict[str, Any], part: str = "test") -> list[str]:
    """Per stored question of ``part``, the document that holds its answer: the cluster of a clustered interval."""
    split = {"test": "test", "updates": "updates"}[part]
    by_id = {q.id: q for q in load_questions(split)}
    return [by_id[i].doc_ids[0] for i in results["question_ids"][part]]


def clustered(results: dict[str, Any], pairs: Sequence[tuple[str, str]] = ()) -> dict[str, dict[str, float]]:
    """Test accuracy per system, and the paired differences of ``pairs``, with 95 % intervals that resample
    the documents (``ragft.stats.cluster_bootstrap``): questions about one document are not independent."""
    docs = documents_of(results)
    scores = {s: seed_mean([correct(r) for r in runs(results, s)]) for s in SYSTEMS}
    out = {s: cluster_bootstrap(v, docs) for s, v in scores.items()}
    out.update({f"{a} - {b}": cluster_bootstrap(scores[a], docs, scores[b]) for a, b in pairs})
    return out


def fact_groups(results: dict[str, Any]) -> dict[str, list[int]]:
    """Indices of the test questions about facts trained on and about the unseen (held-out) facts."""
    unseen = set(results["unseen_facts"])
    by_id = {q.id: q for q in load_questions("test")}
    facts = [by_id[i].fact_ids[0] for i in results["question_ids"]["test"]]
    return {"trained": [i for i, f in enumerate(facts) if f not in unseen],
            "unseen": [i for i, f in enumerate(facts) if f in unseen]}


def reading_vs_remembering(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per system, accuracy (answering everything, averaged over seeds) on trained and unseen facts,
    and for RAFT the same adapters with their context removed (asked closed book, no threshold)."""
    groups = fact_groups(results)
    out = {}
    for system in SYSTEMS:
        ok = seed_mean([correct(r) for r in runs(results, system)])
        out[system] = {g: sum(ok[i] for i in idx) / len(idx) for g, idx in groups.items()}
    closed = seed_mean([[c and not idk for c, idk in zip(t["correct"], t["idk"])] for t in (
        results["units"][f"raft closed seed {s}"]["test"] for s in results["seeds"])])
    out["raft, context removed"] = {g: sum(closed[i] for i in idx) / len(idx) for g, idx in groups.items()}
    return out


def freshness(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per system (first seed): how it absorbs the update, in how many seconds, and the share of update
    questions whose reply holds the old answer before, the new answer before, and the new answer after
    (re-indexed for the readers; retrained for the closed-book fine-tune)."""
    by_id = {q.id: q for q in load_questions("updates")}
    updates = [by_id[i] for i in results["question_ids"]["updates"]]
    units = results["units"]

    def share(values: Sequence[bool]) -> float:
        return sum(values) / len(values)

    out = {}
    for system in SYSTEMS:
        run_ = runs(results, system)[0]
        before = run_["updates"]
        row = {"old_before": share([contains_answer(r, [u.old_answer]) for r, u in zip(before["reply"], updates)]),
               "new_before": share(before["correct"])}
        if system in READS:
            row.update(how="re-embed the changed documents", seconds=results["index"]["reindex_seconds"],
                       new_after=share(run_["updates_after"]["correct"]),
                       old_after=share([contains_answer(r, [u.old_answer])
                                        for r, u in zip(run_["updates_after"]["reply"], updates)]))
        elif system == "finetuned":
            row.update(how="train again on the updated facts", seconds=units["retrain"]["training_seconds"],
                       new_after=share(units["retrain"]["updates"]["correct"]),
                       old_after=share([contains_answer(r, [u.old_answer])
                                        for r, u in zip(units["retrain"]["updates"]["reply"], updates)]))
        else:
            row.update(how="nothing to absorb (no knowledge)", seconds=0.0, new_after=row["new_before"],
                       old_after=row["old_before"])
        out[system] = row
    return out


# The wording axis (``ragft/results/wording.json``, written by ``python -m ragft.experiments wording``): the
# same facts asked as users type them, and how far each question's wording is from the training questions.
WORDINGS = ("test", "test_plain")  # the head-to-head's indirect wording, and plain wording


def wording_runs(results: dict[str, Any], wording: dict[str, Any], system: str, part: str) -> list[dict[str, Any]]:
    """The stored evaluations of one system on one wording: one for an untrained system, one per seed for a
    trained one; each holds ``part`` ("test" or "test_plain") and the threshold of the same system and seed
    in the head-to-head (one gate per system and seed, chosen on validation, whatever the wording)."""
    gated = runs(results, system)
    if part == "test":
        return gated
    units = wording["units"]
    plain = [units[system]] if system in ("base", "rag") else [units[f"{system} seed {s}"] for s in results["seeds"]]
    return [{**p, "threshold": g["threshold"]} for p, g in zip(plain, gated)]


def wording_scores(results: dict[str, Any], wording: dict[str, Any], system: str, part: str) -> list[float]:
    """Per question of ``part``, the share of the system's seeds that answered it correctly (no gate)."""
    return seed_mean([correct(r, part) for r in wording_runs(results, wording, system, part)])


def wording_documents(part: str) -> list[str]:
    """Per question of ``part`` (in id order, as stored), the document that holds its answer."""
    return [q.doc_ids[0] for q in sorted(load_questions(part), key=lambda q: q.id)]


def wording_table(results: dict[str, Any], wording: dict[str, Any]) -> list[dict[str, Any]]:
    """Per system: accuracy on each wording (answering everything, seed-averaged, with chapter 5's 95 %
    interval over the 255 questions, ``interval``), the share answered wrongly behind the validated gate (``<part> confident_wrong``,
    seed-averaged) and plain minus indirect accuracy, paired by fact, with an interval that resamples
    documents."""
    rows = []
    docs = wording_documents("test")
    if docs != wording_documents("test_plain"):
        raise ValueError("the two wordings must ask the same facts in the same order")
    for system in SYSTEMS:
        scores = {part: wording_scores(results, wording, system, part) for part in WORDINGS}
        rates = {part: interval([correct(r, part) for r in wording_runs(results, wording, system, part)])
                 for part in WORDINGS}
        wrong = {f"{part} confident_wrong": statistics.mean(
            sum(o == -1 for o in system_outcomes(r, part)) / len(r[part]["reply"])
            for r in wording_runs(results, wording, system, part)) for part in WORDINGS}
        rows.append({"system": system, **rates, **wrong,
                     "plain - test": cluster_bootstrap(scores["test_plain"], docs, scores["test"])})
    return rows


def wording_differences(results: dict[str, Any], wording: dict[str, Any], pairs: Sequence[tuple[str, str]],
                        part: str) -> dict[str, dict[str, float]]:
    """Accuracy of ``a`` minus ``b`` on one wording, per pair, with intervals that resample documents."""
    docs = wording_documents(part)
    return {f"{a} - {b}": cluster_bootstrap(wording_scores(results, wording, a, part), docs,
                                            wording_scores(results, wording, b, part)) for a, b in pairs}


def accuracy_by_distance(results: dict[str, Any], wording: dict[str, Any], key: str = "train_nearest",
                         bins: int = 5) -> dict[str, Any]:
    """Accuracy of every system against a question's distance, both wordings pooled (510 questions).

    ``key`` is a stored cosine: ``train_nearest`` (to the nearest training question) or ``gold_chunk`` (to
    the section that holds the answer). Questions are sorted by it and cut into ``bins`` bins of equal size;
    per bin, its cosine range, and per system the seed-averaged accuracy with its 95 % interval (``interval``).
    """
    cosine = [c for part in WORDINGS for c in wording["units"]["distances"][part][key]]
    order = sorted(range(len(cosine)), key=lambda i: (cosine[i], i))
    edges = [order[round(j * len(order) / bins):round((j + 1) * len(order) / bins)] for j in range(bins)]
    out: dict[str, Any] = {"key": key, "bins": [{"low": cosine[b[0]], "high": cosine[b[-1]], "n": len(b),
                                                 "mean": sum(cosine[i] for i in b) / len(b)} for b in edges]}
    for system in SYSTEMS:
        pairs = zip(*(wording_runs(results, wording, system, part) for part in WORDINGS))  # seed by seed
        per_run = [[c for part, run_ in zip(WORDINGS, pair) for c in correct(run_, part)] for pair in pairs]
        out[system] = [interval([[run_[i] for i in b] for run_ in per_run]) for b in edges]
    return out
