import math
from dataclasses import fields, replace

import numpy as np
import pytest

from ragft.cost import (
    SYSTEMS,
    Prices,
    Throughput,
    Workload,
    break_even,
    break_even_queries_per_day,
    cost_per_1000_queries,
    index_bytes,
    indexing_seconds,
    inputs,
    monthly_cost,
    one_off_cost,
    query_seconds,
    round_usd,
    summary,
    training_seconds,
    update_cost_per_week,
)

# A tiny workload whose costs are worked out by hand below. At $3.60 an hour one machine-second costs $0.001.
T = Throughput(embed_chunks_per_s=100, search_ms=10, prefill_tokens_per_s=1000, generate_tokens_per_s=10,
               train_tokens_per_s=500, source="hand-made for the tests")
P = Prices(per_hour=3.6, date="2026-05-01", source="hand-made: $3.60 an hour")
W = Workload(documents=10, chunks_per_document=5, facts_per_document=2, examples_per_fact=5, epochs=2,
             tokens_per_example=50, queries_per_day=100, changed_per_week=0.1, question_tokens=20,
             context_tokens=500, answer_tokens=10)


def test_one_off_seconds_and_cost_worked_by_hand():
    # indexing: 10 documents x 5 chunks = 50 chunks at 100 chunks/s = 0.5 s = $0.0005
    assert indexing_seconds(W, T) == pytest.approx(0.5)
    # training: 10 x 2 facts x 5 examples x 50 tokens x 2 epochs = 10,000 tokens at 500 tokens/s = 20 s = $0.02
    assert training_seconds(W, T) == pytest.approx(20.0)
    assert one_off_cost("rag", W, T, P) == pytest.approx(0.0005)
    assert one_off_cost("finetuned", W, T, P) == pytest.approx(0.02)
    # RAFT: indexing plus its reader adapter, none here (reader_examples=0) ...
    assert one_off_cost("raft", W, T, P) == pytest.approx(0.0005)
    # ... and with 10 reader examples: 10 x (20 + 500 + 10) tokens x 2 epochs = 10,600 tokens = 21.2 s; + 0.5 s
    assert one_off_cost("raft", replace(W, reader_examples=10), T, P) == pytest.approx(0.0217)


def test_query_seconds_and_cost_per_1000_worked_by_hand():
    # rag: embed 1/100 = 0.01 s + search 0.01 s + (20 + 500) / 1000 = 0.52 s + 10 / 10 = 1 s -> 1.54 s
    assert query_seconds("rag", W, T) == pytest.approx(1.54)
    assert query_seconds("raft", W, T) == pytest.approx(1.54)
    # finetuned: 20 / 1000 = 0.02 s + 10 / 10 = 1 s -> 1.02 s
    assert query_seconds("finetuned", W, T) == pytest.approx(1.02)
    # 1,000 queries: 1,540 s = $1.54 and 1,020 s = $1.02
    assert cost_per_1000_queries("rag", W, T, P) == pytest.approx(1.54)
    assert cost_per_1000_queries("finetuned", W, T, P) == pytest.approx(1.02)
    assert cost_per_1000_queries("raft", W, T, P) == pytest.approx(1.54)


def test_update_cost_per_week_worked_by_hand():
    # rag: 10 % of 50 chunks = 5 chunks at 100 chunks/s = 0.05 s = $0.00005
    assert update_cost_per_week("rag", W, T, P) == pytest.approx(0.00005)
    # finetuned, full: something changed, so the whole 20 s retrain = $0.02
    assert update_cost_per_week("finetuned", W, T, P) == pytest.approx(0.02)
    # finetuned, changed: 10 % of the 20 s = 2 s = $0.002
    assert update_cost_per_week("finetuned", replace(W, retrain="changed"), T, P) == pytest.approx(0.002)
    # raft: the adapter teaches reading, not facts, so only rag's re-embedding
    assert update_cost_per_week("raft", W, T, P) == pytest.approx(0.00005)


