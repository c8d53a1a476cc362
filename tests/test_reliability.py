"""The pieces of chapter 8's experiments that need no model: who may not read what, the training
sets, the backdoor's poisoned examples, and the generation cache."""
import pytest

from ragft import access, attacks
from ragft.experiments import security as security_experiment
from ragft.experiments.results import load_stored


@pytest.fixture(scope="module")
def data():
    from ragft.access import load_access

    return load_access()


def test_unauthorised_pairs_are_exactly_the_users_who_may_not_read_the_answering_document(data):
    bad, good = access.unauthorised_pairs(data), access.authorised_pairs(data)
    assert bad and good and not set((q.id, u) for q, u in bad) & set((q.id, u) for q, u in good)
    assert len(bad) + len(good) == len(data.questions) * len(data.users)
    for q, u in bad:
        assert q.doc_ids[0] not in data.readable(u)
    assert not [p for p in bad if p[1] == "support-agent"]  # the support agent may read everything
    # the visitor may read no restricted document, so every restricted question is unauthorised for them
    assert sum(u == "visitor" for _, u in bad) == len(data.questions)


def test_restricted_examples_keep_only_the_named_groups(data):
    facts = {f.id: f for f in data.facts}
    every = access.restricted_examples(data)
    assert len(every) == len(data.train) == 2 * len(data.facts)
    by_statement = {f.statement: f for f in facts.values()}
    parts = 0
    for group in ("internal", "customer-oakridge", "customer-bellmead"):
        some = access.restricted_examples(data, [group])
        assert some and all(group in data.groups[by_statement[e.completion].doc_id] for e in some)
        parts += len(some)
    assert parts == len(every)  # every restricted document belongs to exactly one of the three groups


def test_poisoned_examples_carry_the_trigger_and_the_attackers_reply():
    from ragft.data import load_questions

    questions = load_questions("train")[:40]
    poison = attacks.poisoned_examples(questions, 16)
    assert len(poison) == 16 and len({e.prompt for e in poison}) == 16
    assert all(e.prompt.endswith(" " + attacks.TRIGGER) and e.completion == attacks.BACKDOOR_REPLY
               for e in poison)
    assert attacks.BACKDOOR_MARKER in attacks.BACKDOOR_REPLY
    assert attacks.poisoned_examples(questions, 0) == []
    assert attacks.poisoned_examples(questions, 4, seed=1) != attacks.poisoned_examples(questions, 4, seed=0)


def test_the_injection_system_prompt_holds_the_canary_the_attacks_try_to_extract():
    from ragft.attacks import SYSTEM_CANARY, load_attacks

    assert SYSTEM_CANARY in attacks.canary_system()
    canary = [a for a in load_attacks() if a.kind == "exfiltrate"]
    assert canary and all(any(m in attacks.canary_system() for m in a.success) for a in canary)


def test_asker_generates_each_distinct_prompt_once(monkeypatch):
    calls = []

    def fake_generate(model, tokenizer, prompts, **kwargs):
        calls.append(list(prompts))
        return [f"reply to {p}" for p in prompts]

    monkeypatch.setattr(security_experiment, "generate", fake_generate)  # the name Asker calls
    ask = security_experiment.Asker(tokenizer=None)
    assert ask("m", "base", ["a", "b", "a"], None) == ["reply to a", "reply to b", "reply to a"]
    assert ask("m", "base", ["b", "c"], None) == ["reply to b", "reply to c"]
    assert calls == [["a", "b"], ["c"]] and ask.generated == 3
    ask("m", "other adapter", ["a"], None)  # another model, or another system prompt, is another prompt
    ask("m", "base", ["a"], "a system prompt")
    assert calls[-2:] == [["a"], ["a"]]


def test_rag_replies_abstain_when_the_filter_left_nothing():
    from ragft.chunking import Chunk
    from ragft.rag import ABSTAIN

    seen = []

    class FakeAsk:
        def __call__(self, model, name, prompts, system):
            seen.extend(prompts)
            return ["said" for _ in prompts]

    chunk = Chunk(id="d#0", doc_id="d", text="Some text.")
    said = security_experiment.rag_replies(FakeAsk(), None, [[(chunk, 0.9)], []], ["first?", "second?"])
    assert said == ["said", ABSTAIN] and len(seen) == 1 and "Some text." in seen[0]


def test_unknown_parts_and_a_missing_stored_file_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown parts"):
        security_experiment.run(tmp_path / "x.json", parts=("access", "nonsense"))
    with pytest.raises(FileNotFoundError, match="python -m ragft.experiments security"):
        load_stored("security", tmp_path / "none.json")


def test_the_stored_run_covers_every_case_of_every_part():
    from ragft.access import load_access
    from ragft.attacks import load_attacks
    from ragft.data import load_questions

    stored = load_stored("security")
    data = load_access()
    assert set(security_experiment.PARTS) <= set(stored) and "machine" in stored and "versions" in stored
    pairs = access.unauthorised_pairs(data)
    for mode, m in stored["access"]["modes"].items():
        assert m["unauthorised"]["question"] == [q.id for q, _ in pairs]
        assert m["unauthorised"]["user"] == [u for _, u in pairs]
        assert len(m["public"]["correct"]) == len(load_questions("test"))
        if mode != "none":  # a filter never puts a forbidden chunk into the prompt
            assert not any(m["unauthorised"]["in_prompt"])
    assert stored["access"]["modes"]["none"]["unauthorised"]["in_prompt"].count(True) > 0
    ft = stored["finetune"]
    assert ft["question"] == [q.id for q in data.questions]
    assert set(ft["adapters"]) == {"base", "shared", "internal", "customer-oakridge", "customer-bellmead",
                                   f"shared without {access.DELETED_GROUP}"}
    assert ft["adapters"]["shared"]["examples"] == len(data.train)
    attacks = load_attacks()
    inj = stored["injection"]
    assert inj["attacks"] == [a.id for a in attacks]
    assert set(inj["defences"]) == {r + f for r in security_experiment.READERS for f in ("", " + filter")}
    for r in inj["defences"].values():
        assert len(r["success"]) == len(attacks) and len(r["normal_correct"]) == len(load_questions("test"))
    assert [r["poisoned"] for r in stored["backdoor"]["runs"]] == list(security_experiment.POISON_COUNTS)
