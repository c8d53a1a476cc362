"""The table of book/notebooks.md, the syllabus of book/course.md and each notebook's run-time line, all
computed from the notebooks themselves.

For each notebook in `_toc.yml` order: its title (first heading), its chapter (the page it sits
under in the toc), the minutes it took to run, and its Colab address. The minutes are the sum of
the cell times nbclient records in the notebook when `tools/execute_notebook.py` makes its stored
outputs (each notebook alone, with an empty adapter cache), so they change only when the outputs do.

The course's sessions (which chapters, notebooks and exercises each takes, and the hours planned for
reading and exercises) are a plan, written once below in ``SESSIONS``; the minutes and the lists of
exercises come from the notebooks and the chapter pages, and every notebook and exercise of the book
must belong to exactly one session, so a new notebook or exercise shows up here as an error until it is
planned. Each notebook's second cell ends with its measured run time between two markers.

    python tools/notebook_index.py          # rewrite the tables and the notebooks' run-time lines
    python tools/notebook_index.py --check  # exit 1 if any of them is out of date
"""
import re
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markers import replace_between, rewrite_between  # noqa: E402
from setup_cell import colab_url  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "notebooks.md"
BEGIN, END = "<!-- begin table: tools/notebook_index.py -->", "<!-- end table -->"
COURSE = ROOT / "book" / "course.md"
COURSE_BEGIN, COURSE_END = "<!-- begin syllabus: tools/notebook_index.py -->", "<!-- end syllabus -->"
TIMES_BEGIN, TIMES_END = "<!-- begin run times: tools/notebook_index.py -->", "<!-- end run times -->"
CELL_BEGIN, CELL_END = "<!-- begin run time: tools/notebook_index.py -->", "<!-- end run time -->"

# The course plan: title, the pages read (a page name, then an optional note), the notebooks run, the
# exercises it sets (a chapter page's name for all of its exercises, or single exercise labels when a
# chapter is split over two sessions), the hours planned for reading, running and exercises, and how
# many exercises to choose (None: all).
SESSIONS = [
    ("1. Purpose, and a quick tour", ["intro", "purpose"], ["00_quick_tour", "01_purpose"],
     ["purpose"], (0.5, 0.5, 1), None),
    ("2. Architecture: the RAG half", ["architecture (the RAG parts)"], ["02a_rag_system", "02b_rag_context"],
     ["arch-ex-recall", "arch-ex-abstain"], (0.5, 0.75, 1), None),
    ("3. Architecture: the fine-tuning half", ["architecture (the LoRA parts)"],
     ["02c_lora_behaviour", "02d_lora_facts"], ["arch-ex-lora", "arch-ex-paraphrase"], (0.25, 0.75, 1.25), None),
    ("4. Training data and use cases", ["training_data", "use_cases"],
     ["03a_knowledge_base", "03b_labelled_examples", "04a_use_cases_rag", "04b_use_cases_finetuning",
      "04c_style_and_summaries"],
     ["training_data", "use_cases"], (0.75, 1.25, 1.5), "three"),
    ("5. Head to head", ["head_to_head"], ["05_head_to_head"], ["head_to_head"], (0.5, 0.5, 1.5), None),
    ("6. Combining and choosing, with the capstone", ["combining", "choosing"], ["06_combining", "07_choosing"],
     ["combining", "choosing"], (0.75, 0.5, 1 + 2), "two, then the capstone"),
    ("7. Reliability and security", ["reliability"], ["08_reliability"], ["reliability"], (0.5, 0.75, 1), "two"),
    ("8. Scaling up and paying for it", ["scaling"], ["09_scaling"], ["scaling"], (0.5, 0.5, 1), "two"),
]


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


def table(rows: list[dict]) -> str:
    lines = ["| notebook | chapter | minutes | open |", "|---|---|---|---|"]
    for r in rows:
        chapter = f"{{doc}}`../{r['chapter']}`" if r["chapter"].startswith("book/") else r["chapter"]
        lines.append(f"| {{doc}}`{r['title']} <../notebooks/{r['name']}>` | {chapter} | {minutes(r['seconds'])} "
                     f"| [Colab]({colab_url(r['name'])}) |")
    total = sum(r["seconds"] for r in rows)
    lines.append(f"| all {len(rows)} | | {minutes(total)} | |")
    return "\n".join(lines)


