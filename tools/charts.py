"""The book's charts: one per chapter, each drawn from the stored results (``ragft/results/*.json``) with the
package functions its notebook uses, never from numbers typed by hand.

Each chart is a function registered under its name (``@chart("scale")``) that draws a matplotlib figure;
``draw(name)`` turns it into SVG text that is the same on every run (no date, a fixed id salt, text kept
as text in a common sans-serif font), written to ``book/figures/<name>.svg``:

    python tools/charts.py                 # write every chart
    python tools/charts.py scale purpose   # write only these
    python tools/charts.py --check         # exit 1 if a stored chart differs from a fresh drawing

Every chart has a white background (it reads in the site's light and dark themes), colours from Okabe and
Ito's colour-blind-safe palette, and a 95 % interval on every rate whose stored data gives one.
"""
from __future__ import annotations

import functools
import io
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from matplotlib.transforms import ScaledTranslation  # noqa: E402

from ragft.experiments.results import load_stored  # noqa: E402
from ragft.stats import rate, wilson_interval  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "book" / "figures"

STYLE = {
    "svg.fonttype": "none",  # text stays text: small files, no embedded glyphs
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "sans-serif"],  # DejaVu ships with matplotlib
    "font.size": 10,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}
# Okabe and Ito's palette, distinct for the common kinds of colour blindness
GREY, ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILLION, PURPLE, BLACK = (
    "#999999", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
SYSTEM_COLOURS = {"base": GREY, "rag": BLUE, "finetuned": ORANGE, "rag+finetuned": GREEN, "raft": PURPLE}
SYSTEM_LINES = {"base": ":", "rag": "-", "finetuned": "--", "rag+finetuned": "-.", "raft": "-"}

CHARTS: dict[str, Callable[[], Figure]] = {}


def chart(name: str) -> Callable[[Callable[[], Figure]], Callable[[], Figure]]:
    """Register a function that draws ``book/figures/<name>.svg``."""
    def register(draw_figure: Callable[[], Figure]) -> Callable[[], Figure]:
        CHARTS[name] = draw_figure
        return draw_figure
    return register


def figure(name: str) -> Figure:
    """The chart ``name`` as a matplotlib figure, in the book's style (close it when done)."""
    with plt.rc_context(STYLE):
        return CHARTS[name]()


def draw(name: str) -> str:
    """The chart ``name`` as SVG text (deterministic: no date, a fixed id salt per chart)."""
    with plt.rc_context({**STYLE, "svg.hashsalt": f"ragft-{name}"}):
        fig = CHARTS[name]()
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
        plt.close(fig)
    return out.getvalue()


@functools.cache
def stored(name: str) -> dict[str, Any]:
    """The stored results of one experiment, read once per process (the charts only read them)."""
    return load_stored(name)


def errors(rates: Sequence[dict[str, float]]) -> list[list[float]]:
    """matplotlib's ``yerr`` / ``xerr`` (distances below and above) from ``ragft.stats.rate``-style dicts."""
    return [[r["rate"] - r["low"] for r in rates], [r["high"] - r["rate"] for r in rates]]


def share(value: float, n: int) -> dict[str, float]:
    """A stored share of ``n`` items as a ``rate`` dict with its Wilson interval, for results that keep
    the share but not the items (the count is recovered from it; it must be a whole number)."""
    count = round(value * n)
    if abs(value * n - count) > 0.01:
        raise ValueError(f"{value} of {n} is no whole count: the stored share cannot be turned into an interval")
    low, high = wilson_interval(count, n)
    return {"rate": count / n, "n": n, "low": low, "high": high}


def label_bars(ax: Any, xs: Sequence[float], rates: Sequence[dict[str, float]], horizontal: bool = False,
               size: float = 8.5) -> None:
    """Print each rate (3 decimals, as the notebooks do) just beyond the end of its interval."""
    for x, r in zip(xs, rates):
        if horizontal:
            ax.text(r["high"] + 0.012, x, f"{r['rate']:.3f}", va="center", ha="left", fontsize=size)
        else:
            ax.text(x, r["high"] + 0.015, f"{r['rate']:.3f}", ha="center", va="bottom", fontsize=size)


# Chapter 1 -----------------------------------------------------------------------------------------------

def purpose_rates() -> dict[str, dict[str, dict[str, float]]]:
    """Chapter 1's table (notebook 01), task by task and system by system, with 95 % intervals.

    The notebook scores most rows live; the stored runs hold the same replies: the facts rows are the
    base model of chapter 5 (``head_to_head``, unit ``base``), chapter 2's context sweep at k = 1 with the
    plain layout (``context``, RAG) and chapter 3's two-paraphrase adapter (``learning_curves``, the very run
    notebook 01 calls), each on the 24 questions of ``chosen_facts``; the ticket rows are chapter 4's
    zero-shot base model and shipped adapter (``triage``) and chapter 1's own RAG run (``purpose``).
    """
    from ragft.data import load_questions
    from ragft.experiments.learning_curves import chosen_facts

    picked = set(chosen_facts())
    chosen = [q.id for q in sorted(load_questions("test"), key=lambda q: q.id) if q.fact_ids[0] in picked]

    def on_chosen(question_ids: Sequence[str], correct: Sequence[bool]) -> dict[str, float]:
        where = {q: i for i, q in enumerate(question_ids)}
        return rate([correct[where[q]] for q in chosen])

    h2h, context, curves = stored("head_to_head"), stored("context"), stored("learning_curves")
    sweep = next(c for c in context["configs"] if c["k"] == 1 and c["layout"] == "plain")
    two = next(p for p in curves["facts"] if p["paraphrases"] == 2)
    triage, rag_tickets = stored("triage")["units"], stored("purpose")
    facts = {"base": on_chosen(h2h["question_ids"]["test"], h2h["units"]["base"]["test"]["correct"]),
             "rag": on_chosen(context["questions"], sweep["correct"]),
             "finetuned": share(two["new_wording"], len(chosen))}
    # a valid record parses and has exactly the allowed fields and values (ragft.triage.is_valid_record)
    from ragft.triage import is_valid_record

    valid = {"base": rate([is_valid_record(r) for r in triage["zero-shot"]["replies"]]),
             "rag": rate(rag_tickets["valid_record"]),
             "finetuned": rate([is_valid_record(r) for r in triage["adapter"]["replies"]])}
    exact = {"base": rate(triage["zero-shot"]["exact"]), "rag": rate(rag_tickets["exact"]),
             "finetuned": rate(triage["adapter"]["exact"])}
    return {"facts": facts, "valid record": valid, "exact record": exact}


@chart("purpose")
def purpose() -> Figure:
    """Chapter 1: base, RAG and fine-tuned on facts (new wording) and on behaviour (ticket triage)."""
    rates = purpose_rates()
    n_facts, n_tickets = rates["facts"]["base"]["n"], rates["exact record"]["base"]["n"]
    tasks = {"facts": f"facts: the answer,\nasked in new wording\n({n_facts} test questions)",
             "valid record": f"behaviour: a valid\ntriage record\n({n_tickets} test tickets)",
             "exact record": f"behaviour: exactly the\nlabelled record\n({n_tickets} test tickets)"}
    systems = {"base": "base model", "rag": "RAG (base model + retrieval)", "finetuned": "fine-tuned (LoRA)"}
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.26
    for j, (system, label) in enumerate(systems.items()):
        xs = [i + (j - 1) * width for i in range(len(tasks))]
        rs = [rates[task][system] for task in tasks]
        ax.bar(xs, [r["rate"] for r in rs], width, yerr=errors(rs), capsize=3, label=label,
               color=SYSTEM_COLOURS[system], edgecolor="black", linewidth=0.5, error_kw={"linewidth": 1})
        label_bars(ax, xs, rs)
    ax.set_xticks(range(len(tasks)), list(tasks.values()))
    ax.set_ylabel("share of questions or tickets")
    ax.set_ylim(0, 1.12)
    ax.set_title("Retrieval adds facts, fine-tuning adds behaviour (95 % intervals)", fontsize=10)
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig


# Chapter 2 -----------------------------------------------------------------------------------------------

@chart("context")
def context() -> Figure:
    """Chapter 2 (notebook 02b): for each k and layout, the answer in the prompt against the answer given."""
    runs = stored("context")["configs"]
    n = len(stored("context")["questions"])
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for shift, key, label, colour in [
            (-0.2, "in_prompt", "the answer is in the prompt (a perfect reader's score)", SKY),
            (0.2, "correct", "the 135 M generator gives the answer", VERMILLION)]:
        xs = [i + shift for i in range(len(runs))]
        rs = [rate(run[key]) for run in runs]
        ax.bar(xs, [r["rate"] for r in rs], 0.4, yerr=errors(rs), capsize=3, label=label, color=colour,
               edgecolor="black", linewidth=0.5, error_kw={"linewidth": 1})
        label_bars(ax, xs, rs, size=8)
    ax.set_xticks(range(len(runs)), [f"k = {run['k']}\n{run['layout']}" for run in runs])
    ax.set_xlabel("chunks retrieved (k) and prompt layout")
    ax.set_ylabel(f"share of {n} test questions")
    ax.set_ylim(0, 1.12)
    ax.set_title(f"More chunks put the answer in more prompts; the small reader gives it less often\n"
                 f"({n} test questions per configuration, 95 % intervals)", fontsize=10)
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig


# Chapter 3 -----------------------------------------------------------------------------------------------

def learning_curve_rates() -> dict[str, list[tuple[int, dict[str, float]]]]:
    """Chapter 3's curves (notebook 03b): ticket exact match by training tickets (100 steps each), and the
    facts adapters' accuracy by training examples, on the wording seen in training and on the test wording."""
    from ragft.experiments.triage import CURVE_SIZES

    units = stored("triage")["units"]
    facts = stored("learning_curves")["facts"]
    return {"tickets": [(n, rate(units[f"curve n={n}"]["exact"])) for n in CURVE_SIZES],
            "facts, new wording": [(p["examples"], share(p["new_wording"], p["examples"] // p["paraphrases"]))
                                   for p in facts],
            "facts, trained wording": [(p["examples"], share(p["trained_wording"], p["examples"] // p["paraphrases"]))
                                       for p in facts]}


@chart("learning_curves")
def learning_curves() -> Figure:
    """Chapter 3: behaviour and facts against the number of training examples."""
    from ragft.experiments.triage import CURVE_STEPS

    curves = learning_curve_rates()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.8), sharey=True)
    sizes, rs = zip(*curves["tickets"])
    left.errorbar(sizes, [r["rate"] for r in rs], yerr=errors(rs), marker="o", capsize=3, color=ORANGE,
                  label="exact match")
    label_bars(left, sizes, rs)
    left.set_xscale("log")
    left.set_xlim(sizes[0] / 1.35, sizes[-1] * 1.35)
    left.set_xticks(sizes, [str(n) for n in sizes])
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("training tickets (log scale)")
    left.set_ylabel(f"share of test items right\n(behaviour: {rs[0]['n']} tickets; facts: "
                    f"{curves['facts, new wording'][0][1]['n']} questions)")
    left.set_title(f"Behaviour: ticket triage, exact record\n({CURVE_STEPS} training steps at every size; 95 % "
                   "intervals)", fontsize=9.5)
    for key, marker, style, colour, nudge in [("facts, trained wording", "o", "-", BLUE, -2.5),
                                              ("facts, new wording", "s", "--", VERMILLION, 2.5)]:
        examples, rs = zip(*curves[key])
        shifted = right.transData + ScaledTranslation(nudge / 72, 0, fig.dpi_scale_trans)  # side by side, in points
        right.errorbar(examples, [r["rate"] for r in rs], yerr=errors(rs), marker=marker, ls=style, capsize=3,
                       color=colour, transform=shifted,
                       label="in a training question" if "trained" in key else "new (the test question)")
    n_facts = curves["facts, new wording"][0][1]["n"]
    right.set_xticks(examples, [str(e) for e in examples])
    right.set_xlabel(f"training examples ({n_facts} facts x 1, 2, 3 wordings)")
    right.set_title(f"Facts: closed-book answers\n({n_facts} questions, one per fact; 95 % intervals)", fontsize=9.5)
    pad = (examples[-1] - examples[0]) * 0.12  # set by hand: the nudged lines do not autoscale
    right.set_xlim(examples[0] - pad, examples[-1] + pad)
    right.legend(title="question worded as", loc="upper left", fontsize=9, title_fontsize=9)
    left.set_ylim(0, 1.02)
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# Chapter 4 -----------------------------------------------------------------------------------------------

TRIAGE_SYSTEMS = {  # notebook 04b's comparison, in its order: stored unit -> label
    "zero-shot": "zero-shot\nprompt", "zero-shot constrained": "zero-shot,\nconstrained",
    "few-shot": "few-shot\nprompt", "few-shot constrained": "few-shot,\nconstrained",
    "classifier": "classifier\non sentence\nembeddings", "adapter": "LoRA\nadapter",
    "adapter constrained": "LoRA adapter,\nconstrained"}


@chart("triage")
def triage() -> Figure:
    """Chapter 4 (notebook 04b): exact match of the shipped adapter and of what one would try first."""
    units = stored("triage")["units"]
    rs = [rate(units[name]["exact"]) for name in TRIAGE_SYSTEMS]
    colours = [GREY if "shot" in name else GREEN if name == "classifier" else ORANGE for name in TRIAGE_SYSTEMS]
    fig, ax = plt.subplots(figsize=(7.5, 3.9))
    xs = range(len(rs))
    ax.bar(xs, [r["rate"] for r in rs], 0.65, yerr=errors(rs), capsize=3, color=colours, edgecolor="black",
           linewidth=0.5, hatch=[("//" if "constrained" in name else "") for name in TRIAGE_SYSTEMS],
           error_kw={"linewidth": 1})
    label_bars(ax, xs, rs)
    ax.set_xticks(list(xs), list(TRIAGE_SYSTEMS.values()), fontsize=9)
    n = rs[0]["n"]
    ax.set_ylabel(f"exact match: share of {n} test\ntickets given the labelled record")
    ax.set_ylim(0, 1)
    ax.set_title(f"Ticket triage on {n} test tickets (95 % intervals): prompting the base model (grey),\n"
                 "a classifier (green), the fine-tuned adapter (orange); hatched: decoding constrained to "
                 "valid records", fontsize=9)
    fig.tight_layout()
    return fig


STYLE_LABELS = {"rag": "RAG,\nno guide", "guide in prompt": "guide in\nthe prompt", "guide retrieved": "guide\nretrieved",
                "few-shot": "3 styled\nexamples", "lora": "LoRA,\nno facts", "lora+rag": "LoRA +\nRAG"}
SUMMARY_LABELS = {"prompted": "prompted", "rag": "retrieve,\nthen\nsummarise", "lora": "LoRA", "lora+rag": "LoRA +\nretrieval"}


def as_rate(found: dict[str, float]) -> dict[str, float]:
    """A ``cluster_bootstrap`` result as a ``rate``-style dict for ``errors`` and ``label_bars``."""
    return {"rate": found["mean"], "low": found["low"], "high": found["high"], "n": found["n"]}


@chart("style")
def style() -> Figure:
    """Chapter 4 (notebook 04c): the house style six ways (all rules kept, content), and the handover notes
    four ways (ROUGE-L), each with a 95 % interval that resamples documents or templates."""
    from ragft.style import style_rate
    from ragft.summaries import summary_score

    results = stored("style")
    house, notes = results["style"], results["summaries"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.9), gridspec_kw={"width_ratios": [3, 2]})
    xs = list(range(len(STYLE_LABELS)))
    width = 0.27
    for offset, key, colour, label in ((-width, "form_rules", YELLOW, "the five rules of form kept"),
                                       (0, "all_rules", ORANGE, "all six rules kept"),
                                       (width, "content", SKY, "answer in the reply")):
        rs = [as_rate(style_rate(house, system, key)) for system in STYLE_LABELS]
        at = [x + offset for x in xs]
        left.bar(at, [r["rate"] for r in rs], width, yerr=errors(rs), capsize=2, color=colour, edgecolor="black",
                 linewidth=0.5, label=label, error_kw={"linewidth": 1})
        label_bars(left, [x for x, r in zip(at, rs) if r["rate"] > 0], [r for r in rs if r["rate"] > 0], size=7)
    left.set_xticks(xs, list(STYLE_LABELS.values()), fontsize=8)
    left.set_ylim(0, 1.1)
    left.set_ylabel(f"share of {len(house['test'])} held-out emails")
    left.set_title("A house style: told, shown, or trained (bars without a label are 0)", fontsize=9)
    left.legend(fontsize=8, loc="upper left")
    rs = [as_rate(summary_score(notes, system)) for system in SUMMARY_LABELS]
    xs = list(range(len(rs)))
    right.bar(xs, [r["rate"] for r in rs], 0.6, yerr=errors(rs), capsize=3,
              color=[GREY, GREEN, ORANGE, PURPLE], edgecolor="black", linewidth=0.5, error_kw={"linewidth": 1})
    label_bars(right, xs, rs, size=8)
    right.set_xticks(xs, list(SUMMARY_LABELS.values()), fontsize=8)
    right.set_ylim(0, 1.1)
    right.set_ylabel(f"ROUGE-L F1, mean of {len(notes['test'])} threads")
    right.set_title("Handover notes from support threads", fontsize=9)
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# Chapter 5 -----------------------------------------------------------------------------------------------

ANSWER_LABELS = {"base": "base model\n(no retrieval,\nno training)", "rag": "RAG\n(untrained\nreader)",
                 "finetuned": "fine-tuned\n(closed book)", "rag+finetuned": "RAG +\nfine-tuned\nreader",
                 "raft": "RAFT\n(reader trained\nto read)"}


@functools.cache
def head_to_head_rows() -> tuple[dict[str, Any], ...]:
    """Chapter 5's table (``ragft.headtohead.table``), computed once per process (its bootstraps take seconds)."""
    from ragft.headtohead import table

    return tuple(table(stored("head_to_head")))


@chart("answer")
def answer() -> Figure:
    """The book's answer (introduction, chapters 5 and 7): test accuracy of the five systems of chapter 5."""
    rows = head_to_head_rows()
    h2h = stored("head_to_head")
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = range(len(rows))
    acc = [r["accuracy"] for r in rows]
    low = [r["accuracy"] - r["accuracy_ci"]["low"] for r in rows]
    high = [r["accuracy_ci"]["high"] - r["accuracy"] for r in rows]
    ax.bar(x, acc, yerr=[low, high], capsize=5, color=[SYSTEM_COLOURS[r["system"]] for r in rows],
           edgecolor="black", linewidth=0.6)
    for i, r in enumerate(rows):
        ax.text(i, r["accuracy_ci"]["high"] + 0.012, f"{r['accuracy']:.3f}", ha="center", va="bottom")
    ax.set_xticks(list(x), [ANSWER_LABELS[r["system"]] for r in rows])
    ax.set_ylabel("share of test questions\nanswered correctly")
    ax.set_ylim(0, 0.5)
    n = h2h["sizes"]["test"]
    ax.set_title(f"{n} held-out questions, worded unlike any training question, about facts no pretrained\n"
                 f"model knew (95 % intervals; trained systems: mean of {len(h2h['seeds'])} seeds)", fontsize=9)
    fig.tight_layout()
    return fig


@functools.lru_cache(maxsize=None)
def wording_rows() -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
    """Chapter 5's wording table and its accuracy by distance (``ragft.headtohead``), computed once per process."""
    from ragft.headtohead import accuracy_by_distance, wording_table

    h2h, wording = stored("head_to_head"), stored("wording")
    return tuple(wording_table(h2h, wording)), accuracy_by_distance(h2h, wording)


WORDING_LABELS = {"test": "as the head-to-head asks (indirect)", "test_plain": "as users type (plain)"}


@chart("wording")
def wording() -> Figure:
    """Chapter 5: the five systems on both wordings, and accuracy against the distance to training wording."""
    rows, by_distance = wording_rows()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.1, 1]})
    for j, (part, colour) in enumerate((("test", BLUE), ("test_plain", ORANGE))):
        xs = [i + (j - 0.5) * 0.38 for i in range(len(rows))]
        rates = [r[part] for r in rows]
        left.bar(xs, [r["rate"] for r in rates], 0.38, yerr=errors(rates), capsize=3, color=colour,
                 edgecolor="black", linewidth=0.5, label=f"{WORDING_LABELS[part]}, n={rates[0]['n']}")
    left.set_xticks(range(len(rows)), [ANSWER_LABELS[r["system"]] for r in rows], fontsize=8)
    left.set_ylabel("share of the 255 facts\nanswered correctly")
    left.set_ylim(0, 1)
    left.legend(loc="upper left", fontsize=8)
    left.set_title("the same 255 facts, two wordings (95 % intervals)", fontsize=9)
    centres = [b["mean"] for b in by_distance["bins"]]
    for system in SYSTEM_COLOURS:
        rates = by_distance[system]
        right.errorbar(centres, [r["rate"] for r in rates], yerr=errors(rates), color=SYSTEM_COLOURS[system],
                       linestyle=SYSTEM_LINES[system], marker="o", markersize=4, capsize=2,
                       label=ANSWER_LABELS[system].replace("\n", " "))
    right.set_xlabel("cosine of the question to its nearest training question\n(bins of "
                     f"{by_distance['bins'][0]['n']} questions, both wordings pooled; right: closer)")
    right.set_ylabel("share answered correctly")
    right.set_ylim(0, 1)
    right.legend(loc="upper left", fontsize=7)
    right.set_title("accuracy against the distance to training wording", fontsize=9)
    fig.tight_layout()
    return fig


