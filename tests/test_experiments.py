import pytest

from ragft import experiments



def test_chosen_facts_are_a_fixed_draw_of_known_facts():
    from ragft.data import load_facts

    ids = experiments.chosen_facts()
    assert ids == experiments.chosen_facts() and len(set(ids)) == experiments.N_FACTS
    assert set(ids) <= {f.id for f in load_facts()}


def test_stored_learning_curves_cover_every_point():
    stored = experiments.load_stored()
    assert [p["paraphrases"] for p in stored["facts"]] == list(experiments.PARAPHRASES)
    assert "behaviour" not in stored  # the confounded behaviour curve gave way to ragft.triage's two curves
    for p in stored["facts"]:
        assert 0 <= p["new_wording"] <= 1 and p["examples"] == p["paraphrases"] * experiments.N_FACTS


def test_cli_names_its_experiment():
    with pytest.raises(SystemExit):
        experiments.main(["no-such-experiment"])
