import json
from pathlib import Path

import pytest

from ragft import triage
from ragft.data import TICKET_VALUES, load_tickets
from ragft.experiments import triage as triage_experiment
from ragft.experiments.results import load_stored
from ragft.triage import is_valid_record, ticket_completion

ROOT = Path(__file__).resolve().parents[1]


def test_valid_records_are_every_combination_of_allowed_values():
    records = triage.valid_records()
    assert len(records) == len(set(records)) == 6 * 4 * 7
    assert all(is_valid_record(r) for r in records)


def test_constrained_decoding_writes_only_valid_records(generator):
    model, tok = generator
    prompts = ["Say hello.", "Triage: my Irrigo V3 valve is stuck open and the bed floods."]
    replies = triage.triage(model, tok, prompts, constrained=True)
    assert all(is_valid_record(r) for r in replies) and all(r in triage.valid_records() for r in replies)
    constraint = triage.RecordConstraint(tok)
    (first,) = constraint.tree[()]  # every valid record starts the same way
    assert tok.decode([first]).startswith("{")


def test_few_shot_prompt_shows_the_examples_before_the_ticket():
    train = load_tickets("train")
    prompt = triage.few_shot_prompt("My probe is dead.", train[:2])
    assert prompt.index(train[0].text.strip()) < prompt.index(train[1].text.strip()) < prompt.index("My probe is dead.")
    assert ticket_completion(train[1].label) in prompt and prompt.endswith("JSON:")
    assert all(v in prompt for values in TICKET_VALUES.values() for v in values)


def test_nearest_tickets_puts_the_most_similar_last(embedder):
    train = load_tickets("train")[:30]
    near = triage.NearestTickets(embedder, train)
    assert near.nearest([train[3].text], k=3)[0][-1] == train[3]
    with pytest.raises(ValueError, match="k must be"):
        near.nearest(["x"], k=0)
    with pytest.raises(ValueError, match="no labelled"):
        triage.NearestTickets(embedder, [])


def test_classifier_writes_valid_records(embedder):
    train = load_tickets("train")
    replies = triage.TicketClassifier(embedder, train, C=10.0).replies([t.text for t in train[:20]])
    assert all(is_valid_record(r) for r in replies)
    assert sum(r == ticket_completion(t.label) for r, t in zip(replies, train[:20])) >= 15  # it fits its own data


def test_perturbations_keep_the_content():
    text = "Hi, our Rootline R2 probe reboots every hour. It started yesterday. Please help."
    assert triage.add_greeting(text).endswith(text) and triage.add_signature(text).startswith(text)
    reordered = triage.reorder_sentences(text)
    assert reordered != text and sorted(reordered.split()) == sorted(text.split())
    assert triage.reorder_sentences("One sentence only") == "One sentence only"
    typo = triage.add_typo(text)
    assert typo != text and len(typo) == len(text) and "Rootline R2" in typo and sorted(typo) == sorted(text)
    assert triage.same_record(['{"a": 1}', "x"], ['{"a": 1} ok', "x"]) == [True, False]


def test_stored_triage_results_cover_every_system_and_every_ticket():
    stored = load_stored("triage")
    n = stored["sizes"]["test"]
    assert n == 60 and stored["ids"]["test"] == [t.id for t in load_tickets("test")]
    assert {"processor", "cpus", "torch_threads"} <= set(stored["machine"])
    units = stored["units"]
    for name in ("zero-shot", "zero-shot constrained", "few-shot", "few-shot constrained", "classifier",
                 "adapter", "adapter constrained"):
        assert len(units[name]["exact"]) == n and units[name]["exact_match"] == round(sum(units[name]["exact"]) / n, 4)
    for name in triage_experiment.RECIPES:  # every recipe tried, trained until validation stopped improving
        record = units[f"adapter {name}"]
        assert record["steps_run"] <= record["max_steps"] and len(record["val_exact"]) == len(record["val_steps"])
    for system in ("adapter", "classifier"):
        for change in triage.PERTURBATIONS:
            assert len(units[f"consistency {system} {change}"]["same"]) == n
    assert (triage.ADAPTER_DIR / "adapter_model.safetensors").stat().st_size < 8e6  # a few MB, shipped


def test_every_notebook_that_scores_tickets_uses_the_one_exact_match_metric():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        if "load_tickets" in code and ("exact" in code):
            assert "greedy_exact_match" not in code, f"{path.name} scores tickets with the teacher-forced check"
            assert "field_scores" in code or "exact_matches" in code or 'load_stored("triage")' in code or \
                "load_triage" in code, f"{path.name} scores tickets without ragft.triage.exact_matches"


def test_template_split_holds_out_whole_templates_of_every_category():
    tickets = load_tickets("train")
    fit, val = triage.template_split(tickets)
    assert sorted(t.id for t in fit + val) == sorted(t.id for t in tickets)
    assert not {t.template for t in fit} & {t.template for t in val}  # no template on both sides
    held = {t.template for t in val}
    assert len(held) == 2 * len(TICKET_VALUES["category"])
    assert {t.label["category"] for t in val} == set(TICKET_VALUES["category"])
    assert [t.id for t in triage.template_split(tickets)[1]] == [t.id for t in val]  # seeded
    assert [t.id for t in triage.template_split(tickets, seed=1)[1]] != [t.id for t in val]
    # the stored experiment trained and tuned on this split
    assert [t.id for t in val] == load_stored("triage")["ids"]["validation"]


def test_template_split_refuses_tickets_it_cannot_split():
    from ragft.data import Ticket

    label = {"category": "billing", "priority": "low", "product": "none"}
    with pytest.raises(ValueError, match="names no template"):
        triage.template_split([Ticket("t1", "x", label, "")])
    two = [Ticket(f"t{i}", "x", label, f"T{i}") for i in range(2)]
    with pytest.raises(ValueError, match="too few"):
        triage.template_split(two, per_category=2)
    fit, val = triage.template_split([Ticket(f"t{i}", "x", label, f"T{i % 3}") for i in range(6)], per_category=1)
    assert len({t.template for t in val}) == 1 and len(fit) == 4