RISK_LABELS = {"base": "base model", "rag": "RAG (untrained reader)", "finetuned": "fine-tuned (closed book)",
               "rag+finetuned": "RAG + fine-tuned reader", "raft": "RAFT (reader trained to read)"}


def risk_curves() -> dict[str, list[tuple[list[float], list[float]]]]:
    """Per system, one risk-coverage curve per stored run (``ragft.calibration.risk_coverage_by_answer``)."""
    from ragft.calibration import risk_coverage_by_answer
    from ragft.headtohead import SYSTEMS, runs

    return {s: [risk_coverage_by_answer(run["test"]) for run in runs(stored("head_to_head"), s)] for s in SYSTEMS}


@chart("risk_coverage")
def risk_coverage() -> Figure:
    """Chapter 5 (notebook 05): risk against coverage, most confident answers first, every seed."""
    h2h = stored("head_to_head")
    n = h2h["sizes"]["test"]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for system, curves in risk_curves().items():
        for j, (coverage, risk) in enumerate(curves):  # one curve per seed; the later seeds paler
            ax.plot(coverage, risk, color=SYSTEM_COLOURS[system], ls=SYSTEM_LINES[system],
                    lw=2 if j == 0 else 1, alpha=1 if j == 0 else 0.4,
                    label=RISK_LABELS[system] if j == 0 else None)
    ax.set_xlabel(f"coverage: share of the {n} test questions answered, most confident first")
    ax.set_ylabel("risk: share of those answers\nthat are wrong")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"Whose confidence means something: low risk at low coverage\n{n} test questions; trained "
                 f"systems: {len(h2h['seeds'])} seeds (the first bold, the others pale);\na curve ends where the "
                 "system starts to say \"I don't know\"", fontsize=9)
    ax.legend(loc="lower right", fontsize=9, frameon=True, facecolor="white", edgecolor="none", framealpha=1)
    fig.tight_layout()
    return fig


