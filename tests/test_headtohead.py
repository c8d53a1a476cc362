"""The head-to-head experiment's pieces (chapter 5), and the stored results the notebooks read."""
import math

import pytest

from ragft import calibration, headtohead, raft
from ragft.data import Document, load_facts, load_questions
from ragft.experiments import head_to_head
from ragft.experiments.__main__ import main
from ragft.experiments.results import load_stored
from ragft.rag import Reader


def graded(confidence, correct, idk=None):
    return {"confidence": list(confidence), "correct": list(correct),
            "idk": list(idk) if idk is not None else [False] * len(correct)}


def test_outcomes_tell_correct_declined_and_confidently_wrong():
    g = graded([-0.1, -0.1, -0.9, -0.1], [True, False, True, False], [False, True, False, False])
    assert calibration.outcomes(g, None) == [1, 0, 1, -1]
    assert calibration.outcomes(g, -0.5) == [1, 0, 0, -1]  # below the threshold: declined, even when right


def test_choose_threshold_maximises_right_minus_wrong_on_validation():
    # sure answers are right, unsure ones wrong: the threshold falls between them
    g = graded([-0.1, -0.2, -0.3, -0.8, -0.9], [True, True, True, False, False])
    t = calibration.choose_threshold(g)
    assert -0.8 < t < -0.3
    assert calibration.outcomes(g, t) == [1, 1, 1, 0, 0]
    # every answer right: no threshold beats answering everything
    assert calibration.choose_threshold(graded([-0.5, -0.1], [True, True])) is None
    # every answer wrong: decline all of them
    t = calibration.choose_threshold(graded([-0.5, -0.1], [False, False]))
    assert calibration.outcomes(graded([-0.5, -0.1], [False, False]), t) == [0, 0]
    # "I don't know" replies are not candidates
    assert calibration.choose_threshold(graded([-0.1, -0.9], [True, False], [False, True])) is None


def test_summarise_rates():
    rates = calibration.summarise([1, 0, -1, 1], [0, 0, -1, 0])
    assert rates["accuracy"] == 0.5 and rates["coverage"] == 0.75 and rates["abstention"] == 0.75
    assert rates["selective_accuracy"] == pytest.approx(2 / 3) and rates["confident_wrong"] == 0.25
    assert math.isnan(calibration.summarise([0, 0], [0])["selective_accuracy"])


def test_risk_coverage_and_equal_coverage():
    g = graded([-0.1, -0.2, -0.3, -0.4], [True, False, True, False], [False, False, False, True])
    coverage, risk = calibration.risk_coverage_by_answer(g)
    assert coverage == [0.25, 0.5, 0.75] and risk == [0.0, 0.5, pytest.approx(1 / 3)]
    assert calibration.accuracy_at_coverage(g, 0.25) == 1.0 and calibration.accuracy_at_coverage(g, 1.0) == 0.5
    with pytest.raises(ValueError):
        calibration.accuracy_at_coverage(g, 0)


def test_reciprocal_rank_fusion_and_bm25_tokens():
    from ragft.hybrid import bm25_tokens, reciprocal_rank_fusion

    assert reciprocal_rank_fusion([[0, 1, 2], [1, 2, 0]]) == [1, 0, 2]  # 1 is 2nd and 1st
    assert reciprocal_rank_fusion([[3], [3, 4]]) == [3, 4]
    assert bm25_tokens("The CG-4 runs firmware v4.2.0; cell ER26500.") == [
        "the", "cg-4", "runs", "firmware", "v4.2.0", "cell", "er26500"]


def test_split_sentences_keeps_the_title_line_apart():
    from ragft.chunking import split_sentences

    assert split_sentences("Probe: Battery\n\nThe cell lasts 31 months. It is an ER26500.\n- 3.6 V") == [
        "Probe: Battery", "The cell lasts 31 months.", "It is an ER26500.", "- 3.6 V"]


def test_split_holds_out_one_fact_in_five_and_one_paraphrase_per_fact():
    setup = headtohead.load_setup()
    facts = load_facts()
    assert len(setup.unseen_ids) == round(headtohead.UNSEEN_SHARE * len(facts))
    assert set(setup.unseen_ids).isdisjoint(setup.trained_ids)
    assert not {u.fact_ids[0] for u in setup.updates} & set(setup.unseen_ids)  # updates change trained facts
    train_facts = {q.fact_ids[0] for q in setup.train}
    assert train_facts == set(setup.trained_ids)  # nothing about an unseen fact is trained on
    assert len(setup.train) == 2 * len(setup.trained_ids) and len(setup.validation) == len(facts)
    assert not {q.id for q in setup.train} & {q.id for q in setup.validation}
    assert len(setup.test) == len(load_questions("test")) == 255
    assert len(setup.unanswerable) == 61 and len(setup.updates) == len(load_questions("updates"))
    assert setup.unseen_ids == load_stored("head_to_head")["unseen_facts"]  # a fixed draw: the one the stored run held out


