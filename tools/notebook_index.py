"""The table of book/notebooks.md, computed from the notebooks themselves.

For each notebook in `_toc.yml` order: its title (first heading), its chapter (the page it sits
under in the toc), the minutes it took to run, and its Colab address. The minutes are the sum of
the cell times nbclient records in the notebook when `tools/execute_notebook.py` makes its stored
outputs (each notebook alone, with an empty adapter cache), so they change only when the outputs do.

    python tools/notebook_index.py          # rewrite the table between the markers
    python tools/notebook_index.py --check  # exit 1 if the page's table is out of date
"""
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markers import rewrite_between  # noqa: E402
from setup_cell import colab_url  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "notebooks.md"
BEGIN, END = "<!-- begin table: tools/notebook_index.py -->", "<!-- end table -->"


def _seconds(nb) -> float:
    total = 0.0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        times = cell.metadata.get("execution")
        if not times:
            raise ValueError("a code cell has no stored timing: re-run the notebook with tools/execute_notebook.py")
        start = datetime.fromisoformat(times["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(times["shell.execute_reply"].replace("Z", "+00:00"))
        total += (end - start).total_seconds()
    return total


def notebooks() -> list[dict]:
    """Every notebook in toc order, with its chapter page, title and measured seconds."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    rows = []
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            entries = [(chapter["file"], chapter["file"])] + [(chapter["file"], s["file"]) for s in chapter.get("sections", [])]
            for parent, file in entries:
                if not file.startswith("notebooks/"):
                    continue
                nb = nbformat.read(ROOT / f"{file}.ipynb", as_version=4)
                title = next(c.source for c in nb.cells if c.cell_type == "markdown").splitlines()[0].lstrip("# ")
                rows.append({"name": Path(file).name, "chapter": parent if parent != file else part["caption"],
                             "title": title, "seconds": _seconds(nb)})
    return rows


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}" if seconds >= 6 else "under 0.1"


def table() -> str:
    rows = notebooks()
    lines = ["| notebook | chapter | minutes | open |", "|---|---|---|---|"]
    for r in rows:
        chapter = f"{{doc}}`../{r['chapter']}`" if r["chapter"].startswith("book/") else r["chapter"]
        lines.append(f"| {{doc}}`{r['title']} <../notebooks/{r['name']}>` | {chapter} | {minutes(r['seconds'])} "
                     f"| [Colab]({colab_url(r['name'])}) |")
    total = sum(r["seconds"] for r in rows)
    lines.append(f"| all {len(rows)} | | {minutes(total)} | |")
    return "\n".join(lines)


def main(check: bool) -> int:
    return rewrite_between(PAGE, BEGIN, END, table(), check, "table rewritten")


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