# Chapter 6 -----------------------------------------------------------------------------------------------

EMBEDDER_LABELS = {"recall@1": "right document\nfirst (recall@1)",
                   "recall@3": "right document\nin top 3 (recall@3)",
                   "answer in top-3 chunks": "answer text in\ntop 3 sections",
                   "answer": "answer given\n(RAG, top section)"}


def embedder_rates() -> dict[str, dict[str, dict[str, float]]]:
    """Chapter 6 (notebook 06): retrieval and end-to-end accuracy with the shipped and the fine-tuned embedder.
    The retrieval shares are stored as shares of the test questions; the answers item by item."""
    run = stored("embedder")
    n = len(run["questions"])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for system in ("shipped", "fine-tuned"):
        scores = run["systems"][system]
        out[system] = {k: share(v, n) for k, v in scores["retrieval"].items()}
        out[system]["answer"] = rate(scores["correct"])
    return out


@chart("embedder")
def embedder() -> Figure:
    """Chapter 6: retrieval and answers, MiniLM as shipped against MiniLM fine-tuned on training pairs."""
    rates = embedder_rates()
    run = stored("embedder")
    metrics = list(rates["shipped"])
    n = rates["shipped"]["answer"]["n"]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for shift, system, label, colour in [(-0.2, "shipped", "MiniLM as shipped", BLUE),
                                         (0.2, "fine-tuned", (f"fine-tuned on {run['pairs']} training pairs "
                                                              f"({run['steps']} steps)"), ORANGE)]:
        xs = [i + shift for i in range(len(metrics))]
        rs = [rates[system][m] for m in metrics]
        ax.bar(xs, [r["rate"] for r in rs], 0.4, yerr=errors(rs), capsize=3, label=label, color=colour,
               edgecolor="black", linewidth=0.5, error_kw={"linewidth": 1})
        label_bars(ax, xs, rs)
    ax.set_xticks(range(len(metrics)), [EMBEDDER_LABELS.get(m, m) for m in metrics])
    ax.set_ylabel(f"share of {n} test questions")
    ax.set_ylim(0, 1.22)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title(f"Retrieval with the shipped and the fine-tuned embedder, and the answers built on it\n"
                 f"({n} held-out test questions, 95 % intervals)", fontsize=10)
    ax.legend(loc="upper center", ncol=2, fontsize=9)
    fig.tight_layout()
    return fig


