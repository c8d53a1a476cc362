import math

import pytest

from ragft.finetune import (IGNORE_INDEX, Example, add_lora, collate, count_parameters, field_scores,
                            parse_json_reply, tokenize_example, train, train_val_split)


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
    assert len(a_val) == 2 and sorted(a_train + a_val) == list(range(10))
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
    assert scores == {"a": 2 / 3, "b": 1 / 3, "exact_match": 1 / 3, "valid_json": 2 / 3}


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
    model = add_lora(tiny, r=4, alpha=8, dropout=0.0)
    trainable, total = count_parameters(model)
    assert 0 < trainable < total
    data = [{"input_ids": [1, 5, 6, 7, 8], "labels": [IGNORE_INDEX, 5, 6, 7, 8]}] * 8
    history = train(model, data, pad_id=0, val_examples=data[:2], epochs=10, batch_size=4, lr=1e-2,
                    eval_every=5, progress=False)
    assert len(history.train_loss) == 20 and history.val_steps == [5, 10, 15, 20]
    assert history.train_loss[-1] < history.train_loss[0] and history.val_loss[-1] < history.val_loss[0]
    assert math.isfinite(history.seconds_per_step)


def test_ticket_prompt_and_completion():
    from ragft.finetune import TICKET_INSTRUCTION, ticket_completion, ticket_prompt

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
