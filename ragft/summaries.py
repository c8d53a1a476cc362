"""Thread summaries: a customer's support thread into a three-line handover note, scored against a held-out
reference note with ROUGE-L and checked for invented details.

The data (``ragft/data/threads/``, written by ``tools/make_threads.py``) is described in its README. A note
has three fixed lines ("Customer: ...", "Issue: ...", "Next step: ..."). When the customer reports an error
code, the note must also say what the code means, which the thread never says: it is in the error-code
tables of the knowledge base, which is why RAG has something to add here.

Two scores, because a note can fail in two ways:

- ``rouge_l``: how much of the reference note's wording the note shares, in order (ROUGE-L F1 from the
  ``rouge-score`` package, with stemming). It rewards the right content and format and punishes omissions.
- ``invented_details``: every number, error code and product name in the note that occurs in none of its
  sources (the thread, plus whatever text the system was given). A note with one of these states
  something that no input supports: the faithfulness check. It cannot catch a wrong claim made only of
  ordinary words ("the probe is flooded"), so it is a floor on unfaithfulness, not the whole of it.

Taught in notebook 04c.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ragft.data import data_dir
from ragft.finetune import load_adapter
from ragft.models import require
from ragft.stats import cluster_bootstrap

THREAD_SPLITS = ("train", "validation", "test")
NOTE_FIELDS = ("Customer", "Issue", "Next step")
PRODUCT_NAMES = ("Rootline R2", "Dewpoint Mini", "Canopy Gateway CG-4", "Irrigo V3", "Fieldbook", "Relay API",
                 "FernLink")
NOTE_INSTRUCTION = ("Write a handover note for a colleague in exactly three lines:\n"
                    "Customer: <first name> at <company>, <product>\n"
                    "Issue: <what is wrong, in one sentence, with codes, numbers and dates>\n"
                    "Next step: <who does what next, in one sentence>")


@dataclass(frozen=True)
class Thread:
    """One support thread and its reference handover note."""

    id: str
    template: str
    messages: tuple[dict[str, str], ...]
    note: str
    product: str
    error_code: str | None
    doc_ids: tuple[str, ...]
    needs_documents: bool

    @property
    def text(self) -> str:
        """The thread as one text, each message prefixed with who wrote it."""
        return "\n\n".join(f"{m['from'].capitalize()}: {m['text'].strip()}" for m in self.messages)


def load_threads(split: str, root: str | Path | None = None) -> list[Thread]:
    """The threads of one split (``train``, ``validation`` or ``test``) from ``ragft/data/threads/``."""
    if split not in THREAD_SPLITS:
        raise ValueError(f"unknown thread split {split!r}; choose from {THREAD_SPLITS}")
    path = (Path(root) if root is not None else data_dir()) / "threads" / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run python tools/make_threads.py")
    threads = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        threads.append(Thread(row["id"], row["template"], tuple(row["messages"]), row["note"], row["product"],
                              row["error_code"], tuple(row["doc_ids"]), bool(row["needs_documents"])))
    return threads


def note_prompt(thread_text: str, contexts: Sequence[str] = ()) -> str:
    """The summarising prompt: retrieved reference text (when any), the thread, then the note's format.

    Taught in notebook 04c.
    """
    if not thread_text.strip():
        raise ValueError("empty thread")
    parts = [f"Reference text:\n{c.strip()}" for c in contexts]
    parts += [f"Support thread:\n{thread_text.strip()}", NOTE_INSTRUCTION]
    return "\n\n".join(parts)


def note_query(thread: Thread) -> str:
    """What RAG-style summarising searches the knowledge base with: the customer's first message."""
    return next(m["text"] for m in thread.messages if m["from"] == "customer")


def note_fields(note: str) -> dict[str, str]:
    """The three fields of a note ({} for the ones it lacks); a field is a line that starts "<name>:"."""
    found: dict[str, str] = {}
    for line in note.splitlines():
        for name in NOTE_FIELDS:
            if line.strip().lower().startswith(name.lower() + ":") and name not in found:
                found[name] = line.strip()[len(name) + 1:].strip()
    return found


def well_formed(note: str) -> bool:
    """Whether a note is exactly three non-empty lines with the fields in order and each one filled in."""
    lines = [line for line in note.splitlines() if line.strip()]
    return (len(lines) == 3 and all(line.strip().startswith(f"{name}:") and line.split(":", 1)[1].strip()
                                    for line, name in zip(lines, NOTE_FIELDS)))


# --- faithfulness: details that no source states -----------------------------------------------------------

ERROR_CODE = re.compile(r"\b[EG]-\d{3}\b|\b[a-z]+(?:_[a-z]+)+\b|\bHTTP \d{3}\b")
NUMBER = re.compile(r"(?<![\w.-])\d+(?:[.,:]\d+)*(?:am|pm)?(?![\w])", re.I)


def details(text: str) -> list[str]:
    """The checkable details of a text: error codes (E-101, G-355, valve_busy, HTTP 409), numbers as written
    ("4.2.1", "6am", "15") and Fernhollow product names, each once, in order of appearance.

    Taught in notebook 04c.
    """
    found = [(m.start(), m.group()) for m in ERROR_CODE.finditer(text)]
    covered = [range(start, start + len(code)) for start, code in found]  # "355" inside "G-355" is no number
    found += [(m.start(), m.group()) for m in NUMBER.finditer(text) if not any(m.start() in r for r in covered)]
    found += [(m.start(), name) for name in PRODUCT_NAMES for m in re.finditer(rf"\b{re.escape(name)}\b", text)]
    return list(dict.fromkeys(detail for _, detail in sorted(found)))


