import math

import pytest

from ragft.finetune import (
    IGNORE_INDEX,
    Example,
    add_lora,
    collate,
    count_parameters,
    tokenize_example,
    train,
    train_val_split,
)
from ragft.triage import exact_matches, field_scores, parse_json_reply


def test_tokenize_example_masks_the_prompt_and_keeps_the_completion(generator):
    _, tok = generator
    ex = tokenize_example(tok, Example("What colour is the probe?", "Green."))
    labels = [t for t in ex["labels"] if t != IGNORE_INDEX]
    assert len(ex["input_ids"]) == len(ex["labels"])
    assert tok.decode(labels) == "Green." + tok.eos_token
    # everything before the completion is masked, and the unmasked part is the tail of the ids
    n = len(labels)
    assert ex["labels"][:-n] == [IGNORE_INDEX] * (len(ex["labels"]) - n)
    assert ex["input_ids"][-n:] == labels
    assert "What colour is the probe?" in tok.decode(ex["input_ids"][:-n])


def test_tokenize_example_refuses_empty_text_and_a_cut_completion(generator):
    _, tok = generator
    with pytest.raises(ValueError, match="empty"):
        tokenize_example(tok, Example("  ", "x"))
    with pytest.raises(ValueError, match="max_length"):
        tokenize_example(tok, Example("a long question " * 20, "yes"), max_length=10)


def test_collate_pads_on_the_right():
    batch = collate([{"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, 6, 7]},
                     {"input_ids": [8], "labels": [8]}], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 7], [8, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_train_val_split_is_seeded_and_disjoint():
    a_train, a_val = train_val_split(range(10), 0.2, seed=1)
    b_train, b_val = train_val_split(range(10), 0.2, seed=1)
    assert (a_train, a_val) == (b_train, b_val)
    assert len(a_val) == 2 and sorted(a_train + a_val) == list(range(10)) and not set(a_train) & set(a_val)
    assert a_train + a_val != list(range(10))  # shuffled, not cut off the end
    others = [train_val_split(range(10), 0.2, seed=s)[1] for s in (2, 3, 4)]
    assert any(v != a_val for v in others)  # the seed picks the split
    assert len(train_val_split(range(10), 0.04)[1]) == 1  # at least one validation item
    with pytest.raises(ValueError):
        train_val_split(range(10), 1.5)
    with pytest.raises(ValueError, match="too few"):
        train_val_split([1], 0.5)


def test_parse_json_reply_and_field_scores():
    assert parse_json_reply('Sure: {"a": "x", "b": "y"} done') == {"a": "x", "b": "y"}
    assert parse_json_reply("no json here") is None
    assert parse_json_reply('{"a": broken} {"a": "ok"}') == {"a": "ok"}
    scores = field_scores(['{"a": "x", "b": "y"}', '{"a": "x", "b": "n"}', "nothing"],
                          [{"a": "x", "b": "y"}] * 3)
    assert scores == {"a": 2 / 3, "b": 1 / 3, "exact_match": 1 / 3, "valid_json": 2 / 3, "valid_record": 0.0}
    assert exact_matches(['{"b": "y", "a": "x"}', '{"a": "x"}'], [{"a": "x", "b": "y"}] * 2) == [True, False]
    with pytest.raises(ValueError):
        exact_matches(["{}"], [])


def test_lora_trains_only_adapters_and_lowers_the_loss():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tiny = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2))
    with pytest.raises(ValueError, match="add_lora"):
        for p in tiny.parameters():
            p.requires_grad_(False)
        train(tiny, [{"input_ids": [1, 2], "labels": [1, 2]}], pad_id=0, progress=False)
    base = count_parameters(tiny)[1]
    # embeddings and lm_head 2 * 32 * 16, attention 4 * 16 * 16, MLP 3 * 16 * 32, three RMSNorms of 16
    assert base == 2 * 32 * 16 + 4 * 16 * 16 + 3 * 16 * 32 + 3 * 16 == 3632
    model = add_lora(tiny, r=4, alpha=8, dropout=0.0)
    trainable, total = count_parameters(model)
    # rank-4 A and B matrices, r * (in + out), on q, k, v, o (16 -> 16) and gate, up, down (16 <-> 32)
    assert trainable == 4 * 4 * (16 + 16) + 3 * 4 * (16 + 32) == 1088 and total == base + trainable
    data = [{"input_ids": [1, 5, 6, 7, 8], "labels": [IGNORE_INDEX, 5, 6, 7, 8]}] * 8
    history = train(model, data, pad_id=0, val_examples=data[:2], epochs=10, batch_size=4, lr=1e-2,
                    eval_every=5, progress=False)
    assert len(history.train_loss) == 20 and history.val_steps == [5, 10, 15, 20]
    assert history.train_loss[-1] < history.train_loss[0] and history.val_loss[-1] < history.val_loss[0]
    assert 0 < history.seconds_per_step < math.inf  # measured (the default is nan)


