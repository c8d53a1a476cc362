"""The head-to-head experiment's pieces (chapter 5), and the stored results the notebooks read."""
import pytest

from ragft import headtohead as h2h
from ragft.data import Document, Question, load_facts, load_questions


def q(answer, id_="q"):
    return Question(id_, "What?", answer, ("F1",) if answer else ())


def test_score_tells_correct_declined_and_hallucinated():
    questions = [q("31 months"), q("31 months"), q("31 months"), q(None)]
    replies = ["It lasts 31 months.", "I don't know.", "It lasts 13 months.", "About 2 kg."]
    assert h2h.score(replies, [False, True, False, False], questions) == [1, 0, -1, -1]
    # a reply that names the answer but was declined by the retrieval threshold is not counted as correct
    assert h2h.score(["31 months"], [True], [q("31 months")]) == [0]


def test_summarise_rates():
    rates = h2h.summarise({"test": [1, 0, -1, 1], "unanswerable": [0, 0, -1, 0]})
    assert rates == {"accuracy": 0.5, "abstention": 0.75, "hallucination": 0.25}


def test_setup_holds_every_updated_fact_and_only_its_facts_questions():
    setup = h2h.load_setup()
    updated = {u.fact_ids[0] for u in setup.updates}
    assert updated <= set(setup.fact_ids) and len(setup.fact_ids) == len(updated) + h2h.N_OTHER_FACTS
    assert {x.fact_ids[0] for x in setup.train} == set(setup.fact_ids) == {x.fact_ids[0] for x in setup.test}
    assert len(setup.train) == 3 * len(setup.test) and len(setup.unanswerable) == len(load_questions("unanswerable"))
    assert h2h.load_setup().fact_ids == setup.fact_ids  # a fixed draw


def test_updated_facts_and_documents_carry_the_new_answer():
    setup = h2h.load_setup()
    facts = h2h.updated_facts(setup.facts, setup.updates)
    docs = {d.id: d for d in h2h.updated_documents(setup.documents, setup.updates)}
    for u in setup.updates:
        assert u.answer in facts[u.fact_ids[0]].statement
        assert u.new_text in docs[u.doc_ids[0]].text and u.old_text not in docs[u.doc_ids[0]].text
    assert facts is not setup.facts and setup.facts["F001"].answer == "31 months"  # the original is untouched


def test_retriever_update_replaces_only_the_changed_document(embedder):
    from ragft.rag import Retriever, chunk_by_heading

    a = Document("a", "Probe", "# Probe\n\n## Battery\n\nThe cell lasts 31 months.")
    b = Document("b", "Gateway", "# Gateway\n\n## Radio\n\nThe radio sends at 14 dBm.")
    r = Retriever(embedder, chunk_by_heading(a) + chunk_by_heading(b))
    new_a = Document("a", "Probe", "# Probe\n\n## Battery\n\nThe cell lasts 34 months.")
    updated = r.update(chunk_by_heading(new_a))
    assert len(updated.chunks) == len(r.chunks) and updated.index.ntotal == r.index.ntotal
    top = updated.search("How long does the probe battery last?", k=1)[0][0]
    assert "34 months" in top.text and not any("31 months" in c.text for c in updated.chunks)
    assert r.search("How long does the probe battery last?", k=1)[0][0].text.endswith("31 months.")  # old one kept
    with pytest.raises(ValueError, match="no chunks"):
        r.update([])


def test_raft_examples_mix_gold_and_distractors(embedder):
    from ragft.finetune import gold_chunk, raft_examples
    from ragft.rag import Retriever, chunk_by_heading

    setup = h2h.load_setup()
    retriever = Retriever(embedder, [c for d in setup.documents for c in chunk_by_heading(d)])
    questions = setup.train[:30]
    examples = raft_examples(retriever, questions, setup.facts, p_gold=0.8, seed=0)
    assert examples == raft_examples(retriever, questions, setup.facts, p_gold=0.8, seed=0)
    declined = [e for e in examples if e.completion == "I don't know."]
    assert 0 < len(declined) < len(examples) // 2
    for e, question in zip(examples, questions):
        fact = setup.facts[question.fact_ids[0]]
        has_gold = gold_chunk(retriever.chunks, fact).text in e.prompt
        assert has_gold == (e.completion == fact.statement)
        assert e.prompt.rstrip().endswith(question.question)
    with pytest.raises(ValueError):
        raft_examples(retriever, questions, setup.facts, p_gold=1.5)


def test_gold_chunk_explains_a_missing_answer():
    from ragft.finetune import gold_chunk
    from ragft.rag import Chunk

    fact = load_facts()[0]
    with pytest.raises(ValueError, match="no chunk"):
        gold_chunk([Chunk("x#0", fact.doc_id, "nothing useful")], fact)


def test_stored_results_cover_every_system_and_seed():
    stored = h2h.load_stored()
    setup = h2h.load_setup()
    assert stored["facts"] == setup.fact_ids
    for system in h2h.SYSTEMS:
        runs = [r for r in stored["runs"] if r["system"] == system]
        assert len(runs) == (len(h2h.SEEDS) if system in h2h.TRAINED else 1)
        for r in runs:
            assert len(r["outcomes"]["test"]) == len(setup.test)
            assert len(r["outcomes"]["unanswerable"]) == len(setup.unanswerable)
            assert len(r["outcomes"]["updates_after"]) == len(setup.updates)
            assert r["accuracy"] == pytest.approx(sum(o == 1 for o in r["outcomes"]["test"]) / len(setup.test), abs=1e-4)
        assert stored["serving"][system]["p95_ms"] >= stored["serving"][system]["p50_ms"] > 0
    rows = h2h.table(stored)
    assert [r["system"] for r in rows] == list(h2h.SYSTEMS)
    assert all(r["accuracy_sd"] >= 0 for r in rows)


def test_load_stored_explains_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="head-to-head"):
        h2h.load_stored(tmp_path / "none.json")


def test_quick_needs_its_own_output_file():
    from ragft import experiments

    with pytest.raises(SystemExit, match="--out"):
        experiments.main(["head-to-head", "--quick"])


def test_freshness_reads_the_retrain_for_the_closed_book_fine_tune():
    stored = h2h.load_stored()
    fresh = h2h.freshness(stored)
    assert list(fresh) == list(h2h.SYSTEMS)
    retrained = stored["retrain"]["updates_after"]
    assert fresh["finetuned"]["new_after"] == sum(o == 1 for o in retrained) / len(retrained)
    assert fresh["finetuned"]["seconds"] == stored["retrain"]["training_seconds"]
    assert fresh["rag"]["seconds"] == stored["index"]["reindex_seconds"] and fresh["base"]["seconds"] == 0.0
    assert all(0 <= f[k] <= 1 for f in fresh.values() for k in ("old_before", "new_before", "new_after"))