def test_monthly_cost_worked_by_hand():
    # rag: 30 days x 100 queries x 1.54 s = 4,620 s, plus 30/7 weeks x 0.05 s = 0.3/1.4 s
    assert monthly_cost("rag", W, T, P) == pytest.approx((4620 + 1.5 / 7) / 1000)
    # finetuned: 30 x 100 x 1.02 s = 3,060 s, plus 30/7 x 20 s = 600/7 s
    assert monthly_cost("finetuned", W, T, P) == pytest.approx((3060 + 600 / 7) / 1000)
    assert monthly_cost("raft", W, T, P) == pytest.approx(monthly_cost("rag", W, T, P))


def test_monthly_cost_leaves_the_one_off_out():
    quiet = replace(W, queries_per_day=0, changed_per_week=0)
    for system in SYSTEMS:
        assert monthly_cost(system, quiet, T, P) == 0
        assert one_off_cost(system, quiet, T, P) > 0


@pytest.mark.parametrize("system", SYSTEMS)
def test_doubling_the_queries_doubles_the_query_part_of_the_month(system):
    def month(q):
        return monthly_cost(system, replace(W, queries_per_day=q), T, P)
    updates = month(0)
    assert updates == pytest.approx(30 / 7 * update_cost_per_week(system, W, T, P))
    assert month(200) - updates == pytest.approx(2 * (month(100) - updates))
    assert month(100) - updates == pytest.approx(30 * 100 * cost_per_1000_queries(system, W, T, P) / 1000)


def test_every_cost_scales_with_the_price():
    double = replace(P, per_hour=7.2)
    free = replace(P, per_hour=0)
    for system in SYSTEMS:
        for cost in (one_off_cost, cost_per_1000_queries, update_cost_per_week, monthly_cost):
            assert cost(system, W, T, double) == pytest.approx(2 * cost(system, W, T, P))
            assert cost(system, W, T, free) == 0


@pytest.mark.parametrize("context", [1, 50, 500, 4000])
def test_rag_queries_cost_more_than_closed_book_ones_when_they_carry_context(context):
    free_lookup = replace(T, embed_chunks_per_s=math.inf, search_ms=0)  # only the context tokens differ
    w = replace(W, context_tokens=context)
    for t in (T, free_lookup):
        assert cost_per_1000_queries("rag", w, t, P) > cost_per_1000_queries("finetuned", w, t, P)
    # with free lookup, the difference is exactly the context read at 1,000 tokens/s: context / 1000 s a query
    gap = query_seconds("rag", w, free_lookup) - query_seconds("finetuned", w, free_lookup)
    assert gap == pytest.approx(context / 1000)


def test_without_context_rag_differs_only_by_the_lookup():
    w = replace(W, context_tokens=0)
    # embedding one query (1/100 s) and one search (10 ms) = 0.02 s
    assert query_seconds("rag", w, T) - query_seconds("finetuned", w, T) == pytest.approx(0.02)
    free_lookup = replace(T, embed_chunks_per_s=math.inf, search_ms=0)
    assert query_seconds("rag", w, free_lookup) == query_seconds("finetuned", w, free_lookup) == pytest.approx(1.02)


@pytest.mark.parametrize("share", [0, 0.001, 0.1, 0.5, 1])
def test_retraining_the_changed_facts_never_costs_more_than_all_of_them(share):
    w = replace(W, changed_per_week=share)
    full = update_cost_per_week("finetuned", replace(w, retrain="full"), T, P)
    changed = update_cost_per_week("finetuned", replace(w, retrain="changed"), T, P)
    assert changed <= full
    if share == 0:
        assert full == changed == 0
    if share == 1:
        assert changed == pytest.approx(full)


def test_update_cost_grows_with_the_rate_of_change():
    costs = [update_cost_per_week("rag", replace(W, changed_per_week=s), T, P) for s in (0, 0.1, 0.2)]
    assert costs[0] == 0 and costs[2] == pytest.approx(2 * costs[1]) and costs[1] > 0


