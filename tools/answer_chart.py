"""The book's answer as one chart: test accuracy of the five systems of chapter 5 with their 95 % intervals,
drawn from the stored results (``ragft/results/head_to_head.json``), never typed.

    python tools/answer_chart.py           # write book/figures/answer.svg
    python tools/answer_chart.py --check   # exit 1 if the stored file differs from a fresh drawing
"""
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ragft.experiments.results import load_stored  # noqa: E402
from ragft.headtohead import table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "book" / "figures" / "answer.svg"
LABELS = {"base": "base model\n(no retrieval,\nno training)", "rag": "RAG\n(untrained\nreader)",
          "finetuned": "fine-tuned\n(closed book)", "rag+finetuned": "RAG +\nfine-tuned\nreader", "raft": "RAFT\n(reader trained\nto read)"}


def draw() -> str:
    """The chart as SVG text (deterministic: no date, a fixed id salt)."""
    stored = load_stored("head_to_head")
    rows = table(stored)
    plt.rcParams.update({"svg.hashsalt": "ragft-answer", "font.size": 10})
    fig, ax = plt.subplots(figsize=(7.5, 3.6), facecolor="white")
    x = range(len(rows))
    acc = [r["accuracy"] for r in rows]
    low = [r["accuracy"] - r["accuracy_ci"]["low"] for r in rows]
    high = [r["accuracy_ci"]["high"] - r["accuracy"] for r in rows]
    colours = ["#9e9e9e", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    ax.bar(x, acc, yerr=[low, high], capsize=5, color=colours, edgecolor="black", linewidth=0.6)
    for i, r in enumerate(rows):
        ax.text(i, r["accuracy_ci"]["high"] + 0.012, f"{r['accuracy']:.3f}", ha="center", va="bottom")
    ax.set_xticks(list(x), [LABELS[r["system"]] for r in rows])
    ax.set_ylabel("share of test questions\nanswered correctly")
    ax.set_ylim(0, 0.5)
    n = stored["sizes"]["test"]
    ax.set_title(f"{n} held-out questions, worded unlike any training question, about facts no pretrained\n"
                 f"model knew (95 % intervals; trained systems: mean of {len(stored['seeds'])} seeds)", fontsize=9)
    ax.set_facecolor("white")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def main(check: bool) -> int:
    svg = draw()
    if check:
        same = FIGURE.is_file() and FIGURE.read_text() == svg
        print(f"{FIGURE.relative_to(ROOT)} is " + ("up to date" if same else "out of date"))
        return 0 if same else 1
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    FIGURE.write_text(svg)
    print(f"wrote {FIGURE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
