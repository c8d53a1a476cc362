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