def test_updated_facts_and_documents_carry_the_new_answer():
    setup = headtohead.load_setup()
    facts = headtohead.updated_facts(setup.facts, setup.updates)
    docs = {d.id: d for d in headtohead.updated_documents(setup.documents, setup.updates)}
    for u in setup.updates:
        assert u.answer in facts[u.fact_ids[0]].statement
        assert u.new_text in docs[u.doc_ids[0]].text and u.old_text not in docs[u.doc_ids[0]].text
    assert facts is not setup.facts and setup.facts["F001"].answer == "31 months"  # the original is untouched


def test_update_questions_are_worded_away_from_training(embedder):
    """The update questions are as far from the training paraphrases as the test questions are."""
    import numpy as np

    train = load_questions("train")

    def nearest(questions):
        a = embedder.encode([q.question for q in questions], normalize_embeddings=True)
        out = []
        for q, v in zip(questions, a):
            same = [t.question for t in train if t.fact_ids[0] == q.fact_ids[0]]
            b = embedder.encode(same, normalize_embeddings=True)
            out.append(float((b @ v).max()))
        return np.mean(out)

    updates, test = load_questions("updates"), load_questions("test")
    assert nearest(updates) <= nearest([q for q in test if q.fact_ids[0] in {u.fact_ids[0] for u in updates}]) + 0.05


def test_hybrid_retriever_finds_a_product_code_and_updates(embedder):
    from ragft.chunking import chunk_by_heading
    from ragft.hybrid import HybridRetriever
    from ragft.retrieval import Retriever

    a = Document("a", "Probe", "# Probe\n\n## Battery\n\nThe cell of type ER26500 lasts 31 months.")
    b = Document("b", "Gateway", "# Gateway\n\n## Radio\n\nThe radio sends at 14 dBm.")
    c = Document("c", "Cells", "# Cells\n\n## Batteries\n\nAll our probes run on lithium batteries.")
    r = HybridRetriever(Retriever(embedder, [x for d in (a, b, c) for x in chunk_by_heading(d)]))
    top, cosine = r.search("Which product uses the ER26500?", k=1)[0]
    assert top.doc_id == "a" and -1 <= cosine <= 1
    assert len(r.search(["one?", "two?"], k=2)) == 2
    new_a = Document("a", "Probe", "# Probe\n\n## Battery\n\nThe cell of type ER26500 lasts 34 months.")
    assert "34 months" in r.update(chunk_by_heading(new_a)).search("ER26500 battery life?", k=1)[0][0].text


def test_sentence_selector_keeps_the_closest_sentences_under_their_title(embedder):
    from ragft.chunking import Chunk
    from ragft.retrieval import Retriever
    from ragft.selection import SentenceSelector

    chunk = Chunk("a#1", "a", "Rootline R2: Battery\n\nThe probe is green. The cell lasts 31 months. "
                              "The box holds a manual.")
    selector = SentenceSelector(Retriever(embedder, [chunk]), n=1)
    assert selector.contexts("How long does the battery last?", [chunk]) == [
        "Rootline R2: Battery\nThe cell lasts 31 months."]
    with pytest.raises(ValueError):
        SentenceSelector(selector.retriever, n=0)


def test_raft_examples_hold_the_answer_or_say_i_dont_know(embedder):
    from ragft.evaluate import contains_answer

    setup = headtohead.load_setup()
    retriever = headtohead.build_retriever(embedder, setup.documents, hybrid=True)
    reader = Reader(retriever, k=2, sentences=3, instructed=True)
    questions = setup.train[:40]
    examples = raft.raft_examples(reader, questions, setup.facts, p_gold=0.8, seed=0)
    assert examples == raft.raft_examples(reader, questions, setup.facts, p_gold=0.8, seed=0)
    declined = [e for e in examples if e.completion == "I don't know."]
    assert 0 < len(declined) < len(examples) // 2
    # the seed draws which questions lose their gold text; p_gold 1 or 0 keeps it always or never
    reseeded = raft.raft_examples(reader, questions, setup.facts, p_gold=0.8, seed=1)
    assert [e.completion == "I don't know." for e in reseeded] != [e.completion == "I don't know." for e in examples]
    assert not any(e.completion == "I don't know." for e in raft.raft_examples(reader, questions[:8], setup.facts, 1.0))
    assert all(e.completion == "I don't know." for e in raft.raft_examples(reader, questions[:8], setup.facts, 0.0))
    for e, q in zip(examples, questions):
        context = e.prompt.rsplit("\n\nUsing the text above", 1)[0]
        if e.completion == "I don't know.":
            assert not contains_answer(context, q.answers)
        else:
            assert e.completion == setup.facts[q.fact_ids[0]].answer and contains_answer(context, [e.completion])
    with pytest.raises(ValueError, match="sentences"):
        raft.raft_examples(Reader(retriever, k=1), questions, setup.facts)