def test_break_even_grid_shape_values_and_sign_flip():
    grid = break_even(W, T, P, queries_per_day=[0, 1, 10, 1000], changed_per_week=[0, 0.1, 1])
    assert grid.shape == (3, 4) and grid.dtype == float
    # no change, no queries: both months cost nothing
    assert grid[0, 0] == 0
    # no change: the fine-tune saves 0.52 s a query, 30 x 1000 x 0.52 s = 15,600 s = $15.60 at 1,000 a day
    assert grid[0, 3] == pytest.approx(-15.6)
    # every document changes, no queries: 30/7 weeks x (20 s retrain - 0.5 s re-embedding) = 585/7 s
    assert grid[2, 0] == pytest.approx(0.585 / 7)
    # at 10 % change a week RAG is cheaper at 1 query a day and the fine-tune at 10 (break-even near 5.48)
    assert grid[1, 1] > 0 > grid[1, 2]
    assert grid[2, 0] > 0 > grid[2, 3]  # the sign flips along a row ...
    assert grid[0, 1] < 0 < grid[2, 1]  # ... and down a column
    # each cell is the difference of the two monthly costs at that point
    cell = replace(W, queries_per_day=10, changed_per_week=0.1)
    assert grid[1, 2] == pytest.approx(monthly_cost("finetuned", cell, T, P) - monthly_cost("rag", cell, T, P))


def test_break_even_queries_per_day_worked_by_hand():
    # extra updates: 30/7 x (20 - 0.05) s = 85.5 s; saving: 30 days x 0.52 s = 15.6 s per query a day
    q = break_even_queries_per_day(W, T, P)
    assert q == pytest.approx(85.5 / 15.6)
    at = replace(W, queries_per_day=q)
    assert monthly_cost("finetuned", at, T, P) == pytest.approx(monthly_cost("rag", at, T, P))
    # nothing changes: the fine-tune's month is never dearer; no context and free lookup: it never pays off
    assert break_even_queries_per_day(replace(W, changed_per_week=0), T, P) == 0.0
    free_lookup = replace(T, embed_chunks_per_s=math.inf, search_ms=0)
    assert break_even_queries_per_day(replace(W, context_tokens=0), free_lookup, P) == math.inf


def test_summary_has_one_rounded_row_per_system():
    rows = summary(W, T, P)
    assert [r["system"] for r in rows] == list(SYSTEMS)
    assert all(set(r) == {"system", "one_off_usd", "per_1000_queries_usd", "update_per_week_usd", "monthly_usd"}
               for r in rows)
    rag, finetuned, both = rows
    # the hand-worked values above, rounded to cents from $1 up and to 4 significant figures below
    assert rag == {"system": "rag", "one_off_usd": 0.0005, "per_1000_queries_usd": 1.54,
                   "update_per_week_usd": 0.00005, "monthly_usd": 4.62}
    assert finetuned == {"system": "finetuned", "one_off_usd": 0.02, "per_1000_queries_usd": 1.02,
                         "update_per_week_usd": 0.02, "monthly_usd": 3.15}
    assert both == {"system": "raft", "one_off_usd": 0.0005, "per_1000_queries_usd": 1.54,
                    "update_per_week_usd": 0.00005, "monthly_usd": 4.62}


def test_round_usd_keeps_cents_or_four_significant_figures():
    assert round_usd(1234.5678) == 1234.57
    assert round_usd(1.005001) == 1.01
    assert round_usd(0.000123456) == 0.0001235
    assert round_usd(-0.0123456) == -0.01235
    assert round_usd(0) == 0


def test_inputs_lists_every_field_in_order_with_a_unit():
    rows = inputs(W, T, P)
    expected = [(f"{prefix}.{f.name}", getattr(obj, f.name))
                for prefix, obj in (("workload", W), ("throughput", T), ("prices", P)) for f in fields(obj)]
    assert [(name, value) for name, value, _ in rows] == expected
    assert len(rows) == 13 + 6 + 3
    assert all(isinstance(unit, str) and unit for _, _, unit in rows)
    assert dict((name, unit) for name, _, unit in rows)["prices.per_hour"] == "USD/hour"


def test_index_bytes():
    assert index_bytes(W) == 10 * 5 * 384 * 4  # 76,800 bytes
    assert index_bytes(W, dim=768, bytes_per_value=2) == 10 * 5 * 768 * 2
    # the module docstring's example: 1,000 documents of 10 chunks, 384 float32 values = 15,360,000 bytes
    assert index_bytes(replace(W, documents=1000, chunks_per_document=10)) == 15_360_000
    with pytest.raises(ValueError, match="dim must be a whole number >= 1"):
        index_bytes(W, dim=0)
    with pytest.raises(ValueError, match="bytes_per_value must be a whole number >= 1"):
        index_bytes(W, bytes_per_value=2.5)