def exercises(chapter: str) -> list[str]:
    """The exercise labels of a chapter page, in page order."""
    return re.findall(r"^`{3,}\{exercise\}[^\n]*\n:label: ([\w-]+)", (ROOT / "book" / f"{chapter}.md").read_text(), re.M)


def _hours(x: float) -> str:
    return f"{x:g}"


def course_table(rows: list[dict]) -> str:
    """The syllabus: each session's reading, notebooks with their measured minutes, exercises and hours."""
    seconds = {r["name"]: r["seconds"] for r in rows}
    planned_nb = [nb for session in SESSIONS for nb in session[2]]
    if sorted(planned_nb) != sorted(seconds) or len(set(planned_nb)) != len(planned_nb):
        raise ValueError(f"every notebook must be in exactly one session of SESSIONS: planned {sorted(planned_nb)}, "
                         f"in the book {sorted(seconds)}")
    chapter_pages = dict.fromkeys(r["chapter"] for r in rows if r["chapter"].startswith("book/"))
    all_labels = [label for page in chapter_pages for label in exercises(page.removeprefix("book/"))]
    lines = ["| session | reading | notebooks (minutes of compute, measured) | exercises | time (h): reading + "
             "running + exercises |", "|---|---|---|---|---|"]
    used = []
    for title, pages, nbs, sets, hours, choose in SESSIONS:
        reading = ", ".join(f"{{doc}}`{name}`" + (f" {note}" if note else "")
                            for name, _, note in (p.partition(" ") for p in pages))
        notebook_cells = ", ".join(f"{{doc}}`../notebooks/{nb}` ({minutes(seconds[nb])})" for nb in nbs)
        labels = [label for x in sets for label in ([x] if "-ex-" in x else exercises(x))]
        used += labels
        chosen = f" (choose {choose})" if choose else ""
        lines.append(f"| {title} | {reading} | {notebook_cells} | {', '.join(f'{{ref}}`{x}`' for x in labels)}{chosen} "
                     f"| {' + '.join(_hours(h) for h in hours)} = {_hours(sum(hours))} |")
    if sorted(used) != sorted(all_labels) or len(set(used)) != len(used):
        raise ValueError(f"every exercise must be set in exactly one session: {sorted(set(all_labels) ^ set(used))}")
    return "\n".join(lines)


def course_times(rows: list[dict]) -> str:
    """The sentence on the course page about the notebooks' run times, from the same measurements."""
    longest = max(rows, key=lambda r: r["seconds"])
    total = sum(r["seconds"] for r in rows)
    return (f"All {len(rows)} notebooks together took {minutes(total)} minutes of compute on a 2-core laptop CPU, "
            f"one after another; the longest, {{doc}}`../notebooks/{longest['name']}`, took "
            f"{minutes(longest['seconds'])} minutes.")


def run_time_line(seconds: float) -> str:
    """The run-time line at the top of a notebook."""
    return (f"**Time to run:** {minutes(seconds)} minutes on a 2-core laptop CPU, measured when its outputs were "
            f"stored. Colab's free CPU runtime also has 2 cores; there, the first run adds the setup cell's "
            f"install and the models' first load.")


def notebook_cells(rows: list[dict], check: bool) -> int:
    """Rewrite (or check) the run-time line of every notebook that has the markers."""
    status = 0
    for r in rows:
        path = ROOT / "notebooks" / f"{r['name']}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = next((c for c in nb.cells if c.cell_type == "markdown" and CELL_BEGIN in c.source), None)
        if cell is None:
            print(f"notebooks/{path.name} has no run-time markers")
            status = 1
            continue
        new = replace_between(cell.source, CELL_BEGIN, CELL_END, run_time_line(r["seconds"]))
        if new != cell.source:
            if check:
                print(f"notebooks/{path.name}: run-time line out of date")
                status = 1
            else:
                cell.source = new
                nbformat.write(nb, path)
                print(f"notebooks/{path.name}: run-time line rewritten")
    return status


def main(check: bool) -> int:
    rows = notebooks()  # every notebook read once
    status = rewrite_between(PAGE, BEGIN, END, table(rows), check, "table rewritten")
    status |= rewrite_between(COURSE, COURSE_BEGIN, COURSE_END, course_table(rows), check, "syllabus rewritten")
    status |= rewrite_between(COURSE, TIMES_BEGIN, TIMES_END, course_times(rows), check, "run times rewritten")
    return status | notebook_cells(rows, check)


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
