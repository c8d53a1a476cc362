"""The running example: enough data, consistent, and no test question leaked from train."""
import re
from collections import Counter

import pytest

from ragft import data, evaluate


def test_knowledge_base_size():
    assert len(data.load_documents()) >= 40
    assert len(data.load_facts()) >= 150


def test_question_set_sizes():
    facts = data.load_facts()
    train, test = data.load_questions("train"), data.load_questions("test")
    per_fact = Counter(f for q in train for f in q.fact_ids)
    assert all(per_fact[f.id] >= 3 for f in facts), "every fact needs at least 3 train paraphrases"
    assert {f.id for f in facts} <= {f for q in test for f in q.fact_ids}, "every fact needs a test question"
    assert len(data.load_questions("unanswerable")) >= 40
    assert len(data.load_questions("updates")) >= 20


def test_every_question_has_the_required_fields():
    for split in data.QUESTION_SPLITS:
        for q in data.load_questions(split):
            assert q.id and q.question.strip()
            if split == "unanswerable":
                assert q.answer is None and q.fact_ids == () and q.doc_ids == (), q.id
            else:
                assert q.answer and q.answer.strip() == q.answer, q.id
                assert q.fact_ids and q.doc_ids and all(q.fact_ids + q.doc_ids), q.id


def test_load_questions_turns_missing_and_listed_ids_into_tuples(tmp_path):
    (tmp_path / "questions").mkdir()
    (tmp_path / "questions" / "test.jsonl").write_text(
        '{"id": "q1", "question": "How long?", "answer": "31 months", "fact_ids": ["F1"], "doc_ids": ["d1", "d2"]}\n'
        '{"id": "q2", "question": "Who?", "answer": null}\n')
    q1, q2 = data.load_questions("test", tmp_path)
    assert (q1.fact_ids, q1.doc_ids, q1.aliases) == (("F1",), ("d1", "d2"), ())
    assert (q2.fact_ids, q2.doc_ids, q2.aliases) == ((), (), ())
    assert q1.answers == ("31 months",)
    assert len({q1, q2}) == 2  # frozen and hashable: the lists really became tuples


def test_data_is_consistent():
    # every fact id used exists, every answer occurs in its documents, updates apply cleanly
    assert data.validate() == []


def test_no_test_question_leaks_from_train(embedder):
    train = [q.question for q in data.load_questions("train")]
    test = [q.question for q in data.load_questions("test")]
    assert data.find_leaks(train, test, embedder, threshold=0.95) == []


def test_find_leaks_catches_a_near_copy(embedder):
    leaks = data.find_leaks(["How long is the refund window?"], ["How long is the refund window ?"], embedder)
    assert len(leaks) == 1


def test_applying_every_update_changes_the_answer():
    docs = {d.id: d for d in data.load_documents()}
    for u in data.load_questions("updates"):
        new = data.apply_update(docs[u.doc_ids[0]], u)
        assert data.normalize(u.answer) in data.normalize(new.text)
        assert data.normalize(u.old_answer) not in data.normalize(new.text)


def test_ticket_task_sizes_and_schema():
    train, test = data.load_tickets("train"), data.load_tickets("test")
    assert len(train) >= 200 and len(test) >= 60
    for t in train + test:
        assert set(t.label) == set(data.TICKET_FIELDS) and t.text.strip()
    assert not {t.text for t in train} & {t.text for t in test}


def labels_outside_the_allowed_values(tickets):
    """(ticket id, field, value) for every label value that is not in ``TICKET_VALUES``."""
    return [(t.id, name, t.label.get(name)) for t in tickets for name in data.TICKET_FIELDS
            if t.label.get(name) not in data.TICKET_VALUES[name]]


@pytest.mark.parametrize("split", data.TICKET_SPLITS)
def test_every_ticket_label_uses_only_the_allowed_values(split):
    tickets = data.load_tickets(split)
    assert tickets, f"no tickets in {split}"
    assert set(data.TICKET_VALUES) == set(data.TICKET_FIELDS)
    bad = labels_outside_the_allowed_values(tickets)
    assert not bad, f"labels outside TICKET_VALUES in {split}: {bad[:10]}"
    assert all(set(t.label) == set(data.TICKET_FIELDS) for t in tickets), "a label has a missing or extra field"
    for name, allowed in data.TICKET_VALUES.items():  # and every allowed value occurs in every split
        assert {t.label[name] for t in tickets} == set(allowed), (split, name)


def test_ticket_splits_are_the_files_shipped():
    shipped = {p.stem for p in (data.data_dir() / "tickets").glob("*.jsonl")}
    assert shipped == set(data.TICKET_SPLITS)  # no split the value check above would miss
    ids = [t.id for split in data.TICKET_SPLITS for t in data.load_tickets(split)]
    assert len(ids) == len(set(ids))


def test_ticket_value_check_catches_a_label_outside_the_allowed_values(tmp_path):
    (tmp_path / "tickets").mkdir()
    (tmp_path / "tickets" / "train.jsonl").write_text(
        '{"id": "t1", "text": "x", "label": {"category": "billing", "priority": "Urgent", "product": "none"}}\n'
        '{"id": "t2", "text": "y", "label": {"category": "billing", "priority": "low"}}\n'
        '{"id": "t3", "text": "z", "label": {"category": "billing", "priority": "low", "product": "Fieldbook"}}\n')
    tickets = data.load_tickets("train", tmp_path)
    assert labels_outside_the_allowed_values(tickets) == [("t1", "priority", "Urgent"), ("t2", "product", None)]


@pytest.mark.parametrize("loader", [data.load_questions, data.load_tickets])
def test_unknown_split_lists_the_valid_ones(loader):
    with pytest.raises(ValueError, match="valid splits are: train, test"):
        loader("dev")