# Chapter 8 -----------------------------------------------------------------------------------------------

SERVED = {"visitor": "base", "oakridge-agronomist": "customer-oakridge", "bellmead-manager": "customer-bellmead",
          "employee": "internal", "support-agent": "shared"}  # one adapter per group: who gets which (notebook 08)
LEAK_LABELS = {"none": "RAG, no permission filter", "after": "RAG, filter after the search",
               "before": "RAG, filter before the search"}
DEFENCE_LABELS = {"plain": "plain reader", "plain + filter": "plain reader + filter",
                  "delimited": "delimited prompt", "delimited + filter": "delimited prompt + filter",
                  "raft": "RAFT reader", "raft + filter": "RAFT reader + filter"}


def security_rates() -> dict[str, dict[str, dict[str, float]]]:
    """Chapter 8 (notebook 08): the leak rate over the unauthorised (question, user) pairs for RAG's three
    filter modes and the two ways of fine-tuning, and the share of planted attacks that succeeded per defence."""
    from ragft.access import load_access, unauthorised_pairs

    sec = stored("security")
    modes, ft = sec["access"]["modes"], sec["finetune"]
    pairs = unauthorised_pairs(load_access())
    index = {qid: i for i, qid in enumerate(ft["question"])}
    leaks = {LEAK_LABELS.get(m, m): rate(modes[m]["unauthorised"]["stated"]) for m in ("none", "after", "before")}
    leaks["fine-tuned, one shared adapter"] = rate([ft["adapters"]["shared"]["stated"][index[q.id]] for q, u in pairs])
    leaks["fine-tuned, one adapter per group"] = rate([ft["adapters"][SERVED[u]]["stated"][index[q.id]]
                                                      for q, u in pairs])
    attacks = {DEFENCE_LABELS.get(name, name): rate(r["success"]) for name, r in sec["injection"]["defences"].items()}
    return {"leaks": leaks, "attacks": attacks}


