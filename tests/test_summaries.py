"""Thread summaries: loading the threads, the note's format, the faithfulness check (with notes that must
fail it) and ROUGE-L."""
import pytest

from ragft.data import load_documents
from ragft.summaries import (NOTE_FIELDS, THREAD_SPLITS, details, invented_details, load_threads, note_fields,
                             note_prompt, note_query, rouge_l, score_notes, well_formed)

THREAD = ("Customer: Hi, our Canopy Gateway CG-4 shows error G-355 since 6am after the update to 4.2.1.\n\n"
          "Support: Thanks Sanne, please send the logs for order 58213.")
NOTE = ("Customer: Sanne at Upper Fenwick Orchard, Canopy Gateway CG-4\n"
        "Issue: Since 6am, after the update to 4.2.1, the gateway shows error G-355.\n"
        "Next step: Sanne sends the logs for order 58213.")


def test_the_three_splits_load_with_their_sizes_and_disjoint_templates():
    threads = {s: load_threads(s) for s in THREAD_SPLITS}
    assert {s: len(t) for s, t in threads.items()} == {"train": 120, "validation": 30, "test": 50}
    templates = {s: {t.template for t in ts} for s, ts in threads.items()}
    assert not templates["train"] & templates["test"] and not templates["validation"] & templates["test"]
    assert not templates["train"] & templates["validation"]
    for t in threads["test"]:
        assert well_formed(t.note) and t.text.startswith("Customer: ") and note_query(t) in t.text
        assert t.needs_documents == bool(t.error_code) == bool(t.doc_ids)


def test_unknown_split_and_missing_folder_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown thread split 'dev'"):
        load_threads("dev")
    with pytest.raises(FileNotFoundError, match="make_threads.py"):
        load_threads("train", root=tmp_path)


def test_every_reference_note_invents_nothing_given_its_thread_and_documents():
    """The check must pass the held-out references, or it would call the right answer unfaithful."""
    docs = {d.id: d.text for d in load_documents()}
    for split in THREAD_SPLITS:
        for t in load_threads(split):
            assert invented_details(t.note, [t.text, *(docs[d] for d in t.doc_ids)]) == [], t.id


def test_details_finds_codes_numbers_and_product_names_once():
    assert details(NOTE) == ["Canopy Gateway CG-4", "6am", "4.2.1", "G-355", "58213"]
    assert details("HTTP 409 and valve_busy on the Relay API, E-101 twice: E-101") == [
        "HTTP 409", "valve_busy", "Relay API", "E-101"]
    assert details("No numbers or codes here.") == []


def test_a_faithful_note_passes():
    assert invented_details(NOTE, [THREAD]) == []
    assert invented_details(NOTE, THREAD) == []  # one source as a string


@pytest.mark.parametrize("note, invented", [
    (NOTE.replace("G-355", "G-356"), ["G-356"]),  # a wrong error code
    (NOTE.replace("4.2.1", "4.2.2"), ["4.2.2"]),  # a wrong version
    (NOTE.replace("58213", "58231"), ["58231"]),  # digits swapped
    (NOTE.replace("6am", "7am"), ["7am"]),  # a wrong time
    (NOTE.replace("Canopy Gateway CG-4", "Irrigo V3"), ["Irrigo V3"]),  # the wrong product
    (NOTE + " It costs EUR 379.", ["379"]),  # a price no source gives
    (NOTE.replace("error G-355", "error G-355 (FernLink radio module not responding)"), ["FernLink"]),
    (NOTE.replace("58213", "582"), ["582"]),  # part of a number is not the number
])
def test_notes_with_an_invented_detail_fail(note, invented):
    assert invented_details(note, [THREAD]) == invented


def test_a_retrieved_document_is_a_source_for_the_systems_that_were_given_it():
    note = NOTE.replace("error G-355", "error G-355 (FernLink radio module not responding)")
    doc = "| G-355 | FernLink radio module not responding | Restart the gateway |"
    assert invented_details(note, [THREAD]) == ["FernLink"]
    assert invented_details(note, [THREAD, doc]) == []


def test_well_formed_needs_three_filled_lines_in_order():
    assert well_formed(NOTE)
    lines = NOTE.splitlines()
    assert not well_formed("\n".join(lines[:2]))
    assert not well_formed("\n".join([lines[1], lines[0], lines[2]]))
    assert not well_formed(NOTE + "\nExtra: line")
    assert not well_formed(NOTE.replace("Issue: Since", "Issue:").split("\n")[0] + "\nIssue: \n" + lines[2])
    assert note_fields(NOTE)["Next step"] == "Sanne sends the logs for order 58213."
    assert set(note_fields(NOTE)) == set(NOTE_FIELDS)


def test_rouge_l_is_one_for_the_reference_and_lower_for_less():
    assert rouge_l([NOTE], [NOTE]) == [1.0]
    partial, unrelated = rouge_l([NOTE.splitlines()[0], "Completely different words here."], [NOTE, NOTE])
    assert 0 < partial < 1 and unrelated < partial
    with pytest.raises(ValueError, match="1 summaries for 2 references"):
        rouge_l([NOTE], [NOTE, NOTE])


def test_note_prompt_puts_reference_text_first_and_rejects_an_empty_thread():
    prompt = note_prompt(THREAD, ["| G-355 | FernLink |"])
    assert prompt.index("Reference text:") < prompt.index("Support thread:") < prompt.index("Next step:")
    assert "Reference text" not in note_prompt(THREAD)
    with pytest.raises(ValueError, match="empty thread"):
        note_prompt("  ")


def test_score_notes_keeps_one_outcome_per_thread():
    thread = load_threads("test")[0]
    scores = score_notes([thread.note, "Customer: Someone\nIssue: error E-999\nNext step: none"], [thread, thread],
                         [[], []])
    assert scores["rouge_l"][0] == 1.0 and scores["any_invented"] == [0, 1] and scores["invented"][1] == ["E-999"]
    assert scores["well_formed"] == [1, 1]
