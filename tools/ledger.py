"""The number ledger: every measurement the book's prose quotes must be one the book measured.

A *quote* is a number on a book page, the README or a notebook's Markdown that reports a measurement: a decimal
(``0.243``, ``+0.116``), a percentage (``24 %``), a ratio (``1.30x``), a duration (``776 s``,
``about 6 minutes``) or a size (``353 KB``). Bare whole numbers (``255 questions``, ``k=3``) are
counts and settings, not measurements, and are left alone; so are code (fenced blocks and inline
code), version numbers and the level of an interval ("95 % interval").

What may back a quote (its *pool*) depends on where it stands:

- on a chapter page (and in the Markdown of its notebooks), the checked outputs of that chapter's
  notebooks, their run times and the stored
  results (``ragft/results/*.json``) those notebooks load, plus the same for every chapter the
  paragraph names ("chapter 5", a ``{doc}`` link);
- on any other page (introduction, README, glossary, claims, course), everything the book measured;
- a duration next to a script's command (``python -m ragft.experiments X``) must be that script's
  stored run time (``run_seconds``, or the sum of the timings its parts stored), and a duration of
  notebooks must be a notebook's run time or their total.

In a stored result, a list of per-item outcomes enters as its mean (how a rate is stored), and the
numbers inside lists of records enter only when their key types them (``p50_ms``, ``bytes``): the
single items would back almost any number by chance. A quote is backed when a pool value rounds to
it at the precision the sentence uses (``0.24`` accepts 0.2350-0.2449; ``7 minutes`` accepts 6.5-7.5
minutes, and "about 7 minutes" 6.25-7.75), in the same kind of unit: a duration matches only a
duration, a size only a size, a percentage a share (or a printed percentage).

Two rules catch what a number check cannot see: the size of the book's own collections stated as
"all N" or "more than N" (documents, notebooks, chapters), and phrases whose truth a stored result
decides (``PHRASES``: "no faster", "until validation stopped improving", edition history).

Numbers that are not measurements but look like one (a requirement, a setting) are listed once in
``ALLOWED`` with the reason.

    python tools/ledger.py            # every quote that is not backed, page by page
    python tools/ledger.py --count    # how many quotes were checked
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import solutions  # noqa: E402  (the worked computations of the chapters' solutions)

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "book").glob("*.md")) + [ROOT / "README.md"] + sorted((ROOT / "notebooks").glob("*.ipynb"))


def page_text(path: Path) -> str:
    """What a reader reads on a page: a Markdown file, or the Markdown cells of a notebook (its outputs are
    measurements, not quotes)."""
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
UNCHECKED_TAGS = {"nbval-ignore-output", "nbval-skip", "raises-exception"}

SECONDS = {"ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3, "s": 1, "sec": 1, "second": 1, "seconds": 1,
           "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600}
BYTES = {"b": 1, "bytes": 1, "kb": 1e3, "kib": 1024, "mb": 1e6, "mib": 2 ** 20, "gb": 1e9, "gib": 2 ** 30,
         "tb": 1e12}
UNIT = r"(?P<unit>%|x\b|×|ms\b|milliseconds?\b|s\b|sec\b|seconds?\b|min\b|minutes?\b|h\b|hours?\b|" \
       r"[KMGT]i?B\b|bytes\b)"
# a number that is not the tail of a word, a version (v4.2.0) or a longer number
QUOTE = re.compile(r"(?<![\w.\-/^])(?P<sign>[+\-\u2212]?)(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
                   r"(?!\.\d|,\d{3}|\d)(?:\s?" + UNIT + ")?")
NUMBER = re.compile(r"(?<![\w.])[+\-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[+\-]?\d+)?(?![\w]|\.\d)")
POOL_UNIT = re.compile(r"\s*" + UNIT)
CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode", "literalinclude", "math", "mermaid"}
LONG_LIST = 12  # a longer list of numbers holds per-item values: only its mean enters the pool
LOOSE = re.compile(r"(about|around|roughly|nearly|almost|some|~|≈)\s*$", re.I)

# the scripts of ``python -m ragft.experiments`` and the stored results each writes
EXPERIMENTS = {"purpose": "purpose", "context": "context", "learning-curves": "learning_curves",
               "head-to-head": "head_to_head", "embedder": "embedder", "security": "security", "triage": "triage",
               "scale": "scale", "exercises": "exercises", "wording": "wording", "style": "style"}

# (page, the quote as written, why it is not a measurement); the quote must occur on that page
ALLOWED: list[tuple[str, str, str]] = [
    ("book/course.md", "2.25", "hours planned for a session of the course table: a plan, not a measurement"),
    ("book/course.md", "4.25", "hours planned for a session of the course table: a plan, not a measurement"),
    ("book/course.md", "8 GB", "a requirement of the laptop, not a measurement"),
    ("README.md", "3 GB", "the size of torch's CUDA libraries on the package index, not the book's measurement"),
    ("book/environment.md", "3 GB", "the same download size as in the README"),
    ("book/head_to_head.md", "0.60", "the accuracy the chapter aimed for with a trained reader: a target, not a measurement"),
    ("book/architecture.md", "15 minutes", "an example wording in an exercise (\"a quarter of an hour\" for \"15 minutes\")"),
    ("book/scaling.md", "1,536 bytes", "384 float32 values of the book's embedder: arithmetic on a setting"),
    ("book/scaling.md", "48 bytes", "the code size of the IVFPQ index: a setting of the sweep"),
    ("book/environment.md", "20 seconds", "a one-off load time on this machine (../shared/STACK.md), not an experiment"),
    ("book/course.md", "20 seconds", "the same one-off load time as environment.md"),
    ("book/environment.md", "414 MB", "the install footprint of Chroma, measured with pip, not an experiment"),
    ("notebooks/09_scaling.ipynb", "414 MB", "install footprints of the vector databases compared, measured with pip"),
    ("notebooks/09_scaling.ipynb", "385 MB", "install footprints of the vector databases compared, measured with pip"),
    ("notebooks/09_scaling.ipynb", "362 MB", "install footprints of the vector databases compared, measured with pip"),
    ("notebooks/09_scaling.ipynb", "48 bytes", "the code size of the IVFPQ index: a setting of the sweep"),
    ("notebooks/09_scaling.ipynb", "1.7", "the size of a model (1.7 B parameters), not a measurement"),
    ("notebooks/09_scaling.ipynb", "1.006", "a list price for one GPU-hour, not a measurement"),
    ("notebooks/00_quick_tour.ipynb", "20 seconds", "the one-off load time of environment.md"),
    ("notebooks/02d_lora_facts.ipynb", "0.0625", "one question in 16: arithmetic on the sample size"),
    ("notebooks/03a_knowledge_base.ipynb", "with 10 documents", "a point of chapter 3's size curve, not the collection"),
]


@dataclass(frozen=True)
class Quote:
    page: str
    line: int
    raw: str
    value: float  # in the unit's base: seconds, bytes, a share for a percentage, else the number
    kind: str  # "time", "size", "share", "number"
    step: float  # the rounding the sentence uses, in the same base
    loose: bool

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.raw}"


def _kind(unit: str | None) -> tuple[str, float]:
    if not unit:
        return "number", 1.0
    u = unit.lower()
    if u == "%":
        return "share", 0.01
    if u in ("x", "×"):
        return "number", 1.0
    if u in SECONDS:
        return "time", SECONDS[u]
    return "size", BYTES[u]


def prose(text: str) -> list[tuple[int, str]]:
    """(line number, text) of the lines a reader reads as prose: no code blocks, inline code, roles' targets,
    link addresses, labels, comments or directive options. The body of a MyST directive (a glossary, an
    exercise, a solution, a figure's caption) is prose; only code fences are skipped."""
    lines, fences = [], []  # the open fences, innermost last: (marker, is_code)
    for i, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        m = re.match(r"^(`{3,}|~{3,})(.*)$", stripped)
        if m:
            marker, info = m.group(1), m.group(2).strip()
            if fences and marker.startswith(fences[-1][0][0]) and len(marker) >= len(fences[-1][0]) and not info:
                fences.pop()
            else:
                directive = re.match(r"\{([\w-]+)\}", info)
                fences.append((marker, not directive or directive.group(1) in CODE_DIRECTIVES))
            continue
        if any(code for _, code in fences) or re.match(r"^\(.*\)=$", stripped):  # code, or a label "(name)="
            continue
        line = re.sub(r"`[^`]*`", " ", line)  # inline code and role targets
        line = re.sub(r"\]\([^)]*\)", "]", line)  # link addresses
        line = re.sub(r"<!--.*?-->", " ", line)
        line = re.sub(r"^\s*:alt:", " ", line)  # a figure's alt text is read (aloud) like prose
        line = re.sub(r"^\s*:\w[\w-]*:.*$", " ", line)  # the other directive options
        lines.append((i, line))
    return lines


def quotes(text: str, page: str) -> list[Quote]:
    """Every quoted measurement on a page."""
    found, previous = [], ""
    for i, line in prose(text):
        before_line, previous = previous[-60:] + " ", line
        for m in QUOTE.finditer(line):
            num, unit = m.group("num"), m.group("unit")
            if re.search(r"(python|Python|py|version|torch|transformers|peft|numpy|faiss|Milvus Lite|v)\s?"
                         r"(\d+(\.\d+)+(,\s*|\s+(and|or)\s+))*$", (before_line + line[:m.start()]).replace("\n", " ")):
                continue  # a version number
            if unit is None and re.match(r"[\w.]\w", line[m.end():m.end() + 2] + " ") or \
                    unit is None and line[m.end():m.end() + 1].isalnum():
                continue  # part of a word or a version: "3.12rc", "v1"
            if unit is None and "." not in num:
                continue  # a count or a setting
            if unit and unit.lower() in ("x", "×") and "." not in num:
                continue  # "8x" of a setting (LoRA rank, batch) is not a ratio measured
            if unit == "%" and re.match(r"\s*(interval|confidence|\{term\}`confidence)", line[m.end():]):
                continue  # the level of an interval is a setting
            decimals = len(num.split(".")[1]) if "." in num else 0
            kind, scale = _kind(unit)
            value = float(num.replace(",", "")) * scale * (-1 if m.group("sign") in ("-", "\u2212") else 1)
            loose = bool(LOOSE.search(line[:m.start()]))
            step = 10 ** -decimals
            if loose and not decimals and len(num.rstrip("0")) < len(num):
                # "about 300 ms" is rounded to the hundred: half a step of the trailing zeros
                step = 10 ** (len(num.replace(",", "")) - len(num.replace(",", "").rstrip("0"))) / 2
            found.append(Quote(page, i, m.group(0).strip(), value, kind, step * scale, loose))
    return found


SCALE = {"time": lambda q: _unit_scale(q.raw), "size": lambda q: _unit_scale(q.raw), "share": lambda q: 0.01}


def _unit_scale(raw: str) -> float:
    unit = QUOTE.match(raw)
    return _kind(unit.group("unit") if unit else None)[1]


@dataclass
class Pool:
    """Measured values by kind: "number" holds every value; "time", "size" and "share" the typed ones."""
    values: dict[str, set[float]]

    def backs(self, q: Quote) -> bool:
        slack = q.step * (0.75 if q.loose else 0.5) + 1e-9 * max(1.0, abs(q.value))
        lo, hi = q.value - slack, q.value + slack
        if q.kind == "size":  # KB or KiB: the book writes KB for 1000 bytes; accept either reading
            return any(lo <= v <= hi for v in self.values["size"])
        candidates = set(self.values[q.kind])
        if q.step < 0.05 * (1 if q.kind == "number" else SCALE[q.kind](q)):
            # two decimals or more: a table may print the number with its unit in the header ("p50 ms",
            # "s/step"), so the untyped and the typed values back each other (in seconds or milliseconds)
            if q.kind == "number":
                candidates |= self.values["time"] | {v * 1000 for v in self.values["time"]}
            elif q.kind == "time":
                candidates |= {v * SCALE[q.kind](q) for v in self.values["number"]}
        if q.kind == "share":  # 24 % may be a share 0.243 or a printed "24 %"
            candidates = candidates | {v for v in self.values["number"] if abs(v) <= 1}
        return any(lo <= v <= hi or lo <= -v <= hi for v in candidates) if q.kind == "number" else \
            any(lo <= v <= hi for v in candidates)


def allowed(q: Quote, allow: list[tuple[str, str, str]] | None = None) -> bool:
    return any(q.page == page and q.raw == raw for page, raw, _ in (ALLOWED if allow is None else allow))


def _add_text(pool: dict[str, set[float]], text: str) -> None:
    text = text.replace("\u2212", "-")
    for m in NUMBER.finditer(text):
        try:
            value = float(m.group(0).replace(",", ""))
        except ValueError:
            continue
        u = POOL_UNIT.match(text, m.end())
        kind, scale = _kind(u.group("unit")) if u else ("number", 1.0)
        pool[kind].add(value * scale)


def _add_json(pool: dict[str, set[float]], obj, key: str = "", typed_only: bool = False) -> None:
    k = key.lower()
    if isinstance(obj, dict):
        for name, value in obj.items():
            _add_json(pool, value, str(name), typed_only)
    elif isinstance(obj, list):
        numbers = [x for x in obj if isinstance(x, (int, float))]
        if numbers and all(isinstance(x, (int, float)) or x is None for x in obj):
            # a list of per-item outcomes or timings (None where an item has none): its mean is a measurement
            # (a rate, a time per step); its items one by one are not quoted, and would back almost any
            # number by chance
            _add_json(pool, sum(numbers) / len(numbers), key, typed_only)
            if all(isinstance(x, bool) for x in numbers):
                pool["share"].add(sum(numbers) / len(numbers))
            if len(obj) > LONG_LIST:
                return
        for x in obj:
            _add_json(pool, x, key, typed_only=typed_only or isinstance(x, dict))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        v = float(obj)
        if re.search(r"(^|_)ms($|_)", k):
            pool["time"].add(v / 1000)
        elif re.search(r"seconds|(^|_)s($|_)|secs", k):
            pool["time"].add(v)
        elif "bytes" in k:
            pool["size"].add(v)
        elif re.search(r"(^|_)mb($|_)", k):
            pool["size"].update({v * 1e6, v * 2 ** 20})
        elif not typed_only:
            pool["number"].add(v)


def notebook_outputs(nb: dict) -> list[str]:
    """The printed text of every checked cell (cells that ignore their output excluded)."""
    texts = []
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or tags & UNCHECKED_TAGS:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                texts.append("".join(out.get("text", "")))
            elif "text/plain" in out.get("data", {}):
                texts.append("".join(out["data"]["text/plain"]))
    return texts


def chapters() -> dict[str, list[str]]:
    """Each chapter page (``book/purpose.md``) with its notebooks, in the order of ``_toc.yml``."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = {}
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            notebooks = [s["file"].split("/")[-1] for s in chapter.get("sections", [])]
            if notebooks and chapter["file"].startswith("book/"):
                found[chapter["file"] + ".md"] = notebooks
    return found


class Ledger:
    """The pools: one per notebook (its checked outputs, its run time and the stored results it loads), and
    the pool of a page: its chapter's notebooks, or every notebook for a page outside the chapters."""

    def __init__(self, root: Path = ROOT) -> None:
        import nbformat

        sys.path.insert(0, str(ROOT / "tools"))
        from notebook_index import _seconds  # the run times book/notebooks.md shows

        self.root = root
        self.chapters = chapters()
        self.number = {page: i for i, page in enumerate(self.chapters, 1)}  # chapter 1 is book/purpose.md
        self.notebooks: dict[str, dict[str, set[float]]] = {}
        results: dict[str, dict[str, set[float]]] = {}
        minutes = []
        for path in sorted((root / "notebooks").glob("*.ipynb")):
            text = path.read_text()
            nb = json.loads(text)
            pool = _empty()
            for out in notebook_outputs(nb):
                _add_text(pool, out)
            code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
            for name in set(re.findall(r"load_stored\(\"(\w[\w-]*)\"", code)):
                if name not in results:
                    results[name] = _empty()
                    _add_json(results[name], json.loads((root / "ragft" / "results" / f"{name}.json").read_text()))
                _merge(pool, results[name])
            try:
                seconds = _seconds(nbformat.reads(text, as_version=4))
            except ValueError:  # a cell not yet run: the notebook index test reports it
                seconds = None
            if seconds is not None:
                pool["time"].add(seconds)
                minutes.append(seconds)
            self.notebooks[path.stem] = pool
        self.everything = _empty()
        for pool in self.notebooks.values():
            _merge(self.everything, pool)
        for path in sorted((root / "ragft" / "results").glob("*.json")):
            _add_json(self.everything, json.loads(path.read_text()))
        self.run_times = minutes + [sum(minutes)]  # each notebook, and all of them one after another
        self.everything["time"].add(sum(minutes))
        self.everything["number"].update(round(m / 60, 1) for m in minutes + [sum(minutes)])  # the index's minutes

    def pool(self, page: str, paragraph: str = "") -> Pool:
        """What may back a quote on ``page`` in ``paragraph``: the page's chapter, and every chapter the
        paragraph names ("chapter 5", "chapters 6 and 8", a ``{doc}`` link). A notebook's Markdown is backed
        like its chapter page."""
        if page.startswith("notebooks/"):
            page = next((p for p, nbs in self.chapters.items() if Path(page).stem in nbs), page)
        if page not in self.chapters:
            return Pool(self.everything)
        pool = _empty()
        pages = {page} | {p for p in self.chapters if self.number[p] in _named_chapters(paragraph)
                          or f"{{doc}}`{Path(p).stem}`" in paragraph}
        for p in pages:
            for nb in self.chapters[p]:
                _merge(pool, self.notebooks[nb])
        return Pool(pool)

    def unbacked(self, page: str, text: str | None = None) -> list[Quote]:
        """Every quote on ``page`` (a path from the repository root) that nothing measured backs."""
        text = page_text(self.root / page) if text is None else text
        found = []
        lines = text.splitlines()
        printed = _empty()  # what the page's worked solutions print (tests/test_solutions.py re-runs them)
        for block in solutions.worked(text) if page.endswith(".md") else []:
            _add_text(printed, block.output)
        solved = Pool(printed)
        for q in quotes(text, page):
            if allowed(q):
                continue
            topic = None if page in self.chapters or page.startswith("notebooks/") else self.topic(q, lines[q.line - 1],
                                                                  paragraph_at(text, q.line, lead=False))
            pool = topic or self.pool(page, paragraph_at(text, q.line))
            if not (pool.backs(q) or solved.backs(q)):
                found.append(q)
        return found + [q for q in rule_problems(text, page) if not allowed(q)]

    def topic(self, q: Quote, line: str, paragraph: str) -> Pool | None:
        """A narrower pool for a duration whose subject the sentence names: a script of
        ``python -m ragft.experiments`` (its stored ``run_seconds``) or the notebooks (their run times)."""
        if q.kind != "time":
            return None
        # the script a duration belongs to: the command nearest to it in its paragraph ("X (about 7 minutes)
        # is stored in ...: `python -m ragft.experiments X`", or "`... experiments X` (about 7 minutes)")
        at = max(paragraph.find(line), 0) + max(line.find(q.raw), 0)
        commands = [(abs(m.start() - at), m.group(1)) for m in re.finditer(r"ragft\.experiments ([\w-]+)",
                                                                           paragraph) if m.group(1) in EXPERIMENTS]
        named = [min(commands)[1]] if commands else []
        if named:
            pool = _empty()
            for name in named:
                stored = json.loads((self.root / "ragft" / "results" / f"{EXPERIMENTS[name]}.json").read_text())
                pool["time"].update(run_times(stored))
            return Pool(pool)
        if re.search(r"\bnotebooks?\b", line) and re.search(r"\b(take|takes|took|run|runs|ran)\b", line) \
                and q.value >= 60:
            pool = _empty()
            pool["time"] = set(self.run_times)
            return Pool(pool)
        return None


TIMINGS = ("unit_seconds", "training_seconds", "seconds", "wall_seconds")


def stored_seconds(obj) -> float:
    """The time a stored run spent, summed from the timings its parts recorded (a unit's ``unit_seconds``
    covers everything inside it, and a longer ``training_seconds`` beside it was spent before it; otherwise
    its training, configuration and wall-clock seconds add up)."""
    if isinstance(obj, list):
        return sum(stored_seconds(x) for x in obj)
    if not isinstance(obj, dict):
        return 0.0
    if isinstance(obj.get("unit_seconds"), (int, float)):  # training stored beside a unit ran before it,
        training = obj.get("training_seconds") or 0  # unless the unit took at least as long (it trained inside)
        return obj["unit_seconds"] + (training if training > obj["unit_seconds"] else 0)
    return sum(v if k in TIMINGS and isinstance(v, (int, float)) and not isinstance(v, bool) else stored_seconds(v)
               for k, v in obj.items() if k != "run_seconds")


def run_times(stored: dict) -> set[float]:
    """How long a script took: each command's wall clock (``run_seconds``), and the sum of its parts' timings."""
    runs = stored.get("run_seconds", {})
    runs = {k: v for k, v in runs.items() if not k.startswith(("resumed", "quick"))} if isinstance(runs, dict) \
        else {"all": runs}  # a resumed or smoke run took only part of the time
    return set(runs.values()) | {stored_seconds(stored)}


def _empty() -> dict[str, set[float]]:
    return {"number": set(), "time": set(), "size": set(), "share": set()}


def _merge(into: dict[str, set[float]], other: dict[str, set[float]]) -> None:
    for kind, values in other.items():
        into[kind] |= values


def _named_chapters(paragraph: str) -> set[int]:
    named = set()
    for m in re.finditer(r"[Cc]hapters? ((?:\d(?:\s*(?:,|/|and|or|to|-)\s*)?)+)", paragraph):
        numbers = [int(n) for n in re.findall(r"\d", m.group(1))]
        named.update(numbers)
        if re.search(r"\d\s*(to|-)\s*\d", m.group(1)):
            named.update(range(min(numbers), max(numbers) + 1))
    return named


def paragraph_at(text: str, line: int, lead: bool = True) -> str:
    """The paragraph (lines between blank lines) that holds a 1-based line, with the line before it, so
    that a list item under "Chapter 5 found:" knows its chapter."""
    lines = text.splitlines()
    start = end = line - 1
    while start > 0 and lines[start - 1].strip():
        start -= 1
    while end + 1 < len(lines) and lines[end + 1].strip():
        end += 1
    before = start - 1
    while lead and before > 0 and not lines[before].strip():
        before -= 1
    return "\n".join(lines[max(before, 0) if lead else start:end + 1])


# --- rules for what a number check cannot see -------------------------------------------------------

WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                    "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}


def counts() -> dict[str, int]:
    """The sizes of the book's collections that prose may state as "all N" or "the N": the knowledge base's
    documents, the test facts, the notebooks and the chapters."""
    sys.path.insert(0, str(ROOT))
    from ragft.data import load_documents, load_questions

    return {"documents": len(load_documents()), "facts": len(load_questions("test")),
            "notebooks": len(list((ROOT / "notebooks").glob("*.ipynb"))), "chapters": len(chapters())}


COUNTED = re.compile(r"(?P<lead>\ball\b|\bthe\b|more than|over|about|fewer than|under|with)\s+(?P<n>\d+|"
                     + "|".join(WORDS) + r")\b(?:\s+(?P<what>documents|notebooks|chapters)\b)?", re.I)
COLLECTION = re.compile(r"\b(documents|notebooks|chapters)\b", re.I)


def rule_problems(text: str, page: str) -> list[Quote]:
    """Sentences that state the size of the book's own collections wrongly ("all fourteen notebooks",
    "more than 40 documents"), and claims in words that a stored result contradicts (``PHRASES``)."""
    known = counts()
    found, before = [], ""
    for i, line in prose(text):
        for m in COUNTED.finditer(line):
            n = m.group("n").lower()
            n = int(n) if n.isdigit() else WORDS[n]
            what = m.group("what")
            if what is None and m.group("lead").lower() == "all" and not m.group("n").isdigit():
                # "All fourteen take ...": the collection named last before it
                named = COLLECTION.findall(before + line[:m.start()])
                what = named[-1] if named else None
            if what is not None and n >= 10 and n != known[what.lower()]:
                found.append(Quote(page, i, m.group(0), n, "count", 0, False))
        before = (before + " " + line)[-400:]
        for pattern, holds, why in PHRASES:
            if re.search(pattern, line, re.I) and not holds():
                found.append(Quote(page, i, f"{re.search(pattern, line, re.I).group(0)} ({why})", 0, "phrase", 0, False))
    return found


def _stored(name: str) -> dict:
    return json.loads((ROOT / "ragft" / "results" / f"{name}.json").read_text())


def _two_processes_faster() -> bool:
    training = _stored("scale")["training"]
    return training["2"]["wall_seconds"] < 0.95 * training["1"]["wall_seconds"]


def _every_adapter_stopped_early() -> bool:
    units = {**_stored("head_to_head")["units"], **{f"triage {k}": v for k, v in _stored("triage")["units"].items()}}
    runs = [u for u in units.values() if isinstance(u, dict) and "steps_run" in u and "max_steps" in u]
    return bool(runs) and all(u["steps_run"] < u["max_steps"] for u in runs)


# (a phrase, what must hold in the stored results for the phrase to be true, what it claims)
PHRASES = [
    (r"\bno faster\b", lambda: not _two_processes_faster(), "two processes trained faster in scale.json"),
    (r"until (the )?validation (score )?stopped improving", _every_adapter_stopped_early,
     "an adapter ran its whole step budget (steps_run == max_steps)"),
    (r"\b(first|earlier|previous|second) edition\b", lambda: False, "the book has one edition"),
]


def unbacked(pages: list[Path] = PAGES, ledger: Ledger | None = None) -> list[Quote]:
    """Every quote on the pages that no measured value backs (and the allow-list does not excuse)."""
    ledger = ledger or Ledger()
    return [q for path in pages for q in ledger.unbacked(path.relative_to(ROOT).as_posix())]


def count(pages: list[Path] = PAGES) -> int:
    return sum(len(quotes(page_text(p), p.relative_to(ROOT).as_posix())) for p in pages)


if __name__ == "__main__":
    if "--count" in sys.argv:
        print(f"{count()} quoted measurements on {len(PAGES)} pages; {len(ALLOWED)} allowed")
    else:
        missing = unbacked()
        for q in missing:
            print(q)
        print(f"{len(missing)} of {count()} quoted measurements are backed by no stored result or checked output")
