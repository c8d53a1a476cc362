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
            if split in data.UNANSWERABLE_SPLITS:
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


@pytest.mark.parametrize("split", ["test", "test_plain"])
def test_no_test_question_leaks_from_train(embedder, split):
    train = [q.question for q in data.load_questions("train")]
    test = [q.question for q in data.load_questions(split)]
    assert data.find_leaks(train, test, embedder, threshold=0.95) == []


def test_validation_unanswerable_questions_are_not_the_test_ones(embedder):
    # the gates are chosen on them: none may ask what a scored unanswerable question asks
    validation = [q.question for q in data.load_questions("validation_unanswerable")]
    assert len(validation) >= 50
    for split in ("unanswerable", "test", "train"):
        scored = [q.question for q in data.load_questions(split)]
        assert data.find_leaks(scored, validation, embedder, threshold=0.95) == [], split


def test_the_plain_wording_asks_every_test_fact_once_with_the_same_answers():
    test = {q.fact_ids: q for q in data.load_questions("test")}
    plain = data.load_questions("test_plain")
    assert len(plain) == len(test) == 255 and {q.fact_ids for q in plain} == set(test)
    for q in plain:
        t = test[q.fact_ids]
        assert q.id == "pl-" + q.fact_ids[0] and (q.answers, q.doc_ids) == (t.answers, t.doc_ids)
        assert q.question != t.question and not evaluate.contains_answer(q.question, q.answers), q.id
    assert sorted(len(q.question.split()) for q in plain)[len(plain) // 2] < sorted(
        len(q.question.split()) for q in test.values())[len(test) // 2]  # plainly worded: shorter, as users type


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


# Bad input on the bring-your-own-documents path: every file is read or skipped with a reason.

def test_your_documents_folder_reads_as_notebook_04a_shows():
    docs, skipped = data.load_folder(data.data_dir() / "your_documents")
    assert [d.id for d in docs] == ["allotment-rules", "minutes/2025-agm", "tool-shed"]
    assert skipped == ["cafe-rota.txt: skipped, not UTF-8 (byte 0xe9 at position 3); re-save it as UTF-8",
                       "leaflet-scan.md: skipped, binary content (NUL bytes)",
                       "notes-empty.md: skipped, empty",
                       "plot-list.csv: skipped, not a .md/.txt file"]


def test_load_folder_reads_utf16_and_utf32_text_by_its_byte_order_mark(tmp_path):
    text = "# Kiln\n\nThe kiln reaches 1280 \u00b0C.\r\n"
    (tmp_path / "le.txt").write_bytes(text.encode("utf-16"))  # Python writes the BOM, little-endian here
    (tmp_path / "be.txt").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    (tmp_path / "u32.txt").write_bytes(text.encode("utf-32"))
    (tmp_path / "u8bom.txt").write_bytes(text.encode("utf-8-sig"))
    docs, skipped = data.load_folder(tmp_path)
    assert skipped == []
    assert [d.id for d in docs] == ["be", "le", "u32", "u8bom"]
    assert all(d.title == "Kiln" and d.text == "# Kiln\n\nThe kiln reaches 1280 \u00b0C." for d in docs)


def test_read_text_refuses_broken_or_binary_utf16(tmp_path):
    (tmp_path / "odd.txt").write_bytes(b"\xff\xfeA\x00B")  # odd length: the last code unit is cut
    with pytest.raises(data.NotText, match="byte-order mark but is not valid UTF-16.*re-save it as UTF-8"):
        data.read_text(tmp_path / "odd.txt")
    (tmp_path / "img.txt").write_bytes(b"\xff\xfe\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # binary behind a UTF-16 mark
    with pytest.raises(data.NotText, match="binary content"):
        data.read_text(tmp_path / "img.txt")


def test_load_folder_refuses_latin1_unless_told_the_encoding(tmp_path):
    (tmp_path / "cafe.txt").write_bytes("Caf\xe9 opening hours: 9 to 5.".encode("latin-1"))
    docs, skipped = data.load_folder(tmp_path)
    assert docs == [] and skipped == ["cafe.txt: skipped, not UTF-8 (byte 0xe9 at position 3); re-save it as UTF-8"]
    docs, skipped = data.load_folder(tmp_path, encoding="cp1252")
    assert skipped == [] and docs[0].text == "Caf\xe9 opening hours: 9 to 5."
    (tmp_path / "cafe.txt").write_bytes(b"Caf\xe9 \x81")  # 0x81 is not a cp1252 character either
    assert data.load_folder(tmp_path, encoding="cp1252")[1] == [
        "cafe.txt: skipped, neither UTF-8 nor cp1252 (byte 0x81 at position 5); re-save it as UTF-8"]
    with pytest.raises(LookupError):
        data.load_folder(tmp_path, encoding="no-such-encoding")


def test_load_folder_skips_a_file_over_the_size_limit_and_says_how_to_raise_it(tmp_path):
    (tmp_path / "small.md").write_text("# Small\n\nShort.")
    (tmp_path / "big.txt").write_text("word " * 3000)  # 15,000 bytes
    docs, skipped = data.load_folder(tmp_path, max_bytes=10_000)
    assert [d.id for d in docs] == ["small"]
    assert skipped == ["big.txt: skipped, 15,000 bytes, over the limit of 10,000; split it into smaller files, "
                       "or raise the limit: load_folder(folder, max_bytes=15000)"]
    assert [d.id for d in data.load_folder(tmp_path, max_bytes=15_000)[0]] == ["big", "small"]
    assert data.MAX_FILE_BYTES == 10_000_000


def test_load_folder_with_odd_file_names(tmp_path):
    import os
    import unicodedata

    (tmp_path / "meeting notes 2025.md").write_text("The shed opens at ten.")
    (tmp_path / unicodedata.normalize("NFD", "caf\u00e9 r\u00e9sum\u00e9.txt")).write_text("Tea at four.")  # as macOS names it
    (tmp_path / "README").write_text("no suffix")
    (tmp_path / "NOTES.TXT").write_text("Upper-case suffix.")
    (tmp_path / "rules.md").write_text("Rules in Markdown.")
    (tmp_path / "rules.txt").write_text("Rules in plain text.")  # same id as rules.md
    (tmp_path / ".hidden.md").write_text("A hidden note.")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD.md").write_text("not a document")
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "deep.md").write_text("# Deep\n\nInside a folder with a space.")
    os.close(os.open(os.fsencode(tmp_path) + b"/latin1-name-\xe9.md", os.O_CREAT | os.O_WRONLY))  # not UTF-8 as a name
    (tmp_path / "link.md").symlink_to(tmp_path / "gone.md")  # a broken link
    docs, skipped = data.load_folder(tmp_path)
    by_id = {d.id: d for d in docs}
    assert list(by_id) == ["NOTES", "caf\u00e9 r\u00e9sum\u00e9", "meeting notes 2025", "rules", "rules.txt", "sub dir/deep"]
    assert by_id["caf\u00e9 r\u00e9sum\u00e9"].title == "caf\u00e9 r\u00e9sum\u00e9"
    assert by_id["meeting notes 2025"].title == "meeting notes 2025" and by_id["sub dir/deep"].title == "Deep"
    assert by_id["rules.txt"].text == "Rules in plain text."
    assert skipped == [
        ".git/: skipped, hidden folder (the name starts with a dot); rename it without the dot to include it",
        ".hidden.md: skipped, hidden file (the name starts with a dot); rename it without the dot to include it",
        "README: skipped, not a .md/.txt file; rename it (README -> README.txt) if it is text",
        "latin1-name-\ufffd.md: skipped, empty",
        "link.md: skipped, not a regular file (a broken link, a pipe or a device)",
    ]
    assert all(m.encode("utf-8") for m in skipped)  # printable, even for a name that is not UTF-8


def test_load_folder_keeps_what_it_loaded_when_a_file_cannot_be_read(tmp_path, monkeypatch):
    from pathlib import Path

    for name in ("a.md", "b.md", "c.md"):
        (tmp_path / name).write_text(f"Document {name}.")
    read_bytes = Path.read_bytes

    def failing(self):
        if self.name == "b.md":
            raise PermissionError(13, "Permission denied")
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", failing)
    docs, skipped = data.load_folder(tmp_path)
    assert [d.id for d in docs] == ["a", "c"]
    assert skipped == ["b.md: skipped, it cannot be read (Permission denied); check its permissions"]


def test_load_folder_checks_its_suffixes(tmp_path):
    (tmp_path / "a.rst").write_text("Text.")
    assert [d.id for d in data.load_folder(tmp_path, suffixes=".RST")[0]] == ["a"]  # one suffix, any case
    with pytest.raises(ValueError, match="must start with a dot"):
        data.load_folder(tmp_path, suffixes=("md",))


# Bad JSONL: the file, the line and what is wrong.

@pytest.mark.parametrize("relative, loader, good", [
    ("facts.jsonl", data.load_facts, {"id": "F1", "doc_id": "d1", "statement": "s", "answer": "a"}),
    ("questions/test.jsonl", lambda root: data.load_questions("test", root), {"id": "q1", "question": "Q?", "answer": "a"}),
    ("tickets/test.jsonl", lambda root: data.load_tickets("test", root), {"id": "t1", "text": "x", "label": {}}),
])
def test_jsonl_with_an_unknown_field_names_file_line_and_allowed_fields(tmp_path, relative, loader, good):
    import json

    path = tmp_path / relative
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "anwser": "typo", "extra": 1}) + "\n")
    with pytest.raises(ValueError, match=rf"{relative}, line 3: unknown field\(s\) 'anwser', 'extra'; "
                                         r"the allowed fields are: id, "):
        loader(tmp_path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "id"}) + "\n")
    with pytest.raises(ValueError, match=rf"{relative}, line 1: missing field\(s\) 'id'"):
        loader(tmp_path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good)[:-1] + "\n")
    with pytest.raises(ValueError, match=rf"{relative}, line 2: not valid JSON \(.*column"):
        loader(tmp_path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=rf"{relative}, line 1: expected a JSON object"):
        loader(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(good).encode() + b"\n")  # a UTF-8 byte-order mark is fine
    assert len(loader(tmp_path)) == 1
    path.write_bytes(json.dumps(good).encode() + b"\n" + '{"id": "caf\xe9"}'.encode("latin-1") + b"\n")
    with pytest.raises(ValueError, match=rf"{relative}, line 2: not UTF-8"):
        loader(tmp_path)


def test_conversations_jsonl_with_an_unknown_turn_field_names_the_line_and_turn(tmp_path):
    (tmp_path / "questions").mkdir()
    path = tmp_path / "questions" / "conversations.jsonl"
    good = '{"id": "c1", "turns": [{"question": "Q?", "answer": "a", "doc_ids": ["d1"]}]}'
    path.write_text(good + "\n" + good.replace('"doc_ids"', '"docs"') + "\n")
    with pytest.raises(ValueError, match=r"conversations.jsonl, line 2, turn 1: unknown field\(s\) 'docs'; "
                                         r"the allowed fields are: question, answer, fact_ids, doc_ids"):
        data.load_conversations(tmp_path)
    path.write_text('{"id": "c1", "turns": []}\n')
    with pytest.raises(ValueError, match="line 1: 'turns' must be a non-empty list"):
        data.load_conversations(tmp_path)
    path.write_text(good + "\n")
    assert data.load_conversations(tmp_path)[0].turns[0].doc_ids == ("d1",)
