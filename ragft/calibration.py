"""Confidence gates: how wrong a system is among the answers it is sure enough to give, and where to put the gate.

The head-to-head (chapter 5) scores every question 1 (right), 0 (declined) or -1 (confidently wrong) and chooses
one threshold per system on validation (``choose_threshold``); chapter 8 draws risk-coverage curves and picks a
threshold for a target risk (``threshold_for_risk``)."""
from __future__ import annotations

import math
from typing import Any, Sequence

from ragft.data import UNANSWERABLE_SPLITS
from ragft.stats import wilson_interval


def outcomes(graded: dict[str, list], threshold: float | None) -> list[int]:
    """Per question: 1 answered correctly, 0 declined (said "I don't know" or confidence below the
    threshold), -1 answered wrongly with confidence (a hallucination, on an unanswerable question too)."""
    out = []
    for idk, sure, right in zip(graded["idk"], graded["confidence"], graded["correct"]):
        if idk or (threshold is not None and sure < threshold):
            out.append(0)
        else:
            out.append(1 if right else -1)
    return out


def choose_threshold(graded: dict[str, list]) -> float | None:
    """The confidence threshold that maximises right minus wrong answers on validation.

    A confident wrong answer costs as much as a right one earns; a decline costs nothing. Candidates are
    the validation confidences themselves; ``None`` (answer everything) when no threshold beats it. The
    book passes the validation questions and the validation questions with no answer together
    (``joined``): a gate chosen on answerable questions alone never sees the answers it exists to stop.
    """
    pairs = sorted((s, r) for s, r, idk in zip(graded["confidence"], graded["correct"], graded["idk"]) if not idk)
    best, best_gain = None, sum(1 if r else -1 for _, r in pairs)
    gain = best_gain
    for i, (s, r) in enumerate(pairs):  # raising the threshold past pairs[i] drops that answer
        gain -= 1 if r else -1
        if i + 1 < len(pairs) and pairs[i + 1][0] == s:
            continue
        if gain > best_gain:
            best_gain, best = gain, (s + pairs[i + 1][0]) / 2 if i + 1 < len(pairs) else s + 1e-4
    return None if best is None else round(best, 4)


def joined(*graded: dict[str, list]) -> dict[str, list]:
    """One graded set made of several, ``confidence``, ``correct`` and ``idk`` concatenated in order (an
    unanswerable question is graded not correct, so any answer to it counts as wrong)."""
    if not graded:
        raise ValueError("nothing to join: give at least one graded set")
    return {key: [x for g in graded for x in g[key]] for key in ("confidence", "correct", "idk")}


def summarise(test: Sequence[int], unanswerable: Sequence[int]) -> dict[str, float]:
    """Coverage, accuracy, accuracy among answered, abstention, and confident wrong answers over all."""
    answered = [o for o in test if o != 0]
    both = list(test) + list(unanswerable)
    return {"accuracy": sum(o == 1 for o in test) / len(test),
            "coverage": len(answered) / len(test),
            "selective_accuracy": sum(o == 1 for o in answered) / len(answered) if answered else math.nan,
            "abstention": sum(o == 0 for o in unanswerable) / len(unanswerable),
            "confident_wrong": sum(o == -1 for o in both) / len(both)}


def risk_coverage_by_answer(graded: dict[str, list]) -> tuple[list[float], list[float]]:
    """The risk-coverage curve of answerable questions: answers sorted by confidence, most sure first
    ("I don't know" last); after each one, the share of questions answered and the share of those
    answers that are wrong. A system whose confidence means something has low risk at low coverage."""
    order = sorted(range(len(graded["correct"])),
                   key=lambda i: (graded["idk"][i], -graded["confidence"][i], i))
    coverage, risk, wrong = [], [], 0
    for n, i in enumerate(order, 1):
        if graded["idk"][i]:
            break
        wrong += not graded["correct"][i]
        coverage.append(n / len(order))
        risk.append(wrong / n)
    return coverage, risk


def accuracy_at_coverage(graded: dict[str, list], coverage: float) -> float:
    """Accuracy among the ``coverage`` share of answerable questions the system is most sure of
    (comparing systems at equal coverage: each answers the same number of questions)."""
    if not 0 < coverage <= 1:
        raise ValueError(f"need 0 < coverage <= 1, got {coverage}")
    order = sorted(range(len(graded["correct"])), key=lambda i: (graded["idk"][i], -graded["confidence"][i], i))
    keep = order[:max(1, round(coverage * len(order)))]
    return sum(graded["correct"][i] and not graded["idk"][i] for i in keep) / len(keep)


def _check_lists(confidence: Sequence[float], correct: Sequence[bool], idk: Sequence[bool]) -> None:
    if not len(confidence) == len(correct) == len(idk):
        raise ValueError(f"confidence, correct and idk must be of the same length (one entry per item), "
                         f"got {len(confidence)}, {len(correct)} and {len(idk)}")
    if not confidence:
        raise ValueError("no items: pass one confidence, correct and idk per question")
    if any(isinstance(c, float) and math.isnan(c) for c in confidence):
        raise ValueError("a confidence is NaN: every answer needs a number")