def test_normalize_keeps_versions_and_drops_edge_punctuation():
    assert data.normalize("Firmware **3.8.2**, released.") == "firmware 3.8.2 released"
    assert data.normalize("EUR 1,299") == "eur 1,299"


def test_validate_reports_a_wrong_answer(tmp_path):
    (tmp_path / "documents").mkdir()
    (tmp_path / "questions").mkdir()
    (tmp_path / "documents" / "d1.md").write_text("# D1\n\nThe probe lasts 26 months.\n")
    (tmp_path / "facts.jsonl").write_text('{"id": "F1", "doc_id": "d1", "statement": "s", "answer": "27 months"}\n')
    for split in data.QUESTION_SPLITS:
        (tmp_path / "questions" / f"{split}.jsonl").write_text("")
    assert data.validate(tmp_path) == ["fact F1: answer '27 months' not found in d1"]


def test_empty_document_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .md documents"):
        data.load_documents(tmp_path)


def test_sample_questions_is_fixed_by_its_seed():
    from ragft.data import sample_questions

    a, b = sample_questions("test", 5, seed=3), sample_questions("test", 5, seed=3)
    assert [q.id for q in a] == [q.id for q in b] and len({q.id for q in a}) == 5
    assert {q.id for q in a} <= {q.id for q in data.load_questions("test")}
    others = [[q.id for q in sample_questions("test", 5, seed=s)] for s in (4, 5)]
    assert [q.id for q in a] not in others  # the seed, not a fixed list, picks the sample
    default = [q.id for q in sample_questions("unanswerable", 3)]
    assert default == [q.id for q in sample_questions("unanswerable", 3, seed=0)]  # the default seed is 0
    with pytest.raises(ValueError, match="between 1 and"):
        sample_questions("unanswerable", 1000)


def test_conversations_have_three_turns_that_name_their_documents():
    convs = data.load_conversations()
    assert len(convs) == 12
    assert all(len(c.turns) == 3 and all(t.doc_ids and t.answer for t in c.turns) for c in convs)
    assert convs[0].turns[1].id == "conv-01/2"


def test_load_folder_skips_empty_binary_and_non_utf8_files_with_a_message(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.md").write_text("# Good doc\n\nThe kiln reaches 1280 degrees.<!-- draft -->\n\n\n\nEnd.\n")
    (tmp_path / "sub" / "notes.txt").write_text("Plain notes.\r\nSecond line.")
    (tmp_path / "empty.md").write_text("  \n\n")
    (tmp_path / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 opening hours".encode("latin-1"))
    (tmp_path / "table.csv").write_text("a,b\n")
    docs, skipped = data.load_folder(tmp_path)
    assert [d.id for d in docs] == ["good", "sub/notes"]
    assert docs[0].title == "Good doc" and "draft" not in docs[0].text and "\n\n\n" not in docs[0].text
    assert docs[1].title == "notes" and docs[1].text == "Plain notes.\nSecond line."
    assert [m.split(":")[0] for m in skipped] == ["empty.md", "image.md", "latin1.txt", "table.csv"]
    assert "empty" in skipped[0] and "binary" in skipped[1] and "not UTF-8" in skipped[2]
    with pytest.raises(NotADirectoryError, match="not a folder"):
        data.load_folder(tmp_path / "missing")


def test_remove_boilerplate_drops_lines_repeated_across_documents():
    docs = [data.Document(f"d{i}", "T", f"Home | Shop | Contact\n# Doc {i}\n\nFact {i}.\n\n(c) Fernhollow") for i in range(4)]
    docs.append(data.Document("d4", "T", "# Doc 4\n\nHome | Shop | Contact is our menu."))
    cleaned = data.remove_boilerplate(docs)
    assert cleaned[0].text == "# Doc 0\n\nFact 0." and cleaned[4].text == docs[4].text
    with pytest.raises(ValueError):
        data.remove_boilerplate([])


NUMBER_WORD = re.compile(r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                         r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
                         r"eighty|ninety|hundred|thousand|million)\b")


def test_aliases_are_consistent_and_safe():
    questions = [q for split in ("train", "test", "updates") for q in data.load_questions(split)]
    by_answer: dict[tuple, set] = {}
    for q in questions:
        by_answer.setdefault((q.fact_ids[0], q.answer), set()).add(q.aliases)
        for alias in q.aliases:
            assert alias.strip() and data.normalize(alias) != data.normalize(q.answer), (q.id, alias)
            if re.search(r"\d", q.answer):
                # the number stays: written in digits or spelled out ("31 months" -> "thirty-one months")
                assert re.search(r"\d", alias) or NUMBER_WORD.search(alias.lower()), (q.id, alias)
            if re.search(r"[^\d\s.,]", q.answer):
                # the unit or word stays: never a bare number for "31 months" or "EUR 65"
                assert re.search(r"[^\d\s.,]", alias), (q.id, alias)
    assert not {k: v for k, v in by_answer.items() if len(v) > 1}, "same fact and answer, different aliases"
    assert sum(bool(q.aliases) for q in data.load_questions("test")) >= 30


def test_aliases_keep_a_wrong_currency_wrong():
    q = next(q for q in data.load_questions("test") if q.answer.startswith("EUR ") and q.answer[4:].isdigit())
    number = q.answer[4:]
    assert not evaluate.contains_answer(f"It costs ${number}.", q.answers)
    assert not evaluate.contains_answer(f"It costs {number} dollars.", q.answers)
    assert f"{number} euros" in q.aliases
    assert evaluate.contains_answer(f"It costs {number} euros.", q.answers)