def invented_details(summary: str, sources: Sequence[str]) -> list[str]:
    """The details of ``summary`` (``details``) that occur in none of ``sources``: what it made up.

    A detail occurs when it stands in a source as a whole token, case ignored: "58213" is not in "582130",
    and "4.2" is not in "4.2.1".

    Taught in notebook 04c.
    """
    if isinstance(sources, str):
        sources = [sources]
    source = "\n".join(sources)

    def occurs(detail: str) -> bool:
        return re.search(rf"(?<![\w.]){re.escape(detail)}(?![\w]|[.,:]\d)", source, re.I) is not None

    return [d for d in details(summary) if not occurs(d)]


# --- ROUGE-L ------------------------------------------------------------------------------------------------

def rouge_l(summaries: Sequence[str], references: Sequence[str]) -> list[float]:
    """ROUGE-L F1 of each summary against its reference (``rouge-score``, Porter stemming), 0 to 1."""
    require("rouge_score")
    from rouge_score import rouge_scorer

    if len(summaries) != len(references):
        raise ValueError(f"{len(summaries)} summaries for {len(references)} references")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [scorer.score(ref, summary)["rougeL"].fmeasure for summary, ref in zip(summaries, references)]


def score_notes(notes: Sequence[str], threads: Sequence[Thread], contexts: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Per thread: ROUGE-L against the reference, the invented details (sources: the thread and the texts
    the system was given) and whether the note is well formed."""
    if not len(notes) == len(threads) == len(contexts):
        raise ValueError("one note and one list of contexts per thread")
    invented = [invented_details(n, [t.text, *c]) for n, t, c in zip(notes, threads, contexts)]
    return {"rouge_l": [round(x, 4) for x in rouge_l(notes, [t.note for t in threads])],
            "invented": invented, "any_invented": [int(bool(i)) for i in invented],
            "well_formed": [int(well_formed(n)) for n in notes]}


# --- the stored results: scores with intervals, paired differences ----------------------------------------

SUMMARY_KEYS = ("rouge_l", "any_invented", "well_formed")


def _values(part: dict[str, Any], system: str, key: str, only_documents: bool = False) -> tuple[list[float], list[str]]:
    if system not in part["systems"]:
        raise ValueError(f"no system {system!r}; stored: {', '.join(part['systems'])}")
    if key not in SUMMARY_KEYS:
        raise ValueError(f"key must be one of {SUMMARY_KEYS}, got {key!r}")
    keep = [i for i, t in enumerate(part["test"]) if t["needs_documents"] or not only_documents]
    return [part["systems"][system][key][i] for i in keep], [part["test"][i]["template"] for i in keep]


def summary_score(part: dict[str, Any], system: str, key: str = "rouge_l", only_documents: bool = False) -> dict[str, Any]:
    """One system's mean ``key`` over the test threads (or only those that need the documents), with a 95 %
    interval that resamples templates (threads made from one template share their wording)."""
    values, templates = _values(part, system, key, only_documents)
    return cluster_bootstrap(values, templates)


def summary_difference(part: dict[str, Any], a: str, b: str, key: str = "rouge_l",
                       only_documents: bool = False) -> dict[str, Any]:
    """``a``'s mean ``key`` minus ``b``'s on the same threads, with a template-clustered paired 95 % interval."""
    values_a, templates = _values(part, a, key, only_documents)
    values_b, _ = _values(part, b, key, only_documents)
    return cluster_bootstrap(values_a, templates, values_b)


def summary_table(part: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per system: ROUGE-L (all threads, and those that need the documents), the share of notes with
    an invented detail, the share well formed, with intervals; and the cost."""
    rows = []
    for system, stored in part["systems"].items():
        rouge, docs = summary_score(part, system), summary_score(part, system, only_documents=True)
        invented = summary_score(part, system, "any_invented")
        rows.append({"system": system, "n": len(stored["rouge_l"]), "rouge_l": round(rouge["mean"], 3),
                     "rouge_l_interval": (round(rouge["low"], 3), round(rouge["high"], 3)),
                     "rouge_l_documents": round(docs["mean"], 3), "n_documents": docs["n"],
                     "invented": round(invented["mean"], 3),
                     "invented_interval": (round(invented["low"], 3), round(invented["high"], 3)),
                     "well_formed": round(summary_score(part, system, "well_formed")["mean"], 3),
                     "prompt_tokens": stored["prompt_tokens"], "seconds_per_reply": stored["seconds_per_reply"],
                     "training_seconds": stored.get("training_seconds", 0.0)})
    return rows


SUMMARY_ADAPTER_DIR = Path(__file__).resolve().parent / "adapters" / "summaries"


def load_summary_adapter(model: Any, folder: str | Path = SUMMARY_ADAPTER_DIR) -> Any:
    """The handover-note adapter that ships with ``ragft`` (made by ``python -m ragft.experiments style``)."""
    return load_adapter(model, folder, made_by="python -m ragft.experiments style")
