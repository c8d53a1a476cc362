import pytest

from ragft import experiments



def test_chosen_facts_are_a_fixed_draw_of_known_facts():
    from ragft.data import load_facts

    ids = experiments.chosen_facts()
    assert ids == experiments.chosen_facts() and len(set(ids)) == experiments.N_FACTS
    assert set(ids) <= {f.id for f in load_facts()}


def test_behaviour_point_refuses_an_impossible_size():
    with pytest.raises(ValueError, match="between 1 and"):
        experiments.behaviour_point(None, None, 10_000)


def test_stored_learning_curves_cover_every_point():
    stored = experiments.load_stored()
    assert [p["n"] for p in stored["behaviour"]] == list(experiments.TICKET_SIZES)
    assert [p["paraphrases"] for p in stored["facts"]] == list(experiments.PARAPHRASES)
    for p in stored["behaviour"]:
        assert 0 <= p["exact_match"] <= 1 and len(p["train_loss"]) == p["steps"]
    for p in stored["facts"]:
        assert 0 <= p["new_wording"] <= 1 and p["examples"] == p["paraphrases"] * experiments.N_FACTS


def test_cli_names_its_experiment():
    with pytest.raises(SystemExit):
        experiments.main(["no-such-experiment"])
