"""Chapter 5's table for your own documents and questions.

``python -m ragft.yourdata FOLDER QUESTIONS.jsonl`` (or ``evaluate_folder`` in Python) reads a folder of
``.md``/``.txt`` files with ``ragft.data.load_folder`` and a JSONL file of questions, one object per line::

    {"question": "How much does a half plot cost per year?", "answers": ["GBP 32", "32 pounds"]}
    {"question": "What is the shed code?", "answers": []}

``answers`` lists the accepted answers (a reply is right when it holds one, as everywhere in the book);
an empty list (or ``null``) marks a question the documents do not answer. It then runs the book's systems
that need no training of yours, and prints chapter 5's table for that data:

- ``dense``: the untrained reader of chapter 2 over the dense index (the best section in the prompt);
- ``hybrid``: the same reader over dense + BM25 retrieval fused by reciprocal rank (chapter 5's choice);
- ``raft``: the RAFT adapter trained in chapter 5 (it ships with the package) reading the retrieved
  sentences of the hybrid index.

Each row: accuracy on the answerable questions (answering everything), abstention on the unanswerable
ones and confident wrong answers over all questions behind a confidence gate, retrieval hit@k (a top-k
section holds an answer) and milliseconds per question. The gate is chosen the book's way, by maximising
right minus wrong answers, but on *your* questions: two-fold cross-fitting (``cross_fitted_outcomes``), so
that no question is gated by a threshold chosen on itself. Every rate has a 95 % Wilson interval over the
questions; with 20 questions they are wide, and say so.
"""
from __future__ import annotations

import argparse
import json
import random
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from ragft import models
from ragft.calibration import choose_threshold, outcomes
from ragft.chunking import chunk_by_heading
from ragft.data import Document, Question, load_folder, normalize
from ragft.finetune import load_adapter
from ragft.headtohead import ADAPTER_DIR, grade, replies
from ragft.hybrid import HybridRetriever
from ragft.rag import Reader
from ragft.retrieval import Retriever, Searcher
from ragft.stats import rate

SYSTEMS = ("dense", "hybrid", "raft")
READER = dict(k=1, sentences=None, instructed=False)  # chapter 5's reader, chosen on its validation set
RAFT_READER = dict(k=2, sentences=3, instructed=True)  # the sentences the RAFT adapter was trained to read
HIT_K = 3


