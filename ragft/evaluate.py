"""Scoring answers: is the reference answer in what the model said?"""
from __future__ import annotations

import re
from typing import Sequence

from ragft.data import normalize


def contains_answer(prediction: str, answers: Sequence[str]) -> bool:
    """True if any reference answer occurs in the prediction as whole words, after ``normalize``.

    Whole words matter: "EUR 89" must not count as found inside "EUR 899", nor "20 minutes"
    inside "120 minutes".
    """
    text = normalize(prediction)
    return any(re.search(rf"(?<![\w.,]){re.escape(normalize(a))}(?![\w]|[.,]\d)", text) for a in answers if a)


def accuracy(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> float:
    """Share of predictions that contain one of their reference answers."""
    if len(predictions) != len(answers) or not answers:
        raise ValueError("predictions and answers must be non-empty and of the same length")
    return sum(contains_answer(p, a) for p, a in zip(predictions, answers)) / len(answers)


ABSTAIN_PHRASES = ("i don't know", "i do not know", "not mentioned", "does not say", "doesn't say",
                   "does not mention", "doesn't mention", "no information", "not provided", "cannot answer",
                   "can't answer", "not specified", "not stated")


def is_abstention(reply: str) -> bool:
    """True when a reply declines to answer ("I don't know", "the text does not say", ...)."""
    text = normalize(reply)
    return not text or any(p in text for p in ABSTAIN_PHRASES)


TERM = re.compile(r"[A-Za-z]*\d[\w.,%/-]*|\b[A-Z][\w-]*[A-Z0-9][\w-]*\b")


def key_terms(text: str) -> list[str]:
    """The checkable tokens of a text: anything with a digit (numbers, versions, codes) and CamelCase or ALL-CAPS names."""
    return list(dict.fromkeys(t.rstrip(".,") for t in TERM.findall(text)))


def unsupported_terms(summary: str, sources: Sequence[str]) -> list[str]:
    """Key terms of ``summary`` that appear in none of the ``sources``: candidates for invented facts."""
    text = " ".join(sources)
    return [t for t in key_terms(summary) if not contains_answer(text, [t])]
