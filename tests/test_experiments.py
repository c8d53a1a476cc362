import pytest

from ragft.experiments import context as context_experiment
from ragft.experiments import learning_curves
from ragft.experiments import purpose as purpose_experiment
from ragft.experiments.__main__ import main
from ragft.experiments.results import load_stored


def test_chosen_facts_are_a_fixed_draw_of_known_facts():
    from ragft.data import load_facts

    ids = learning_curves.chosen_facts()
    # the draw the stored learning curves were made with (and chapter 1 shows): pinned, not recomputed
    assert ids == ["F011", "F036", "F056", "F067", "F073", "F078", "F092", "F099", "F104", "F108", "F123", "F125",
                   "F502", "F503", "F522", "F567", "F573", "F585", "F589", "F600", "F601", "F605", "F608", "F620"]
    assert len(set(ids)) == learning_curves.N_FACTS and set(ids) <= {f.id for f in load_facts()}
    assert learning_curves.chosen_facts(seed=1) != ids  # the seed picks the draw
    assert len(learning_curves.chosen_facts(n=5)) == 5


def test_stored_learning_curves_cover_every_point():
    stored = load_stored("learning_curves")
    assert [p["paraphrases"] for p in stored["facts"]] == list(learning_curves.PARAPHRASES)
    assert "behaviour" not in stored  # the confounded behaviour curve gave way to ragft.triage's two curves
    for p in stored["facts"]:
        assert 0 <= p["new_wording"] <= 1 and p["examples"] == p["paraphrases"] * learning_curves.N_FACTS
        assert p["steps"] == -(-4 * p["examples"] // 8)  # 4 epochs in batches of 8, the last one partial
        assert len(p["train_loss"]) == p["steps"]


def test_cli_names_its_experiment():
    with pytest.raises(SystemExit):
        main(["no-such-experiment"])


def test_the_stored_embedder_run_covers_every_test_question():
    from ragft.data import load_questions

    ids = [q.id for q in load_questions("test")]
    run = load_stored("embedder")
    assert run["questions"] == ids and "machine" in run and run["pairs"] == 255 and run["steps"] == 16
    for system in ("shipped", "fine-tuned"):
        assert len(run["systems"][system]["correct"]) == len(run["systems"][system]["reply"]) == len(ids)
    # the fine-tune changed retrieval (chapter 6 reports by how much), so the two runs are not one run twice
    assert run["systems"]["shipped"]["retrieval"] != run["systems"]["fine-tuned"]["retrieval"]


def test_a_missing_stored_file_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m ragft.experiments embedder"):
        load_stored("embedder", tmp_path / "none.json")
    with pytest.raises(SystemExit):
        main(["embedder", "--quick"])


def test_the_stored_context_sweep_covers_every_test_question_for_each_configuration():
    from ragft.data import load_questions
    from ragft.evaluate import contains_answer

    test = load_questions("test")
    run = load_stored("context")
    assert run["questions"] == [q.id for q in test] and "machine" in run
    assert [(c["k"], c["layout"]) for c in run["configs"]] == list(context_experiment.CONTEXT_CONFIGS)
    for c in run["configs"]:
        assert len(c["in_prompt"]) == len(c["correct"]) == len(c["reply"]) == len(test)
        # the stored verdicts are the grader's verdicts on the stored replies
        assert c["correct"] == [contains_answer(r, q.answers) for r, q in zip(c["reply"], test)]
    # answer-in-prompt depends on k only, and more chunks can only add answers to the prompt
    by_k = {c["k"]: c["in_prompt"] for c in run["configs"]}
    assert all(a <= b for a, b in zip(by_k[1], by_k[2])) and all(a <= b for a, b in zip(by_k[2], by_k[3]))


def test_context_has_no_quick_variant():
    with pytest.raises(SystemExit):
        main(["context", "--quick"])


def test_the_stored_rag_ticket_run_covers_every_test_ticket_and_its_scores_follow_from_its_replies():
    from ragft.chunking import chunk_by_heading
    from ragft.data import load_documents, load_tickets
    from ragft.triage import exact_matches, is_valid_record

    tickets = load_tickets("test")
    run = load_stored("purpose")
    assert run["tickets"] == [t.id for t in tickets] and len(run["reply"]) == len(tickets) == 60
    assert run["valid_record"] == [is_valid_record(r) for r in run["reply"]]
    assert run["exact"] == exact_matches(run["reply"], [t.label for t in tickets])
    assert set(run["section"]) <= {c.id for d in load_documents() for c in chunk_by_heading(d)}
    assert run["machine"]["torch_threads"] >= 1 and run["versions"]["torch"]


def test_rag_ticket_prompts_put_the_top_section_above_the_detailed_instruction():
    from ragft.chunking import Chunk
    from ragft.data import Ticket
    from ragft.triage import ticket_prompt

    tickets = [Ticket("T1", "The gateway is offline."), Ticket("T2", "Invoice twice.")]
    hits = [[(Chunk(f"c{i}", "d", f"section for {t.text}"), 0.5)] for i, t in enumerate(tickets)]
    prompts = purpose_experiment.rag_ticket_prompts(hits, tickets)
    assert prompts == [f"section for {t.text}\n\n{ticket_prompt(t.text, detailed=True)}" for t in tickets]


def test_the_stored_exercise_runs_cover_what_the_solutions_quote():
    from ragft.access import load_access, unauthorised_pairs
    from ragft.data import load_conversations, load_questions
    from ragft.experiments import exercises

    run = load_stored("exercises")
    assert set(exercises.PARTS) <= set(run) and "machine" in run
    assert all(run[part]["unit_seconds"] > 0 for part in exercises.PARTS)
    pairs = unauthorised_pairs(load_access())
    over = run["overfetch"]
    assert over["question"] == [q.id for q, _ in pairs] and over["user"] == [u for _, u in pairs]
    assert list(over["k"]) == [str(k) for k in exercises.OVERFETCH_KS]
    for k, r in over["k"].items():
        assert r["after_empty"] == [n == 0 for n in r["after_count"]] and max(r["after_count"]) <= int(k)
        assert set(r["before_count"]) == {int(k)}  # every user may read more than k chunks
        # over-fetching returns the filtered search's first chunk, or nothing: never another chunk
        assert all(same != empty for same, empty in zip(r["after_first_is_before_first"], r["after_empty"]))
    follow_ups = sum(len(c.turns) - 1 for c in load_conversations())
    history = run["history"]
    assert all(len(v) == follow_ups for v in history["follow_ups"].values())
    assert all(len(v) == len(load_conversations()) for v in history["switches"].values())
    test = [q.id for q in load_questions("test")]
    emb = run["embedder"]
    assert emb["questions"] == test and len(emb["negative_rank"]) == 255
    for system in emb["systems"].values():
        assert all(len(system[m]) == len(test) for m in ("recall@1", "recall@3", "answer in top-3 chunks"))
    # the pairs-on-every-fact fine-tune is chapter 6's, run again: the same retrieval scores
    stored = load_stored("embedder")["systems"]
    for name, again in (("shipped", "shipped"), ("fine-tuned", "all facts")):
        for metric, value in stored[name]["retrieval"].items():
            assert abs(sum(emb["systems"][again][metric]) / len(test) - value) <= 0.02
    latency = run["latency"]
    assert set(latency["generate_seconds"]) == {"closed book", "rag"} and latency["repeats"] == exercises.LATENCY_REPEATS
    assert all(list(t) == [str(b) for b in exercises.BATCH_SIZES] for t in latency["generate_seconds"].values())
    chunks = run["chunks"]
    assert chunks["questions"] == test and list(chunks["strategies"]) == list(exercises.CHUNKINGS)
    for s in chunks["strategies"].values():
        assert len(s["correct"]) == len(s["in_prompt"]) == len(test)


def test_exercises_has_no_quick_variant():
    with pytest.raises(SystemExit):
        main(["exercises", "--quick"])
