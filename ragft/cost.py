"""What RAG and fine-tuning cost in money: one-off, per 1,000 queries, per week of updates and per month.

Throughputs measured on one machine (``Throughput``) turn a ``Workload`` into machine-seconds, and a
price per machine-hour (``Prices``) turns those into US dollars: cost = seconds * per_hour / 3600.
Every input is a field of one of the three dataclasses, and ``inputs`` lists them all for printing.

The model's simplifying assumptions, each of which a reader can check against their own setup:

* One machine type does everything (indexing, training and serving), at the one hourly price.
* Throughput scales linearly: twice the tokens take twice the time, at any size.
* Serving is batch 1: each query is answered alone, with no gain from batching queries together.
* An idle machine costs nothing (serverless-style billing): only busy seconds are paid for.
* A query is embedded at the rate of one chunk, and a vector search takes ``search_ms`` at the
  index size in question.
* Storing the vectors costs nothing. ``index_bytes`` gives their memory: 1,000 documents of 10 chunks
  at 384 float32 values are about 15 MB, small next to the compute at this scale.
* A month is 30 days, so 30/7 weeks. ``monthly_cost`` leaves out the one-off cost, which is reported
  separately by ``one_off_cost``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from datetime import date
from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np

SYSTEMS = ("rag", "finetuned", "raft")  # raft: RAG with a reader adapter trained to read (chapter 5)
RETRAIN_MODES = ("full", "changed")  # retrain on every fact, or only on the changed documents' facts
SECONDS_PER_HOUR = 3600
DAYS_PER_MONTH = 30
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7


def _check_number(owner: str, name: str, value: Any, *, whole: bool = False, positive: bool = False,
                  infinite: bool = False) -> None:
    """Raise a ValueError naming ``owner.name`` unless ``value`` is a number >= 0 (> 0 if ``positive``)."""
    kind = "a whole number" if whole else "a number"
    bound = "> 0" if positive else ">= 0"
    ok = (not isinstance(value, bool) and isinstance(value, Integral if whole else Real)
          and not math.isnan(value) and (infinite or math.isfinite(value))
          and (value > 0 if positive else value >= 0))
    if not ok:
        raise ValueError(f"{owner}.{name} must be {kind} {bound}, got {value!r}")


def _check_text(owner: str, name: str, value: Any) -> None:
    """Raise a ValueError naming ``owner.name`` unless ``value`` is a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{owner}.{name} must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class Throughput:
    """Rates measured on one machine; a rate of ``math.inf`` makes a step free. Invalid values raise ``ValueError``."""

    embed_chunks_per_s: float  # chunks embedded per second (indexing and query embedding)
    search_ms: float  # one vector search at the index size in question, milliseconds
    prefill_tokens_per_s: float  # prompt tokens the generator reads per second
    generate_tokens_per_s: float  # new tokens the generator writes per second (greedy, batch 1)
    train_tokens_per_s: float  # tokens per second through a LoRA training step
    source: str  # where the numbers came from, e.g. "ragft/results/scale.json, 2-core CPU"

    def __post_init__(self) -> None:
        for name in ("embed_chunks_per_s", "prefill_tokens_per_s", "generate_tokens_per_s", "train_tokens_per_s"):
            _check_number("Throughput", name, getattr(self, name), positive=True, infinite=True)
        _check_number("Throughput", "search_ms", self.search_ms)
        _check_text("Throughput", "source", self.source)


@dataclass(frozen=True)
class Prices:
    """What one hour of the measured machine costs, and where and when the price was read."""

    per_hour: float  # USD per hour of the machine the throughputs were measured on
    date: str  # when the price was read, ISO date such as "2026-05-01"
    source: str  # where: provider, instance type, region, on-demand or not

    def __post_init__(self) -> None:
        _check_number("Prices", "per_hour", self.per_hour)
        try:
            date.fromisoformat(self.date)
        except (TypeError, ValueError):
            raise ValueError(f"Prices.date must be an ISO date such as '2026-05-01', got {self.date!r}") from None
        _check_text("Prices", "source", self.source)


WHOLE_FIELDS = ("documents", "examples_per_fact", "tokens_per_example", "question_tokens", "context_tokens",
                "answer_tokens", "reader_examples")