def test_ticket_prompt_and_completion():
    from ragft.triage import TICKET_INSTRUCTION, ticket_completion, ticket_prompt

    assert ticket_prompt(" My probe is dead. ") == f"{TICKET_INSTRUCTION}\n\nMy probe is dead."
    assert "hardware_fault" in ticket_prompt("x", detailed=True) and "Canopy Gateway CG-4" in ticket_prompt("x", True)
    assert ticket_completion({"product": "none", "category": "billing", "priority": "low"}) == \
        '{"category": "billing", "priority": "low", "product": "none"}'
    with pytest.raises(ValueError, match="empty"):
        ticket_prompt("  ")


def test_add_lora_can_adapt_only_some_layers():
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                                        num_attention_heads=2, num_key_value_heads=2))
    model = add_lora(tiny, r=2, layers=[2])
    adapted = {n.split(".layers.")[1].split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert adapted == {"2"}


def test_load_adapter_explains_a_missing_adapter(tmp_path):
    from ragft.finetune import load_adapter

    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        load_adapter(object(), tmp_path)


def _tiny_llama(layers=1):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2))


def test_greedy_exact_match_agrees_with_greedy_generation():
    import torch

    from ragft.finetune import greedy_exact_match

    model = _tiny_llama().eval()
    prompt = torch.tensor([[3, 4, 5]])
    greedy = model.generate(prompt, max_new_tokens=4, do_sample=False, pad_token_id=0)[0, 3:].tolist()
    right = {"input_ids": [3, 4, 5] + greedy, "labels": [IGNORE_INDEX] * 3 + greedy}
    wrong_tail = greedy[:-1] + [(greedy[-1] + 1) % 32]
    wrong = {"input_ids": [3, 4, 5] + wrong_tail, "labels": [IGNORE_INDEX] * 3 + wrong_tail}
    short_greedy = model.generate(torch.tensor([[7]]), max_new_tokens=2, do_sample=False, pad_token_id=0)[0, 1:].tolist()
    short = {"input_ids": [7] + short_greedy, "labels": [IGNORE_INDEX] + short_greedy}
    assert greedy_exact_match(model, [right, wrong, short, right], pad_id=0, batch_size=3) == [True, False, True, True]


def test_train_can_count_steps_instead_of_epochs():
    model = add_lora(_tiny_llama(), r=2)
    data = [{"input_ids": [1, 5, 6], "labels": [IGNORE_INDEX, 5, 6]}] * 5
    assert len(train(model, data, pad_id=0, batch_size=2, steps=7, progress=False).steps) == 7


def test_fit_lora_caches_the_adapter_by_its_inputs(tmp_path, monkeypatch):
    import torch

    from ragft.adapter_cache import ENV_ADAPTER_CACHE, fit_lora

    class Tok:  # the two tokenizer features tokenize_example needs
        eos_token, pad_token_id = "</s>", 0

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "".join(m["content"] for m in messages) + ">"

        def __call__(self, text, add_special_tokens):
            return {"input_ids": [1 + ord(c) % 30 for c in text.replace("</s>", "\x01")]}

    monkeypatch.setenv(ENV_ADAPTER_CACHE, str(tmp_path))
    examples = [Example("ab", "cd"), Example("ef", "gh")]
    first, history = fit_lora(_tiny_llama(2), Tok(), examples, steps=3, batch_size=2, layers=[1])
    assert len(list(tmp_path.iterdir())) == 1 and len(history.steps) == 3
    again, cached = fit_lora(_tiny_llama(2), Tok(), examples, steps=3, batch_size=2, layers=[1])
    assert cached.train_loss == history.train_loss
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(first(x).logits, again(x).logits)
    # a hit is the same kind of model as a miss: eval mode, the same trainable LoRA weights
    assert again.training is first.training is False
    trainable = lambda m: sorted(n for n, p in m.named_parameters() if p.requires_grad)  # noqa: E731
    assert trainable(again) == trainable(first) and trainable(first)
    fit_lora(_tiny_llama(2), Tok(), examples, steps=4, batch_size=2, layers=[1])  # other settings, other entry
    assert len(list(tmp_path.iterdir())) == 2
    with pytest.raises(ValueError, match="already has LoRA"):
        fit_lora(first, Tok(), examples)
    # a change to the training code (or a library upgrade) is a new entry, never a stale hit
    import ragft.adapter_cache as adapter_cache

    real = adapter_cache.training_code_fingerprint()
    monkeypatch.setattr(adapter_cache, "training_code_fingerprint", lambda: {**real, "code": "edited"})
    fit_lora(_tiny_llama(2), Tok(), examples, steps=3, batch_size=2, layers=[1])
    assert len(list(tmp_path.iterdir())) == 3
    assert adapter_cache.clear_adapter_cache() == 3 and not list(tmp_path.iterdir())