@chart("security")
def security() -> Figure:
    """Chapter 8: what leaks to users who may not read it, and which planted instructions get obeyed."""
    rates = security_rates()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.4), height_ratios=[5, 6])
    for ax, key, colour_of in [
            (top, "leaks", lambda name: BLUE if name.startswith("RAG") else ORANGE),
            (bottom, "attacks", lambda name: PURPLE if "RAFT" in name else SKY if "delimited" in name else GREY)]:
        names = list(rates[key])
        rs = [rates[key][name] for name in names]
        ys = range(len(names))
        ax.barh(ys, [r["rate"] for r in rs], 0.62, xerr=errors(rs), capsize=3, color=[colour_of(s) for s in names],
                edgecolor="black", linewidth=0.5, hatch=["//" if "+ filter" in s else "" for s in names],
                error_kw={"linewidth": 1})
        label_bars(ax, ys, rs, horizontal=True)
        ax.set_yticks(list(ys), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 0.75)
        ax.grid(axis="x", alpha=0.3)
    n_pairs, n_attacks = rates["leaks"][LEAK_LABELS["none"]]["n"], next(iter(rates["attacks"].values()))["n"]
    top.set_xlabel(f"share of {n_pairs} (question, user) pairs\nwhere the user may not read the answer")
    top.set_title("Leaks: a restricted fact stated to a user\nwho may not read it (95 % intervals)", fontsize=10)
    bottom.set_xlabel(f"share of {n_attacks} planted attack documents that got their way")
    bottom.set_title("Prompt injection: attacks that succeeded (95 % intervals;\nhatched: chunks that read like "
                     "instructions\nkept out of the index)", fontsize=10)
    fig.tight_layout()
    return fig