def load_question_file(path: str | Path) -> list[Question]:
    """The questions of a JSONL file (``question``, and ``answers``: a list, empty for unanswerable).

    Raises ``ValueError`` naming the file and line for an empty file, a line that is not a JSON object,
    a missing or empty ``question``, or ``answers`` that are missing or not strings. Each question's id
    is ``line-N``, its line number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a file: write one JSON object per line, "
                                '{"question": "...", "answers": ["..."]}')
    lines = path.read_text(encoding="utf-8").splitlines()
    questions = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name}, line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: not JSON ({e.msg}); write one JSON object per line") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object with 'question' and 'answers', got {type(row).__name__}")
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{where}: 'question' is missing or empty")
        if "answers" not in row:
            hint = " (found 'answer': rename it to 'answers' and give a list)" if "answer" in row else ""
            raise ValueError(f"{where}: 'answers' is missing{hint}; give [] for a question the documents do not answer")
        answers = row["answers"]
        if answers is None:
            answers = []
        if isinstance(answers, str):
            answers = [answers]
        if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
            raise ValueError(f"{where}: 'answers' must be a list of non-empty strings, got {answers!r}")
        answers = [a.strip() for a in answers]
        questions.append(Question(id=f"line-{n}", question=question.strip(), answer=answers[0] if answers else None,
                                  aliases=tuple(answers[1:])))
    if not questions:
        raise ValueError(f"{path} holds no questions: write one JSON object per line, "
                         '{"question": "...", "answers": ["..."]}')
    return questions


def answers_in_no_document(questions: Sequence[Question], documents: Sequence[Document]) -> list[Question]:
    """The answerable questions none of whose answers occurs in any document (no system can read them)."""
    texts = [normalize(d.text) for d in documents]
    return [q for q in questions if q.answer is not None
            and not any(normalize(a) in t for a in q.answers for t in texts)]


def cross_fitted_outcomes(graded: dict[str, list], folds: int = 2, seed: int = 0
                          ) -> tuple[list[int], list[float | None]]:
    """Per question 1 / 0 / -1 (right, declined, confidently wrong) behind a confidence gate whose threshold
    was chosen, the book's way (``choose_threshold``), on the *other* folds' questions only.

    ``graded`` holds ``confidence``, ``correct`` and ``idk`` per question (an unanswerable question is never
    correct). The questions are dealt into ``folds`` folds at random (``seed``); returns the outcomes in
    the questions' order and each fold's threshold (``None``: answer everything).

    Taught in notebook 04a.
    """
    n = len(graded["correct"])
    if not 2 <= folds <= n:
        raise ValueError(f"need 2 <= folds <= the number of questions ({n}), got {folds}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    fold_of = {i: f % folds for f, i in enumerate(order)}
    result, thresholds = [0] * n, []
    for fold in range(folds):
        rest = [i for i in range(n) if fold_of[i] != fold]
        mine = [i for i in range(n) if fold_of[i] == fold]
        threshold = choose_threshold({key: [graded[key][i] for i in rest] for key in ("confidence", "correct", "idk")})
        thresholds.append(threshold)
        gated = outcomes({key: [graded[key][i] for i in mine] for key in ("confidence", "correct", "idk")}, threshold)
        for i, o in zip(mine, gated):
            result[i] = o
    return result, thresholds


def table_row(system: str, questions: Sequence[Question], graded: dict[str, list], hits: Sequence[bool],
              seconds: float) -> dict[str, Any]:
    """One row of the table: rates with their 95 % Wilson intervals, thresholds and milliseconds per question."""
    answerable = [i for i, q in enumerate(questions) if q.answer is not None]
    unanswerable = [i for i, q in enumerate(questions) if q.answer is None]
    gated, thresholds = cross_fitted_outcomes(graded)
    row: dict[str, Any] = {"system": system, "questions": len(questions),
                           "accuracy": rate([graded["correct"][i] and not graded["idk"][i] for i in answerable])
                           if answerable else None,
                           "abstention": rate([gated[i] == 0 for i in unanswerable]) if unanswerable else None,
                           "confident_wrong": rate([o == -1 for o in gated]),
                           f"hit@{HIT_K}": rate([hits[i] for i in answerable]) if answerable else None,
                           "ms_per_question": round(1000 * seconds / len(questions), 1),
                           "thresholds": thresholds}
    return row


def hits_at_k(retriever: Searcher, questions: Sequence[Question], k: int = HIT_K) -> list[bool]:
    """Per question: does one of the top ``k`` sections hold one of its answers (False when unanswerable)?"""
    found = retriever.search([q.question for q in questions], k=k)
    return [q.answer is not None and any(normalize(a) in normalize(c.text) for a in q.answers for c, _ in hits)
            for q, hits in zip(questions, found)]


def evaluate_folder(folder: str | Path, questions_file: str | Path, systems: Sequence[str] = SYSTEMS,
                    model: Any = None, tokenizer: Any = None, embedder: Any = None) -> dict[str, Any]:
    """Chapter 5's table for a folder of documents and a JSONL file of questions (see the module's docstring).

    Returns ``rows`` (one per system), the per-question ``replies`` and ``correct`` (per system), which
    questions are ``answerable``, the ``skipped`` files and ``warnings``
    (each answerable question whose answer is in no document; also issued as a ``UserWarning``). Pass an
    already loaded generator and embedder to save their loading time.
    """
    unknown = set(systems) - set(SYSTEMS)
    if unknown or not systems:
        raise ValueError(f"systems must be some of {SYSTEMS}, got {list(systems)}")
    documents, skipped = load_folder(folder)
    if not documents:
        raise ValueError(f"{folder} holds no readable .md/.txt document" + (": " + "; ".join(skipped) if skipped else ""))
    questions = load_question_file(questions_file)
    notes = [f"{q.id} ({q.question!r}): no document holds {' or '.join(map(repr, q.answers))}; "
             "no system can read it there (check the answer's spelling)"
             for q in answers_in_no_document(questions, documents)]
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    if model is None or tokenizer is None:
        model, tokenizer = models.load_generator()
    embedder = embedder or models.load_embedder()
    dense = Retriever(embedder, [c for d in documents for c in chunk_by_heading(d)], show_progress_bar=False)
    hybrid = HybridRetriever(dense)
    retrievers = {"dense": dense, "hybrid": hybrid, "raft": hybrid}
    rows, said, right = [], {}, {}
    for system in systems:
        retriever = retrievers[system]
        reader = Reader(retriever, **(RAFT_READER if system == "raft" else READER))
        tuned = load_adapter(model, ADAPTER_DIR / "h2h-raft") if system == "raft" else model
        started = time.perf_counter()
        graded = grade(replies(tuned, tokenizer, questions, reader), questions)
        seconds = time.perf_counter() - started
        if system == "raft":
            model = tuned.unload()
        said[system] = graded["reply"]
        right[system] = [c and not idk for c, idk in zip(graded["correct"], graded["idk"])]
        rows.append(table_row(system, questions, graded, hits_at_k(retriever, questions), seconds))
    return {"rows": rows, "replies": said, "correct": right, "questions": [q.question for q in questions],
            "answerable": [q.answer is not None for q in questions], "skipped": skipped,
            "warnings": notes, "documents": len(documents)}


def _cell(r: dict[str, float] | None) -> str:
    return "n/a" if r is None else f"{r['rate']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"


def format_table(report: dict[str, Any], latency: bool = True) -> str:
    """The rows of ``evaluate_folder`` as a plain-text table, with the sizes its rates are measured on;
    ``latency=False`` leaves out the milliseconds per question (a timing that differs from run to run)."""
    rows = report["rows"]
    n_ans = rows[0]["accuracy"]["n"] if rows[0]["accuracy"] else 0
    n_un = rows[0]["abstention"]["n"] if rows[0]["abstention"] else 0
    head = (f"{'system':<8}{'accuracy':>20}{'abstention':>20}{'confident wrong':>20}{f'hit@{HIT_K}':>20}"
            + (f"{'ms/question':>13}" if latency else ""))
    lines = [f"{report['documents']} documents; {n_ans} answerable and {n_un} unanswerable questions; "
             "rates with 95 % intervals", head]
    for r in rows:
        lines.append(f"{r['system']:<8}{_cell(r['accuracy']):>20}{_cell(r['abstention']):>20}"
                     f"{_cell(r['confident_wrong']):>20}{_cell(r[f'hit@{HIT_K}']):>20}"
                     + (f"{r['ms_per_question']:>13.0f}" if latency else ""))
    return "\n".join(lines)


def chart(report: dict[str, Any], path: str | Path) -> Path:
    """Accuracy and abstention of each system with their intervals, as an image (``.svg`` or ``.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    fig, ax = plt.subplots(figsize=(6, 3))
    for j, (key, label, colour) in enumerate((("accuracy", "accuracy (answerable)", "#0072B2"),
                                              ("abstention", "abstention (unanswerable)", "#E69F00"))):
        xs = [i + (j - 0.5) * 0.35 for i in range(len(rows))]
        vals = [r[key] for r in rows]
        heights = [v["rate"] if v else 0 for v in vals]
        errs = [[v["rate"] - v["low"] if v else 0 for v in vals], [v["high"] - v["rate"] if v else 0 for v in vals]]
        ax.bar(xs, heights, 0.35, yerr=errs, capsize=3, color=colour, label=label)
    ax.set_xticks(range(len(rows)), [r["system"] for r in rows])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of questions")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ragft.yourdata",
                                     description="Chapter 5's table for your own documents and questions.")
    parser.add_argument("folder", type=Path, help="a folder of .md/.txt documents")
    parser.add_argument("questions", type=Path,
                        help='a JSONL file: one {"question": ..., "answers": [...]} per line ([] if unanswerable)')
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--chart", type=Path, default=None, help="also draw the table as an image (.svg or .png)")
    parser.add_argument("--replies", action="store_true", help="also print every system's reply to every question")
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # printed below, once, with the table
            report = evaluate_folder(args.folder, args.questions, args.systems)
    except (ValueError, FileNotFoundError, NotADirectoryError) as e:
        raise SystemExit(f"error: {e}") from None
    for line in report["skipped"] + [f"warning: {w}" for w in report["warnings"]]:
        print(line)
    print(format_table(report))
    if args.replies:
        for i, q in enumerate(report["questions"]):
            print(f"\nQ: {q}")
            for system, said in report["replies"].items():
                print(f"  {system:<7} {said[i]}")
    if args.chart:
        print(f"chart: {chart(report, args.chart)}")


if __name__ == "__main__":
    main()
