import pytest

from ragft import experiments



def test_chosen_facts_are_a_fixed_draw_of_known_facts():
    from ragft.data import load_facts

    ids = experiments.chosen_facts()
    # the draw the stored learning curves were made with (and chapter 1 shows): pinned, not recomputed
    assert ids == ["F011", "F036", "F056", "F067", "F073", "F078", "F092", "F099", "F104", "F108", "F123", "F125",
                   "F502", "F503", "F522", "F567", "F573", "F585", "F589", "F600", "F601", "F605", "F608", "F620"]
    assert len(set(ids)) == experiments.N_FACTS and set(ids) <= {f.id for f in load_facts()}
    assert experiments.chosen_facts(seed=1) != ids  # the seed picks the draw
    assert len(experiments.chosen_facts(n=5)) == 5


def test_stored_learning_curves_cover_every_point():
    stored = experiments.load_stored()
    assert [p["paraphrases"] for p in stored["facts"]] == list(experiments.PARAPHRASES)
    assert "behaviour" not in stored  # the confounded behaviour curve gave way to ragft.triage's two curves
    for p in stored["facts"]:
        assert 0 <= p["new_wording"] <= 1 and p["examples"] == p["paraphrases"] * experiments.N_FACTS
        assert p["steps"] == -(-4 * p["examples"] // 8)  # 4 epochs in batches of 8, the last one partial
        assert len(p["train_loss"]) == p["steps"]


def test_cli_names_its_experiment():
    with pytest.raises(SystemExit):
        experiments.main(["no-such-experiment"])