@dataclass(frozen=True)
class Workload:
    """The documents, the training set, the traffic and the rate of change. Invalid values raise ``ValueError``."""

    documents: int
    chunks_per_document: float
    facts_per_document: float  # facts a fine-tune would have to learn per document
    examples_per_fact: int  # training paraphrases per fact (the book found fine-tuning needs several)
    epochs: float
    tokens_per_example: int
    queries_per_day: float
    changed_per_week: float  # share of documents that change each week, 0..1
    question_tokens: int
    context_tokens: int  # extra prompt tokens RAG adds (the retrieved sections)
    answer_tokens: int
    retrain: str = "full"  # "full": an update retrains on every fact (as chapter 5 did), or "changed"
    reader_examples: int = 0  # RAFT's reader adapter: training questions, each with retrieved context

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name not in ("changed_per_week", "retrain"):
                _check_number("Workload", f.name, getattr(self, f.name), whole=f.name in WHOLE_FIELDS)
        share = self.changed_per_week
        if (isinstance(share, bool) or not isinstance(share, Real) or math.isnan(share)
                or not 0 <= share <= 1):
            raise ValueError(f"Workload.changed_per_week must be a share between 0 and 1, got {share!r}")
        if self.retrain not in RETRAIN_MODES:
            raise ValueError(f"Workload.retrain must be one of {RETRAIN_MODES}, got {self.retrain!r}")


def _check_system(system: str) -> None:
    """Raise a ValueError unless ``system`` is one of ``SYSTEMS``."""
    if system not in SYSTEMS:
        raise ValueError(f"system must be one of {SYSTEMS}, got {system!r}")


def _usd(seconds: float, p: Prices) -> float:
    """Machine-seconds in US dollars at ``p.per_hour``."""
    return seconds * p.per_hour / SECONDS_PER_HOUR


def indexing_seconds(w: Workload, t: Throughput) -> float:
    """Seconds to embed every chunk of every document: the one-off cost of RAG."""
    return w.documents * w.chunks_per_document / t.embed_chunks_per_s


def training_tokens(w: Workload) -> float:
    """Tokens through training: documents x facts x examples per fact x tokens per example x epochs."""
    return w.documents * w.facts_per_document * w.examples_per_fact * w.tokens_per_example * w.epochs


def reader_training_seconds(w: Workload, t: Throughput) -> float:
    """Seconds to train RAFT's reader adapter: each example is a question, its retrieved context
    and the answer, ``w.epochs`` times. It is trained once; it teaches reading, so no document change retrains it."""
    return w.reader_examples * (w.question_tokens + w.context_tokens + w.answer_tokens) * w.epochs / t.train_tokens_per_s


def training_seconds(w: Workload, t: Throughput) -> float:
    """Seconds to train the fine-tune on every fact: the one-off cost of fine-tuning."""
    return training_tokens(w) / t.train_tokens_per_s


def query_seconds(system: str, w: Workload, t: Throughput) -> float:
    """Seconds to answer one query with ``system`` (one of ``SYSTEMS``), batch 1.

    RAG (and RAFT, RAG with a reader adapter) embeds the query, searches, reads the question and the retrieved
    context and writes the answer; a closed-book fine-tune reads only the question and writes the answer.
    """
    _check_system(system)
    generate = w.question_tokens / t.prefill_tokens_per_s + w.answer_tokens / t.generate_tokens_per_s
    if system == "finetuned":
        return generate
    return 1 / t.embed_chunks_per_s + t.search_ms / 1000 + w.context_tokens / t.prefill_tokens_per_s + generate


def update_seconds_per_week(system: str, w: Workload, t: Throughput) -> float:
    """Machine-seconds a week to absorb the documents that change, for ``system`` (see ``update_cost_per_week``)."""
    _check_system(system)
    if system in ("rag", "raft"):
        return w.changed_per_week * indexing_seconds(w, t)
    if w.retrain == "full":
        return training_seconds(w, t) if w.changed_per_week > 0 else 0.0
    return w.changed_per_week * training_seconds(w, t)


def one_off_cost(system: str, w: Workload, t: Throughput, p: Prices) -> float:
    """USD to set ``system`` up: indexing for RAG, training on every fact for the fine-tune, and indexing plus
    the reader adapter (``w.reader_examples``, see ``reader_training_seconds``) for RAFT."""
    _check_system(system)
    seconds = {"rag": indexing_seconds(w, t), "finetuned": training_seconds(w, t),
               "raft": indexing_seconds(w, t) + reader_training_seconds(w, t)}[system]
    return _usd(seconds, p)


def cost_per_1000_queries(system: str, w: Workload, t: Throughput, p: Prices) -> float:
    """USD to answer 1,000 queries with ``system``, one at a time."""
    return _usd(1000 * query_seconds(system, w, t), p)


def update_cost_per_week(system: str, w: Workload, t: Throughput, p: Prices) -> float:
    """USD a week to absorb the ``w.changed_per_week`` share of documents that change.

    RAG re-embeds the changed documents' chunks. The fine-tune is retrained once a week when anything
    changed: on every fact when ``w.retrain == "full"`` (as chapter 5 retrained; a retrain on the changed
    facts alone may make it forget others, untested here), or on the changed documents' facts only when it is
    ``"changed"``. RAFT pays RAG's update only: its adapter teaches the model to read retrieved sections, not
    the facts, so a changed document never needs a retrain (chapter 5: RAFT with its context removed answers
    nothing). The book's other combination, rag+finetuned, is not priced here: its gain is memory of trained
    facts, so it would pay RAG's update and the fine-tune's retraining.
    """
    return _usd(update_seconds_per_week(system, w, t), p)


