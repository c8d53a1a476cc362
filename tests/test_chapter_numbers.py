"""Every measured number quoted in a chapter's results table must appear in its notebook's stored output.

The notebooks are re-run and checked by nbval; this test ties the prose to them, so a chapter
cannot quote a figure that the notebooks no longer produce.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TWO_SIDED = {"choosing"}
CHAPTERS = ["purpose", "architecture", "training_data", "use_cases", "head_to_head", "combining", "choosing"]


def stored_output(notebook: str) -> str:
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    texts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            texts.append("".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def table_rows(chapter: str) -> list[tuple[str, str, str]]:
    """(measurement, result, notebook) for each row of the chapter's results table."""
    rows = []
    for line in (ROOT / "book" / f"{chapter}.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[3].startswith("`") and cells[3].endswith("`"):
            # the third column explains the measurement, except in the choosing chapter's
            # two-sided table (RAG | fine-tuning), where it is a measured result as well
            result = cells[1] + (" | " + cells[2] if chapter in TWO_SIDED else "")
            rows.append((cells[0], result, cells[3].strip("`")))
    return rows


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_results_table_numbers_come_from_the_notebooks(chapter):
    rows = table_rows(chapter)
    assert len(rows) >= 4, f"{chapter}.md has no results table with notebook names"
    for measurement, result, notebook in rows:
        numbers = re.findall(r"\d+\.\d+|\d{2,}", result)  # decimals, and whole numbers of two digits or more
        assert numbers, f"{measurement}: no measured number in {result!r}"
        output = stored_output(notebook)
        for number in numbers:
            assert number in output, f"{measurement}: {number} is not in the stored output of {notebook}"
