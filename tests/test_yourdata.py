"""The book's table for your own documents: bad inputs get clear errors before any model loads, the gate
never uses a question's own outcome, and the example files that ship with the package are sound."""
import json

import pytest

from ragft import yourdata
from ragft.data import data_dir, load_folder


def write(tmp_path, *lines, name="q.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path


def test_the_shipped_questions_fit_the_shipped_documents():
    questions = yourdata.load_question_file(data_dir() / "your_questions.jsonl")
    docs, _ = load_folder(data_dir() / "your_documents")
    assert sum(q.answer is not None for q in questions) == 15 and sum(q.answer is None for q in questions) == 5
    assert yourdata.answers_in_no_document(questions, docs) == []


def test_a_good_file_reads_answers_and_unanswerable_questions(tmp_path):
    path = write(tmp_path, '{"question": " Cost of a plot? ", "answers": ["GBP 58", "58 pounds"]}', "",
                 '{"question": "Shed code?", "answers": []}', '{"question": "Chair?", "answers": null}',
                 '{"question": "Keeper?", "answers": "Dilys Marchant"}')
    a, b, c, d = yourdata.load_question_file(path)
    assert (a.id, a.question, a.answers) == ("line-1", "Cost of a plot?", ("GBP 58", "58 pounds"))
    assert (b.id, b.answer, c.answer) == ("line-3", None, None)
    assert d.answers == ("Dilys Marchant",)


@pytest.mark.parametrize("lines, message", [
    ((), "holds no questions"),
    (("", "  "), "holds no questions"),
    (('{"question": "Cost?", "answers": ["GBP 58"]', ), "line 1: not JSON"),
    (('["Cost?", "GBP 58"]',), "line 1: expected a JSON object"),
    (('{"answers": ["GBP 58"]}',), "line 1: 'question' is missing or empty"),
    (('{"question": "ok?", "answers": []}', '{"question": "  ", "answers": ["x"]}'), "line 2: 'question' is missing"),
    (('{"question": "Cost?"}',), r"line 1: 'answers' is missing; give \[\]"),
    (('{"question": "Cost?", "answer": "GBP 58"}',), "found 'answer': rename it to 'answers'"),
    (('{"question": "Cost?", "answers": [58]}',), "'answers' must be a list of non-empty strings"),
    (('{"question": "Cost?", "answers": ["GBP 58", " "]}',), "'answers' must be a list of non-empty strings"),
])
def test_bad_question_files_are_named_with_their_line(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        yourdata.load_question_file(write(tmp_path, *lines))


def test_a_missing_question_file_says_what_to_write(tmp_path):
    with pytest.raises(FileNotFoundError, match="one JSON object per line"):
        yourdata.load_question_file(tmp_path / "nope.jsonl")


def test_an_answer_in_no_document_is_named(tmp_path):
    docs, _ = load_folder(data_dir() / "your_documents")
    path = write(tmp_path, '{"question": "Full plot?", "answers": ["GBP 58"]}',
                 '{"question": "Half plot?", "answers": ["GBP 23"]}', '{"question": "Code?", "answers": []}')
    missing = yourdata.answers_in_no_document(yourdata.load_question_file(path), docs)
    assert [q.id for q in missing] == ["line-2"]


def test_bad_inputs_fail_before_any_model_loads(tmp_path, monkeypatch):
    import ragft.models

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded for an input that is bad")

    monkeypatch.setattr(ragft.models, "load_generator", no_model)
    monkeypatch.setattr(ragft.models, "load_embedder", no_model)
    good = write(tmp_path, '{"question": "Full plot?", "answers": ["GBP 58"]}')
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.md").write_text("")
    with pytest.raises(ValueError, match="no readable .md/.txt document: blank.md: skipped, empty"):
        yourdata.evaluate_folder(empty, good)
    with pytest.raises(NotADirectoryError):
        yourdata.evaluate_folder(tmp_path / "absent", good)
    with pytest.raises(ValueError, match="systems must be some of"):
        yourdata.evaluate_folder(data_dir() / "your_documents", good, systems=["gpt"])
    with pytest.raises(ValueError, match="holds no questions"):
        yourdata.evaluate_folder(data_dir() / "your_documents", write(tmp_path, name="none.jsonl"))


def test_the_command_prints_a_clear_error(tmp_path, capsys):
    bad = write(tmp_path, '{"question": "Cost?"}')
    with pytest.raises(SystemExit, match=r"error: q.jsonl, line 1: 'answers' is missing"):
        yourdata.main([str(data_dir() / "your_documents"), str(bad)])


def graded(confidence, correct, idk=None):
    return {"confidence": confidence, "correct": correct, "idk": idk or [False] * len(correct)}


def test_cross_fitting_gates_each_fold_by_the_other_folds_threshold():
    # Two folds of four. The right answers are the sure ones, so each fold's threshold drops the unsure answers.
    g = graded([-0.1, -0.2, -2.0, -2.1, -0.15, -0.25, -2.2, -1.9], [True, True, False, False] * 2)
    result, thresholds = yourdata.cross_fitted_outcomes(g, folds=2, seed=0)
    assert result == [1, 1, 0, 0, 1, 1, 0, 0]
    assert len(thresholds) == 2 and all(-1.9 < t < -0.25 for t in thresholds)


def test_cross_fitting_never_uses_a_questions_own_outcome():
    # With as many folds as questions, each threshold is chosen on all the others: flipping one question's
    # correctness may change the other questions' gate, never its own.
    conf = [-0.1, -0.5, -0.9, -1.3, -1.7, -2.1]
    base = [True, True, False, True, False, False]
    before, _ = yourdata.cross_fitted_outcomes(graded(conf, base), folds=6)
    for i in range(6):
        flipped = list(base)
        flipped[i] = not flipped[i]
        after, _ = yourdata.cross_fitted_outcomes(graded(conf, flipped), folds=6)
        assert (after[i] == 0) == (before[i] == 0), f"question {i}'s own outcome moved its gate"


def test_cross_fitting_needs_two_folds_that_hold_questions():
    with pytest.raises(ValueError, match="need 2 <= folds"):
        yourdata.cross_fitted_outcomes(graded([-1.0], [True]))


def test_the_table_prints_its_sizes():
    row = yourdata.table_row("dense", yourdata.load_question_file(data_dir() / "your_questions.jsonl"),
                             graded([-0.5] * 20, [True] * 5 + [False] * 15), [True] * 20, seconds=2.0)
    text = yourdata.format_table({"rows": [row], "documents": 3})
    assert "15 answerable and 5 unanswerable" in text and "0.33 [0.15, 0.58]" in text
    assert row["ms_per_question"] == 100.0 and text.splitlines()[-1].endswith(" 100")
    assert "ms/question" not in yourdata.format_table({"rows": [row], "documents": 3}, latency=False)
    json.dumps(row)  # storable as it is


def test_the_readme_command_names_files_that_ship():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (line,) = [ln for ln in (root / "README.md").read_text().splitlines() if "-m ragft.yourdata" in ln]
    words = line.split()
    folder, questions = words[words.index("ragft.yourdata") + 1:words.index("ragft.yourdata") + 3]
    assert (root / folder).resolve() == (data_dir() / "your_documents").resolve()
    assert (root / questions).resolve() == (data_dir() / "your_questions.jsonl").resolve()
