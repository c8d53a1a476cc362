"""Every measured number quoted in a chapter's results table must come from its notebook's output.

The notebooks are re-run and checked by nbval; this test ties the prose to them, so a chapter
cannot quote a figure that the notebooks no longer produce. A row passes only if its numbers
appear, each as a whole token with its sign (``0.20`` is not ``0.200``, ``+0.094`` is not
``-0.094``), in the row's order, inside the output of one checked cell of the named notebook.
Order matters because a row such as "base / rag / finetuned | 0.000 / 0.243 / 0.149" is only
right if the notebook printed the numbers for those systems in that order; a number that merely
occurs somewhere else in the notebook proves nothing.

The second half of the file edits a chapter in the ways a careless update would (swapped
systems, a flipped sign, a lost digit, numbers gathered from different cells) and checks that
each edit fails.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TWO_SIDED = {"choosing"}
CHAPTERS = ["purpose", "architecture", "training_data", "use_cases", "head_to_head", "combining", "choosing",
            "reliability", "scaling"]
# a number: optional sign, digits, optional decimals; never the tail of a longer number or word
NUMBER = re.compile(r"(?<![\w.])[+\-]?\d+(?:\.\d+)?(?![\w]|\.\d)")
# what a chapter row must match: decimals, and whole numbers of two digits or more
MEASURED = re.compile(r"(?<![\w.])[+\-]?(?:\d+\.\d+|\d{2,})(?![\w]|\.\d)")
UNCHECKED_TAGS = {"nbval-ignore-output", "nbval-skip", "raises-exception"}


def tokens(text: str, pattern: re.Pattern = NUMBER) -> list[str]:
    return pattern.findall(text.replace("\u2212", "-"))  # a typographic minus is a minus


def checked_outputs(notebook: str) -> list[str]:
    """The text output of each cell nbval compares (cells that ignore their output excluded)."""
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    cells = []
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or tags & UNCHECKED_TAGS:
            continue
        cells.append(shown_text(cell.get("outputs", [])))
    return cells


def shown_text(outputs) -> str:
    """A cell's printed output as the reader sees it: stdout runs on, a displayed value starts a new line."""
    text = ""
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            text += "".join(out.get("text", ""))
        elif "text/plain" in out.get("data", {}):
            text += "\n" + "".join(out["data"]["text/plain"]) + "\n"
    return text


def blocks(output: str) -> list[str]:
    """A cell's output split at blank lines: one printed table or paragraph each."""
    return [b for b in re.split(r"\n\s*\n", output) if b.strip()]


def is_subsequence(wanted: list[str], available: list[str], same=str.__eq__) -> bool:
    """Whether ``wanted`` appears in ``available`` in order (``same`` decides when two tokens match)."""
    it = iter(available)
    return all(any(same(token, got) for got in it) for token in wanted)


def table_rows(text: str, chapter: str) -> list[tuple[str, str, str]]:
    """(measurement, result, notebook) for each row of a chapter's results table."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[3].startswith("`") and cells[3].endswith("`"):
            # the third column explains the measurement, except in the choosing chapter's
            # two-sided table (RAG | fine-tuning), where it is a measured result as well
            result = cells[1] + (" | " + cells[2] if chapter in TWO_SIDED else "")
            rows.append((cells[0], result, cells[3].strip("`")))
    return rows


def row_problem(measurement: str, result: str, notebook: str, outputs=None) -> str | None:
    """Why this row is not backed by one checked output cell, or None if it is."""
    wanted = tokens(result, MEASURED)
    if not wanted:
        return f"{measurement}: no measured number in {result!r}"
    outputs = checked_outputs(notebook) if outputs is None else outputs
    for cell in outputs:
        if any(is_subsequence(wanted, tokens(block)) for block in blocks(cell)):
            return None
    missing = [n for n in wanted if not any(n in tokens(cell) for cell in outputs)]
    if missing:
        return f"{measurement}: {', '.join(missing)} not printed by any checked cell of {notebook}"
    return (f"{measurement}: {' '.join(wanted)} are not printed in this order in one block"
            f" (one table or paragraph) of a checked cell of {notebook}")


def chapter_problems(chapter: str, text: str | None = None) -> list[str]:
    text = (ROOT / "book" / f"{chapter}.md").read_text() if text is None else text
    rows = table_rows(text, chapter)
    if len(rows) < 4:
        return [f"{chapter}.md has no results table with notebook names"]
    cache: dict[str, list[str]] = {}
    problems = []
    for measurement, result, notebook in rows:
        outputs = cache.setdefault(notebook, checked_outputs(notebook))
        problem = row_problem(measurement, result, notebook, outputs)
        if problem:
            problems.append(problem)
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_results_table_numbers_come_from_the_notebooks(chapter):
    problems = chapter_problems(chapter)
    assert not problems, "\n".join(problems)


# --- the check can fail: each careless edit below must be caught ----------------------------


def edited(chapter: str, old: str, new: str) -> str:
    text = (ROOT / "book" / f"{chapter}.md").read_text()
    assert text.count(old) >= 1, f"the test's premise moved: {old!r} is no longer in {chapter}.md"
    return text.replace(old, new, 1)


def row_with(chapter: str, label: str) -> tuple[str, str]:
    """The result cell of the row whose measurement starts with label."""
    text = (ROOT / "book" / f"{chapter}.md").read_text()
    for measurement, result, _ in table_rows(text, chapter):
        if measurement.startswith(label):
            return measurement, result
    raise AssertionError(f"the test's premise moved: no row {label!r} in {chapter}.md")


def test_swapping_two_systems_fails():
    _, result = row_with("head_to_head", "accuracy on test: base / rag / finetuned")
    numbers = result.split(" / ")
    assert numbers[1] != numbers[2]
    swapped = " / ".join([numbers[0], numbers[2], numbers[1], *numbers[3:]])
    assert chapter_problems("head_to_head", edited("head_to_head", result, swapped))


def test_flipping_the_sign_of_a_difference_fails():
    _, result = row_with("head_to_head", "paired differences: rag minus finetuned")
    first = tokens(result, MEASURED)[0]
    assert first.startswith("+")
    flipped = result.replace(first, "-" + first[1:], 1)
    assert chapter_problems("head_to_head", edited("head_to_head", result, flipped))


def test_dropping_a_digit_fails():
    _, result = row_with("architecture", "RAG answer accuracy, top-1 chunk")
    assert result == "0.200"
    assert chapter_problems("architecture", edited("architecture", "| 0.200 |", "| 0.20 |"))


def test_crediting_rag_with_the_fine_tunes_rate_fails():
    _, result = row_with("purpose", "behaviour, 60 test tickets, reply is a valid triage record")
    base, rag, finetuned = result.split(" / ")
    assert rag != finetuned
    credited = " / ".join([base, finetuned, rag])
    assert chapter_problems("purpose", edited("purpose", result, credited))


def test_numbers_gathered_from_different_cells_fail():
    """Each number printed somewhere is not enough: one cell must print the whole row."""
    outputs = ["rag 0.243", "finetuned 0.149"]
    assert row_problem("rag / finetuned", "0.243 / 0.149", "05_head_to_head", outputs)
    assert row_problem("rag / finetuned", "0.243 / 0.149", "05_head_to_head", ["rag 0.243, finetuned 0.149"]) is None


def test_tokens_are_whole_and_signed():
    assert tokens("acc 0.200 [+0.055, -0.004] 1906 ms v4.2.0") == ["0.200", "+0.055", "-0.004", "1906"]
    assert tokens("\u22120.004") == ["-0.004"]
    assert tokens("0.20 0.200", MEASURED) == ["0.20", "0.200"]