def test_training_code_fingerprint_follows_the_code_and_the_libraries(monkeypatch):
    import ragft.adapter_cache as adapter_cache

    before = adapter_cache.training_code_fingerprint()
    assert set(before) == {"code", "torch", "transformers", "peft"}
    original = adapter_cache.collate

    def collate(batch, pad_id):  # the same behaviour, other source: the key must change
        return original(batch, pad_id)

    monkeypatch.setattr(adapter_cache, "collate", collate)
    assert adapter_cache.training_code_fingerprint()["code"] != before["code"]


def test_is_valid_record_needs_the_three_fields_with_allowed_values():
    from ragft.triage import is_valid_record

    assert is_valid_record('ok {"category": "billing", "priority": "low", "product": "none"}')
    assert not is_valid_record('{"category": "Triage", "priority": "low", "product": "none"}')
    assert not is_valid_record('{"category": "billing", "priority": "low"}')
    assert not is_valid_record("no record")


def test_fit_lora_gives_the_same_adapter_whatever_ran_before(tmp_path, monkeypatch):
    import torch

    from ragft.adapter_cache import ENV_ADAPTER_CACHE, fit_lora

    monkeypatch.setenv(ENV_ADAPTER_CACHE, str(tmp_path))
    data = [Example("ab", "cd")]

    class Tok:
        eos_token, pad_token_id = "</s>", 0

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return messages[-1]["content"] + ">"

        def __call__(self, text, add_special_tokens):
            return {"input_ids": [1 + ord(c) % 30 for c in text.replace("</s>", "\x01")]}

    a, _ = fit_lora(_tiny_llama(), Tok(), data, steps=2, batch_size=1, layers=None, cache=False)
    torch.rand(1000)  # something else used the global random generator in between
    b, _ = fit_lora(_tiny_llama(), Tok(), data, steps=2, batch_size=1, layers=None, cache=False)
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(a(x).logits, b(x).logits)


def test_train_stops_early_and_keeps_the_best_step():
    import torch

    model = add_lora(_tiny_llama(), r=2)
    data = [{"input_ids": [1, 5, 6], "labels": [IGNORE_INDEX, 5, 6]}] * 4
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.4, 0.3])  # best at the 2nd evaluation, then three worse ones
    kept = {}

    def score(m):
        value = next(scores)
        if value == 0.9:
            kept.update({n: p.detach().clone() for n, p in m.named_parameters() if p.requires_grad})
        return value

    history = train(model, data, pad_id=0, val_examples=data[:1], batch_size=2, steps=50, eval_every=2, lr=1e-2,
                    schedule="constant", score_fn=score, patience=3, progress=False)
    assert history.val_steps == [2, 4, 6, 8, 10] and history.val_score == [0.5, 0.9, 0.7, 0.6, 0.4]
    assert history.best_step == 4 and len(history.steps) == 10
    assert all(torch.equal(p, kept[n]) for n, p in model.named_parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="score_fn"):
        train(model, data, pad_id=0, steps=2, patience=2, progress=False)
    with pytest.raises(ValueError, match="schedule"):
        train(model, data, pad_id=0, steps=2, schedule="cosine", progress=False)


def test_a_missing_peft_names_its_pip_command(monkeypatch, tmp_path):
    import sys

    from ragft.finetune import load_adapter
    from ragft.models import LibraryMissing

    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now fails as if it were not installed
    for call in (lambda: add_lora(object()), lambda: load_adapter(object(), tmp_path)):
        with pytest.raises(LibraryMissing, match=r"'peft' cannot be imported.*: pip install peft==0\.21\.2") as err:
            call()
        assert isinstance(err.value.__cause__, ImportError)