# ---------------------------------------------------------------------------------------------------------
# The stored run


@pytest.fixture(scope="module")
def stored():
    return load_stored("head_to_head")


def test_stored_run_asks_every_held_out_question(stored):
    setup = headtohead.load_setup()
    assert stored["question_ids"]["test"] == [q.id for q in setup.test]
    assert stored["question_ids"]["unanswerable"] == [q.id for q in setup.unanswerable]
    assert stored["question_ids"]["updates"] == [q.id for q in setup.updates]
    assert stored["unseen_facts"] == setup.unseen_ids
    assert stored["seeds"] and stored["seeds"][0] == headtohead.SEEDS[0]
    for system in headtohead.SYSTEMS:
        for run in headtohead.runs(stored, system):
            for part, n in (("test", 255), ("unanswerable", 61), ("updates", len(setup.updates))):
                assert len(run[part]["reply"]) == len(run[part]["confidence"]) == len(run[part]["correct"]) == n
            if system in headtohead.READS:
                assert len(run["updates_after"]["correct"]) == len(setup.updates)
    assert {"processor", "cpus", "torch_threads"} <= set(stored["machine"])


def test_stored_choices_were_made_on_validation(stored):
    units = stored["units"]
    tried = {n: units[f"rag config {n}"]["accuracy"] for n in head_to_head.RAG_CONFIGS}
    assert stored["rag_config"]["name"] == max(tried, key=lambda n: (tried[n], -list(head_to_head.RAG_CONFIGS).index(n)))
    scores = units["retrieval"]["scores"]
    assert units["retrieval"]["chosen"] == ("hybrid" if scores["hybrid"]["recall@1"] >= scores["dense"]["recall@1"]
                                           else "dense")
    for kind in ("closed-book", "raft"):
        info = units[f"train {kind} seed {stored['seeds'][0]}"]
        best = info["val_steps"].index(info["best_step"])
        assert info["val_accuracy"][best] == max(info["val_accuracy"])
    for system in headtohead.SYSTEMS:
        for run in headtohead.runs(stored, system):  # every seed's gate: answerable and unanswerable validation
            assert len(run["validation_unanswerable"]["reply"]) == stored["sizes"]["validation_unanswerable"]
            assert run["threshold"] == calibration.choose_threshold(
                calibration.joined(run["validation"], run["validation_unanswerable"]))
            assert run["threshold_answerable_only"] == calibration.choose_threshold(run["validation"])


def test_gate_choices_score_both_thresholds_on_test(stored):
    rows = headtohead.gate_choices(stored)
    assert [(r["system"], r["gate"]) for r in rows] == [(s, g) for s in headtohead.SYSTEMS for g in headtohead.GATES]
    table = {r["system"]: r for r in headtohead.table(stored)}
    for r in rows:
        if r["gate"] == "with unanswerable":  # the book's gate: the chapter's table
            for key in ("coverage", "abstention", "confident_wrong"):
                assert r[key] == pytest.approx(table[r["system"]][key])
            assert r["accuracy"] == pytest.approx(table[r["system"]]["gated_accuracy"])


def test_joined_concatenates_graded_sets_in_order():
    a = {"confidence": [-0.1], "correct": [True], "idk": [False], "reply": ["x"]}
    b = {"confidence": [-0.5, -0.2], "correct": [False, False], "idk": [False, True]}
    assert calibration.joined(a, b) == {"confidence": [-0.1, -0.5, -0.2], "correct": [True, False, False],
                                        "idk": [False, False, True]}
    with pytest.raises(ValueError, match="nothing to join"):
        calibration.joined()