def at_threshold(threshold: float, confidence: Sequence[float], correct: Sequence[bool],
                 idk: Sequence[bool]) -> dict[str, Any]:
    """What a system does behind a confidence gate: an item is answered when it did not say "I don't know"
    and its confidence is at least ``threshold``. ``n`` items, ``answered``, ``wrong`` among them,
    ``coverage`` (answered / n) and ``risk`` (wrong / answered) with its 95 % Wilson interval
    ``risk_low``-``risk_high`` (NaN when nothing is answered)."""
    if threshold is None or isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"need a number as threshold, got {threshold!r} (threshold_for_risk gives None when no "
                         "threshold reaches the risk on validation: then the system should decline everything)")
    _check_lists(confidence, correct, idk)
    answered = [i for i, (s, d) in enumerate(zip(confidence, idk)) if not d and s >= threshold]
    wrong = sum(not correct[i] for i in answered)
    low, high = wilson_interval(wrong, len(answered)) if answered else (math.nan, math.nan)
    return {"threshold": threshold, "n": len(confidence), "answered": len(answered), "wrong": wrong,
            "coverage": len(answered) / len(confidence), "risk": wrong / len(answered) if answered else math.nan,
            "risk_low": low, "risk_high": high}


def risk_coverage(confidence: Sequence[float], correct: Sequence[bool], idk: Sequence[bool]) -> list[dict[str, Any]]:
    """The risk-coverage curve: for every distinct confidence of an answer (not "I don't know"), used as the
    threshold, the share of items answered (``coverage``) and the share of those answers that are wrong
    (``risk``), with ``threshold``, ``answered`` and ``wrong``; sorted by coverage, smallest first.

    Pool unanswerable questions in with ``correct=False``: any answer to them is wrong. "I don't know" is
    never an answer, so the curve ends at the share of items that did not decline (1 if none did).
    """
    _check_lists(confidence, correct, idk)
    answers = sorted(((s, bool(c)) for s, c, d in zip(confidence, correct, idk) if not d), reverse=True)
    curve, wrong = [], 0
    for i, (s, c) in enumerate(answers):  # most sure first; a threshold at s answers everything down to s
        wrong += not c
        if i + 1 < len(answers) and answers[i + 1][0] == s:
            continue  # equal confidences pass or fail a threshold together
        curve.append({"threshold": s, "answered": i + 1, "wrong": wrong, "coverage": (i + 1) / len(confidence),
                      "risk": wrong / (i + 1)})
    return curve


def threshold_for_risk(confidence: Sequence[float], correct: Sequence[bool], idk: Sequence[bool],
                       max_risk: float) -> float | None:
    """The lowest threshold (the largest coverage) whose risk on these items is at most ``max_risk``; ``None``
    when no threshold reaches it (then only declining everything does). Choose it on validation, then
    measure it on held-out items with ``at_threshold``: the risk chosen here is not promised there."""
    if isinstance(max_risk, bool) or not isinstance(max_risk, (int, float)) or not 0 <= max_risk <= 1:
        raise ValueError(f"max_risk is a share of wrong answers: need 0 <= max_risk <= 1, got {max_risk!r}")
    ok = [p for p in risk_coverage(confidence, correct, idk) if p["risk"] <= max_risk]
    return min(p["threshold"] for p in ok) if ok else None


def calibration_pool(unit: dict[str, Any], splits: Sequence[str] = ("test", "unanswerable")
                     ) -> tuple[list[float], list[bool], list[bool]]:
    """``(confidence, correct, idk)`` over the given splits of one stored head-to-head evaluation
    (``ragft.experiments.results.load_stored("head_to_head")["units"]["rag"]``, say), split after split, with every item of the
    ``unanswerable`` and ``validation_unanswerable`` splits counted as not correct (they have no right
    answer to give).

    The book chooses thresholds on ``("validation", "validation_unanswerable")``: the held-out training
    paraphrases and questions the knowledge base does not answer, so that a threshold's risk on
    validation counts answers to unanswerable questions as test does. The default pool, test and
    unanswerable items, is only ever scored.
    """
    if isinstance(splits, str):
        raise TypeError(f"splits must be a list of split names: for one split pass ({splits!r},)")
    if not splits:
        raise ValueError("no splits given: name at least one, such as 'test'")
    confidence: list[float] = []
    correct: list[bool] = []
    idk: list[bool] = []
    for split in splits:
        if split not in unit or not isinstance(unit[split], dict) or "confidence" not in unit[split]:
            known = [k for k, v in unit.items() if isinstance(v, dict) and "confidence" in v]
            raise ValueError(f"this unit has no graded split {split!r}; it has {known}")
        part = unit[split]
        _check_lists(part["confidence"], part["correct"], part["idk"])
        confidence += [float(s) for s in part["confidence"]]
        correct += [False if split in UNANSWERABLE_SPLITS else bool(c) for c in part["correct"]]
        idk += [bool(d) for d in part["idk"]]
    return confidence, correct, idk