def monthly_cost(system: str, w: Workload, t: Throughput, p: Prices) -> float:
    """USD a month (30 days): the queries plus 30/7 weeks of updates; the one-off cost is not included."""
    queries = DAYS_PER_MONTH * w.queries_per_day * query_seconds(system, w, t)
    return _usd(queries + WEEKS_PER_MONTH * update_seconds_per_week(system, w, t), p)


def _grid_values(name: str, values: Sequence[float]) -> list[float]:
    """The values of one axis of the break-even grid as a non-empty list, or a ValueError naming it."""
    message = f"{name} must be a non-empty, one-dimensional sequence of numbers, got {values!r}"
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(message)
    return array.tolist()


def break_even(w: Workload, t: Throughput, p: Prices, queries_per_day: Sequence[float],
               changed_per_week: Sequence[float]) -> np.ndarray:
    """Monthly cost of the fine-tune minus that of RAG, in USD: rows are change rates, columns query volumes.

    A positive cell means RAG is cheaper there, a negative one the fine-tune. Every other input is ``w``'s.
    """
    rows = _grid_values("changed_per_week", changed_per_week)
    columns = _grid_values("queries_per_day", queries_per_day)
    grid = np.empty((len(rows), len(columns)))
    for i, share in enumerate(rows):
        for j, volume in enumerate(columns):
            cell = replace(w, queries_per_day=volume, changed_per_week=share)  # validated like any Workload
            grid[i, j] = monthly_cost("finetuned", cell, t, p) - monthly_cost("rag", cell, t, p)
    return grid


def break_even_queries_per_day(w: Workload, t: Throughput, p: Prices) -> float:
    """Queries a day above which the fine-tune's month is cheaper than RAG's; ``math.inf`` if never, 0.0 if always."""
    extra_update = WEEKS_PER_MONTH * (update_cost_per_week("finetuned", w, t, p) - update_cost_per_week("rag", w, t, p))
    saving_per_query = _usd(query_seconds("rag", w, t) - query_seconds("finetuned", w, t), p)
    if extra_update <= 0:
        return 0.0
    if saving_per_query <= 0:
        return math.inf
    return extra_update / (DAYS_PER_MONTH * saving_per_query)


def index_bytes(w: Workload, dim: int = 384, bytes_per_value: int = 4) -> int:
    """Bytes of the vectors alone: chunks x ``dim`` values (384 for all-MiniLM-L6-v2) x ``bytes_per_value``."""
    for name, value in (("dim", dim), ("bytes_per_value", bytes_per_value)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return round(w.documents * w.chunks_per_document) * dim * bytes_per_value


def round_usd(x: float) -> float:
    """Dollars rounded to cents from $1 up, and to 4 significant figures below, so tiny costs stay visible."""
    if abs(x) >= 1 or x == 0 or not math.isfinite(x):
        return round(x, 2)
    return float(f"{x:.4g}")


def summary(w: Workload, t: Throughput, p: Prices) -> list[dict[str, Any]]:
    """One row per system: its one-off, per-1,000-queries, per-week-of-updates and monthly cost in USD, rounded."""
    return [{"system": system,
             "one_off_usd": round_usd(one_off_cost(system, w, t, p)),
             "per_1000_queries_usd": round_usd(cost_per_1000_queries(system, w, t, p)),
             "update_per_week_usd": round_usd(update_cost_per_week(system, w, t, p)),
             "monthly_usd": round_usd(monthly_cost(system, w, t, p))} for system in SYSTEMS]


UNITS = {  # the unit of every input, printed beside its value by ``inputs``
    "documents": "documents", "chunks_per_document": "chunks/document", "facts_per_document": "facts/document",
    "examples_per_fact": "examples/fact", "epochs": "epochs", "tokens_per_example": "tokens/example",
    "queries_per_day": "queries/day", "changed_per_week": "share of documents/week", "question_tokens": "tokens",
    "context_tokens": "tokens", "answer_tokens": "tokens", "retrain": "'full' or 'changed'", "reader_examples": "examples",
    "embed_chunks_per_s": "chunks/s", "search_ms": "ms", "prefill_tokens_per_s": "tokens/s",
    "generate_tokens_per_s": "tokens/s", "train_tokens_per_s": "tokens/s", "source": "text",
    "per_hour": "USD/hour", "date": "ISO date",
}


def inputs(w: Workload, t: Throughput, p: Prices) -> list[tuple[str, Any, str]]:
    """Every input as (name, value, unit) rows, workload first, then throughput, then prices, in field order."""
    return [(f"{prefix}.{f.name}", getattr(obj, f.name), UNITS[f.name])
            for prefix, obj in (("workload", w), ("throughput", t), ("prices", p)) for f in fields(obj)]