# Chapter 9 -----------------------------------------------------------------------------------------------

FAMILY_STYLE = {"Flat": (BLACK, "s"), "IVF": (BLUE, "o"), "HNSW": (VERMILLION, "^"), "IVFPQ": (GREEN, "v"),
                "SQ8": (PURPLE, "D")}


def scale_rows(size: int = 100_000) -> dict[str, list[dict[str, Any]]]:
    """Chapter 9 (notebook 09): the stored sweep's settings at ``size`` vectors, grouped by FAISS factory string."""
    rows = [r for r in stored("scale")["index"] + stored("scale")["synthetic"]["rows"] if r["size"] == size]
    return {f: [r for r in rows if r["factory"] == f] for f in dict.fromkeys(r["factory"] for r in rows)}


@chart("scale")
def scale() -> Figure:
    """Chapter 9: recall@10 against the median query latency, each index family over its search setting."""
    corpus = stored("scale")["corpus"]
    size = 100_000
    groups = scale_rows(size)
    fig, ax = plt.subplots(figsize=(7.5, 4.3))
    seen: dict[str, int] = {}
    for factory, pts in groups.items():
        family = pts[0]["family"]
        colour, marker = FAMILY_STYLE.get(family, (GREY, "x"))
        seen[family] = seen.get(family, 0) + 1
        second = seen[family] > 1  # a second index of the same family (HNSW32 after HNSW16): dashed, hollow
        param = pts[0]["param"]
        label = factory + (f"  ({param} {', '.join(str(p['value']) for p in pts)})" if param else "")
        ax.plot([p["p50_ms"] for p in pts], [p["recall"] for p in pts], marker=marker, color=colour,
                ls="--" if second else "-", mfc="white" if second else colour, ms=6, lw=1.5, label=label)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 3.0)))  # 0.03, 0.1, 0.3, 1, 3 ...
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"median latency of one query (ms per query, log scale; {corpus['search_threads']} thread)")
    ax.set_ylabel(f"recall@{corpus['k']} against exact search")
    ax.set_ylim(0.4, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"FAISS index families on {size:,} real paragraphs: recall against speed\n"
                 f"({corpus['queries']} queries, k = {corpus['k']}; along a line, the search setting grows)",
                 fontsize=10)
    ax.legend(loc="lower right", fontsize=8.5, frameon=True, facecolor="white", edgecolor="none", framealpha=1)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------------

def main(argv: Sequence[str]) -> int:
    """Write the charts named in ``argv`` (all when none), or with ``--check`` report any that is out of date."""
    check = "--check" in argv
    names = [a for a in argv if not a.startswith("--")] or list(CHARTS)
    unknown = [n for n in names if n not in CHARTS]
    if unknown:
        print(f"no chart called {', '.join(unknown)}; the charts are: {', '.join(CHARTS)}")
        return 2
    stale = []
    for name in names:
        path = FIGURES / f"{name}.svg"
        svg = draw(name)
        if check:
            same = path.is_file() and path.read_text() == svg
            print(f"{path.relative_to(ROOT)} is " + ("up to date" if same else "out of date"))
            stale += [] if same else [name]
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(svg)
            print(f"wrote {path.relative_to(ROOT)} ({len(svg.encode()) // 1024} KB)")
    if stale:
        print(f"run python tools/charts.py {' '.join(stale)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
