"""The book's charts (``tools/charts.py``): every stored SVG is what the stored results draw today, and each
chart draws the numbers the stored results hold (checked here against the JSON, not against the chart code)."""
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from ragft.stats import wilson_interval

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import charts  # noqa: E402

RESULTS = ROOT / "ragft" / "results"


def stored(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def mean(values) -> float:
    return sum(map(float, values)) / len(values)


@pytest.fixture
def drawn(request):
    """The chart named by the test's parameter, as a figure; closed afterwards."""
    fig = charts.figure(request.param)
    yield fig
    plt.close(fig)


def bars(ax) -> dict[str, BarContainer]:
    return {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}


def heights(container: BarContainer) -> list[float]:
    return [p.get_height() for p in container.patches]


def widths(container: BarContainer) -> list[float]:
    return [p.get_width() for p in container.patches]


def interval_ends(container: BarContainer, horizontal: bool = False) -> list[float]:
    """low, high, low, high, ...: the ends of the bars' error bars, bar after bar."""
    axis = 0 if horizontal else 1
    return [end for seg in container.errorbar.lines[2][0].get_segments() for end in (seg[0][axis], seg[1][axis])]


def wilson(*outcome_lists) -> list[float]:
    """low, high, low, high, ...: the 95 % Wilson interval of each list of outcomes."""
    return [end for o in outcome_lists for end in wilson_interval(sum(map(bool, o)), len(o))]


def flat(pairs) -> list[float]:
    return [v for pair in pairs for v in pair]


def test_every_chart_is_up_to_date():
    assert charts.main(["--check"]) == 0, "run python tools/charts.py"


def test_charts_are_small_white_text_svgs():
    for name in charts.CHARTS:
        text = (charts.FIGURES / f"{name}.svg").read_text()
        assert len(text.encode()) < 150_000, f"{name}.svg is {len(text.encode())} bytes"
        assert "<image" not in text and "@font-face" not in text, f"{name}.svg embeds a picture or a font"
        assert "fill: #ffffff" in text, f"{name}.svg has no white background"


@pytest.mark.parametrize("drawn", ["answer"], indirect=True)
def test_answer_bars_are_the_stored_accuracies(drawn):
    h2h = stored("head_to_head")
    units = h2h["units"]

    def accuracy(system):  # answered right and not declined, averaged over a trained system's seeds
        runs = [units[system]] if system in ("base", "rag") else [units[f"{system} seed {s}"] for s in h2h["seeds"]]
        return mean([mean([c and not d for c, d in zip(r["test"]["correct"], r["test"]["idk"])]) for r in runs])

    (container,) = bars(drawn.axes[0]).values()
    systems = ["base", "rag", "finetuned", "rag+finetuned", "raft"]
    assert heights(container) == pytest.approx([accuracy(s) for s in systems], abs=1e-12)
    ends = interval_ends(container)
    assert all(low <= h <= high for low, high, h in zip(ends[::2], ends[1::2], heights(container)))
    assert ends[2:4] == pytest.approx(wilson([c and not d for c, d in zip(  # rag: one run, a Wilson interval
        units["rag"]["test"]["correct"], units["rag"]["test"]["idk"])]))


@pytest.mark.parametrize("drawn", ["purpose"], indirect=True)
def test_purpose_bars_are_chapter_1s_rates(drawn):
    tri, rag_tickets, curves = stored("triage")["units"], stored("purpose"), stored("learning_curves")
    drawn_bars = bars(drawn.axes[0])
    base, rag, tuned = (heights(drawn_bars[label]) for label in (
        "base model", "RAG (base model + retrieval)", "fine-tuned (LoRA)"))
    two = next(p for p in curves["facts"] if p["paraphrases"] == 2)
    # tasks: facts, valid record, exact record
    assert base == pytest.approx([0.0, tri["zero-shot"]["valid_record"], tri["zero-shot"]["exact_match"]], abs=1e-4)
    assert rag[1:] == pytest.approx([mean(rag_tickets["valid_record"]), mean(rag_tickets["exact"])])
    assert tuned == pytest.approx([two["new_wording"], tri["adapter"]["valid_record"], tri["adapter"]["exact_match"]],
                                  abs=1e-4)
    assert rag[0] > max(base[0], tuned[0]) and tuned[2] > max(base[2], rag[2])  # the chapter's point
    assert interval_ends(drawn_bars["fine-tuned (LoRA)"])[4:] == pytest.approx(wilson(tri["adapter"]["exact"]))


@pytest.mark.parametrize("drawn", ["context"], indirect=True)
def test_context_bars_are_the_stored_sweep(drawn):
    runs = stored("context")["configs"]
    in_prompt, given = bars(drawn.axes[0]).values()
    assert heights(in_prompt) == pytest.approx([mean(r["in_prompt"]) for r in runs])
    assert heights(given) == pytest.approx([mean(r["correct"]) for r in runs])
    assert interval_ends(given) == pytest.approx(wilson(*(r["correct"] for r in runs)))
    assert all(a > b for a, b in zip(heights(in_prompt), heights(given)))  # the reader's gap


@pytest.mark.parametrize("drawn", ["learning_curves"], indirect=True)
def test_learning_curves_are_the_stored_points(drawn):
    units, facts = stored("triage")["units"], stored("learning_curves")["facts"]
    left, right = drawn.axes
    (tickets,) = [c for c in left.containers if isinstance(c, ErrorbarContainer)]
    xy = tickets.lines[0].get_xydata().tolist()
    curve = sorted((u["tickets"], u["exact_match"]) for name, u in units.items() if name.startswith("curve n="))
    assert [x for x, _ in xy] == [n for n, _ in curve]
    assert [y for _, y in xy] == pytest.approx([e for _, e in curve], abs=1e-4)
    lines = {c.get_label(): c.lines[0].get_xydata().tolist() for c in right.containers
             if isinstance(c, ErrorbarContainer)}
    for label, key in [("new (the test question)", "new_wording"), ("in a training question", "trained_wording")]:
        assert flat(lines[label]) == pytest.approx(flat((p["examples"], p[key]) for p in facts), abs=1e-3)


@pytest.mark.parametrize("drawn", ["triage"], indirect=True)
def test_triage_bars_are_the_stored_exact_matches(drawn):
    units = stored("triage")["units"]
    (container,) = bars(drawn.axes[0]).values()
    assert heights(container) == pytest.approx([units[n]["exact_match"] for n in charts.TRIAGE_SYSTEMS], abs=1e-4)
    assert interval_ends(container) == pytest.approx(wilson(*(units[n]["exact"] for n in charts.TRIAGE_SYSTEMS)))
    assert "adapter" in charts.TRIAGE_SYSTEMS and "classifier" in charts.TRIAGE_SYSTEMS


@pytest.mark.parametrize("drawn", ["risk_coverage"], indirect=True)
def test_risk_coverage_curves_end_at_each_runs_stored_answers(drawn):
    h2h = stored("head_to_head")
    units = h2h["units"]
    lines = drawn.axes[0].get_lines()
    assert len(lines) == 2 + 3 * len(h2h["seeds"])  # base and rag once, every trained system once per seed
    first = {line.get_label(): line for line in lines if not line.get_label().startswith("_")}
    for system, unit in [("rag", "rag"), ("raft", "raft seed 0"), ("finetuned", "finetuned seed 0")]:
        test = units[unit]["test"]
        answered = [c for c, d in zip(test["correct"], test["idk"]) if not d]
        x, y = first[charts.RISK_LABELS[system]].get_xydata()[-1]
        assert x == pytest.approx(len(answered) / len(test["idk"]))  # the curve ends where "I don't know" begins
        assert y == pytest.approx(1 - mean(answered))  # and there its risk is the share of its answers wrong


@pytest.mark.parametrize("drawn", ["embedder"], indirect=True)
def test_embedder_bars_are_the_stored_scores(drawn):
    systems = stored("embedder")["systems"]
    drawn_bars = list(bars(drawn.axes[0]).values())
    for container, system in zip(drawn_bars, ("shipped", "fine-tuned")):
        expected = list(systems[system]["retrieval"].values()) + [mean(systems[system]["correct"])]
        assert heights(container) == pytest.approx(expected)
        assert interval_ends(container)[-2:] == pytest.approx(wilson(systems[system]["correct"]))


@pytest.mark.parametrize("drawn", ["security"], indirect=True)
def test_security_bars_are_the_stored_leaks_and_attacks(drawn):
    sec = stored("security")
    modes, ft = sec["access"]["modes"], sec["finetune"]
    (leaks,), (attacks,) = (bars(ax).values() for ax in drawn.axes)
    index = {q: i for i, q in enumerate(ft["question"])}
    pairs = modes["none"]["unauthorised"]["question"]  # the stored run's unauthorised (question, user) pairs
    shared = [ft["adapters"]["shared"]["stated"][index[q]] for q in pairs]
    rag = [mean(modes[m]["unauthorised"]["stated"]) for m in ("none", "after", "before")]
    assert widths(leaks) == pytest.approx(rag + [mean(shared), 0.0])
    assert interval_ends(leaks, horizontal=True)[:2] == pytest.approx(wilson(modes["none"]["unauthorised"]["stated"]))
    defences = sec["injection"]["defences"]
    assert widths(attacks) == pytest.approx([mean(d["success"]) for d in defences.values()])
    assert interval_ends(attacks, horizontal=True) == pytest.approx(wilson(*(d["success"] for d in defences.values())))


@pytest.mark.parametrize("drawn", ["scale"], indirect=True)
def test_scale_points_are_the_stored_sweep_at_100000(drawn):
    rows = [r for r in stored("scale")["index"] if r["size"] == 100_000]
    drawn_points = sorted(tuple(p) for line in drawn.axes[0].get_lines() for p in line.get_xydata().tolist())
    assert drawn_points == sorted((r["p50_ms"], r["recall"]) for r in rows)
    assert drawn.axes[0].get_xscale() == "log"