def test_table_matches_the_stored_outcomes(stored):
    rows = {r["system"]: r for r in headtohead.table(stored)}
    assert list(rows) == list(headtohead.SYSTEMS)
    for system, row in rows.items():
        rs = headtohead.runs(stored, system)
        right = sum(sum(headtohead.correct(r)) for r in rs)  # right answers over all seeds' 255 questions
        assert row["accuracy_ci"]["rate"] == pytest.approx(right / (255 * len(rs))) and row["accuracy_ci"]["n"] == 255
        assert row["accuracy_ci"]["low"] <= row["accuracy_ci"]["rate"] <= row["accuracy_ci"]["high"]
        assert row["p95_ms"] >= row["p50_ms"] > 0
        # a gate only turns answers into declines: it never adds a right or a wrong answer
        assert row["gated_accuracy"] <= row["accuracy"] and row["confident_wrong"] <= row["wrong_ungated"]
        # without a gate a system answers all it does not itself decline; a gate can only answer fewer
        ungated_coverage = sum(1 - sum(r["test"]["idk"]) / 255 for r in headtohead.runs(stored, system)) / row["seeds"]
        assert row["coverage"] <= ungated_coverage + 1e-12
        if row["threshold"] is None:
            assert row["coverage"] == pytest.approx(ungated_coverage)
    gap = headtohead.compare(stored, "raft", "rag")
    assert gap["diff"] == pytest.approx(rows["raft"]["accuracy_ci"]["rate"] - rows["rag"]["accuracy_ci"]["rate"])


def test_freshness_and_reading_vs_remembering(stored):
    fresh = headtohead.freshness(stored)
    assert list(fresh) == list(headtohead.SYSTEMS)
    retrained = stored["units"]["retrain"]["updates"]["correct"]
    assert fresh["finetuned"]["new_after"] == sum(retrained) / len(retrained)
    assert fresh["rag"]["seconds"] == stored["index"]["reindex_seconds"] and fresh["base"]["seconds"] == 0.0
    for system in headtohead.READS:  # re-indexing the changed documents gives new answers and drops old ones
        assert fresh[system]["new_after"] > fresh[system]["new_before"], system
        assert fresh[system]["old_after"] <= fresh[system]["old_before"], system
    assert fresh["finetuned"]["new_after"] > fresh["finetuned"]["new_before"]  # retraining absorbs it too
    assert (fresh["base"]["new_after"], fresh["base"]["old_after"]) == (fresh["base"]["new_before"],
                                                                        fresh["base"]["old_before"])
    groups = headtohead.fact_groups(stored)
    assert len(groups["unseen"]) == 51 and len(groups["trained"]) == 204
    split = headtohead.reading_vs_remembering(stored)
    assert set(split) == set(headtohead.SYSTEMS) | {"raft, context removed"}
    rows = {r["system"]: r for r in headtohead.table(stored)}
    for system in headtohead.SYSTEMS:  # the two groups together are the whole test set: 204 + 51 = 255 questions
        whole = (204 * split[system]["trained"] + 51 * split[system]["unseen"]) / 255
        assert whole == pytest.approx(rows[system]["accuracy"]), system
    assert split["finetuned"]["unseen"] < split["finetuned"]["trained"]  # closed book, it can only remember


def test_load_stored_explains_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="head-to-head"):
        load_stored("head_to_head", tmp_path / "none.json")


def test_quick_needs_its_own_output_file():

    with pytest.raises(SystemExit, match="--out"):
        main(["head-to-head", "--quick"])


def test_shipped_adapters_are_small():
    total = sum(f.stat().st_size for kind in ("h2h-closed-book", "h2h-raft")
                for f in (headtohead.ADAPTER_DIR / kind).glob("*.safetensors"))
    assert 0 < total <= 15e6


def test_seeds_are_averaged_per_question():
    assert headtohead.seed_mean([[True, False, True], [True, True, False], [False, False, True]]) == [2 / 3, 1 / 3, 2 / 3]
    one = headtohead.interval([[True, False, False, True]])  # a single run: the Wilson interval
    assert one["rate"] == 0.5 and one["n"] == 4 and (round(one["low"], 4), round(one["high"], 4)) == (0.1500, 0.8500)
    three = headtohead.interval([[True] * 10 + [False] * 10, [True] * 5 + [False] * 15, [True] * 15 + [False] * 5])
    assert three["rate"] == pytest.approx(0.5) and three["n"] == 20 and three["low"] < 0.5 < three["high"]


def test_compare_scores_each_question_by_the_share_of_seeds_right():
    def run(correct):
        n = len(correct)
        return {"test": {"correct": correct, "idk": [False] * n}}

    results = {"seeds": [0, 1], "units": {
        "rag": run([True, True, False, False]),
        "finetuned seed 0": run([True, False, False, False]), "finetuned seed 1": run([True, True, True, False])}}
    both = headtohead.compare(results, "rag", "finetuned")
    assert both["diff"] == pytest.approx(0.5 - (0.25 + 0.75) / 2)  # 0.5 against the seeds' mean 0.5
    assert headtohead.compare(results, "rag", "finetuned", seed_index=0)["diff"] == pytest.approx(0.25)
    assert headtohead.compare(results, "rag", "finetuned", seed_index=1)["diff"] == pytest.approx(-0.25)