@pytest.mark.parametrize("field, value, message", [
    ("embed_chunks_per_s", 0, r"Throughput.embed_chunks_per_s must be a number > 0, got 0"),
    ("prefill_tokens_per_s", -1.0, r"Throughput.prefill_tokens_per_s must be a number > 0"),
    ("generate_tokens_per_s", float("nan"), r"Throughput.generate_tokens_per_s must be a number > 0"),
    ("train_tokens_per_s", "fast", r"Throughput.train_tokens_per_s must be a number > 0"),
    ("search_ms", -0.5, r"Throughput.search_ms must be a number >= 0"),
    ("search_ms", math.inf, r"Throughput.search_ms must be a number >= 0"),
    ("source", " ", r"Throughput.source must be a non-empty string"),
])
def test_throughput_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(T, **{field: value})


@pytest.mark.parametrize("field, value, message", [
    ("per_hour", -1, r"Prices.per_hour must be a number >= 0"),
    ("per_hour", math.inf, r"Prices.per_hour must be a number >= 0"),
    ("date", "May 2026", r"Prices.date must be an ISO date such as '2026-05-01', got 'May 2026'"),
    ("date", None, r"Prices.date must be an ISO date"),
    ("source", "", r"Prices.source must be a non-empty string"),
])
def test_prices_reject_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(P, **{field: value})


@pytest.mark.parametrize("field, value, message", [
    ("documents", -1, r"Workload.documents must be a whole number >= 0, got -1"),
    ("documents", 2.5, r"Workload.documents must be a whole number >= 0"),
    ("documents", True, r"Workload.documents must be a whole number >= 0"),
    ("chunks_per_document", -0.1, r"Workload.chunks_per_document must be a number >= 0"),
    ("epochs", math.nan, r"Workload.epochs must be a number >= 0"),
    ("queries_per_day", -5, r"Workload.queries_per_day must be a number >= 0"),
    ("context_tokens", -1, r"Workload.context_tokens must be a whole number >= 0"),
    ("changed_per_week", 1.5, r"Workload.changed_per_week must be a share between 0 and 1, got 1.5"),
    ("changed_per_week", -0.1, r"Workload.changed_per_week must be a share between 0 and 1"),
    ("retrain", "partial", r"Workload.retrain must be one of \('full', 'changed'\), got 'partial'"),
])
def test_workload_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(W, **{field: value})


@pytest.mark.parametrize("function", [one_off_cost, cost_per_1000_queries, update_cost_per_week, monthly_cost])
def test_every_cost_rejects_an_unknown_system(function):
    with pytest.raises(ValueError, match=r"system must be one of \('rag', 'finetuned', 'raft'\), got 'RAG'"):
        function("RAG", W, T, P)
    with pytest.raises(ValueError, match="system must be one of"):
        query_seconds("fine-tuned", W, T)


def test_break_even_rejects_bad_axes():
    with pytest.raises(ValueError, match="queries_per_day must be a non-empty, one-dimensional sequence"):
        break_even(W, T, P, queries_per_day=[], changed_per_week=[0.1])
    with pytest.raises(ValueError, match="changed_per_week must be a non-empty, one-dimensional sequence"):
        break_even(W, T, P, queries_per_day=[1], changed_per_week=[[0.1, 0.2]])
    with pytest.raises(ValueError, match="queries_per_day must be a non-empty, one-dimensional sequence"):
        break_even(W, T, P, queries_per_day=["many"], changed_per_week=[0.1])
    with pytest.raises(ValueError, match="Workload.changed_per_week must be a share between 0 and 1, got 2.0"):
        break_even(W, T, P, queries_per_day=[1], changed_per_week=[0.1, 2])
    with pytest.raises(ValueError, match="Workload.queries_per_day must be a number >= 0"):
        break_even(W, T, P, queries_per_day=np.array([-1.0]), changed_per_week=[0.1])
