"""LoRA fine-tuning: chat-formatted examples with the prompt masked out of the labels, padding into
batches, LoRA adapters through PEFT, and a plain training loop with early stopping.

Taught in notebooks 02c (the behaviour fine-tune) and 02d (facts); ``ragft.adapter_cache.fit_lora``
runs the same recipe in one call.
"""
from __future__ import annotations

import math
import random
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ragft.data import Fact, Question
from ragft.env import show_progress
from ragft.models import chat_prompt, require

IGNORE_INDEX = -100  # label value that the cross-entropy loss skips


QA_SYSTEM = "You answer questions about Fernhollow Instruments."

LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class Example:
    """One supervised example: what the user says and the reply the model should learn.

    Taught in notebook 02c.
    """

    prompt: str
    completion: str


def fact_example(question: Question, facts: dict[str, Fact]) -> Example:
    """The closed-book training example for a ``Question``: the question, and its fact's full statement.

    Taught in notebook 02d.
    """
    return Example(question.question, facts[question.fact_ids[0]].statement)


def closed_book_examples(questions: Sequence[Question], facts: dict[str, Fact]) -> list[Example]:
    """Closed-book examples: each training paraphrase, answered by its fact's statement."""
    return [fact_example(q, facts) for q in questions]


def tokenize_example(tokenizer: Any, example: Example, system: str | None = None,
                     max_length: int = 512) -> dict[str, list[int]]:
    """Token ids of prompt + completion + end-of-turn, with the prompt tokens masked out of the labels.

    Taught in notebook 02c.
    """
    if not example.prompt.strip() or not example.completion.strip():
        raise ValueError(f"empty prompt or completion in {example!r}")
    prompt_text = chat_prompt(tokenizer, example.prompt, system)  # system + user turn, then the assistant's header
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    # the reply ends with the end-of-turn token, so that the model learns where to stop
    answer_ids = tokenizer(example.completion + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + answer_ids)[:max_length]
    # the loss is computed on the reply only: every prompt position gets the label the loss skips
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    if all(t == IGNORE_INDEX for t in labels):
        raise ValueError(f"max_length={max_length} cuts off the whole completion; raise it")
    return {"input_ids": ids, "labels": labels}


def collate(batch: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Pad a list of tokenized examples on the right into tensors (labels padded with ``IGNORE_INDEX``).

    Taught in notebook 02c.
    """
    import torch

    width = max(len(b["input_ids"]) for b in batch)  # every row is padded to the longest example
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)  # padding is never learned
    mask = torch.zeros((len(batch), width), dtype=torch.long)  # 1 = a real token, 0 = padding to ignore
    for row, b in enumerate(batch):
        n = len(b["input_ids"])
        ids[row, :n] = torch.tensor(b["input_ids"])  # on the right: the tokens keep positions 0, 1, 2, ...
        labels[row, :n] = torch.tensor(b["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def train_val_split(items: Sequence[Any], val_fraction: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """Shuffle with a fixed seed and cut off ``val_fraction`` of the items for validation."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    items = list(items)
    random.Random(seed).shuffle(items)
    n_val = max(1, round(len(items) * val_fraction))
    if n_val >= len(items):
        raise ValueError(f"{len(items)} items are too few to split")
    return items[n_val:], items[:n_val]


@contextmanager
def _without_peft_rename_warning() -> Iterator[None]:
    """peft 0.21 reads a property that transformers 5 renamed; hide that one warning (theirs, not the reader's)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def add_lora(model: Any, r: int = 8, alpha: int = 16, dropout: float = 0.05,
             target_modules: str | list[str] = "all-linear", layers: Sequence[int] | None = None) -> Any:
    """Wrap ``model`` with fresh LoRA adapters (PEFT); only the adapters are trainable.

    ``layers`` limits the adapters to those decoder layers. Adapting only the top layers means the
    backward pass stops there, which roughly halves the time per step on a CPU.

    Taught in notebook 02c.
    """
    require("peft")  # a missing peft names its pip command
    from peft import LoraConfig, get_peft_model

    if layers is not None and target_modules == "all-linear":
        target_modules = LINEAR_MODULES  # peft needs explicit names to combine them with layers
    config = LoraConfig(r=r,  # the rank of the update B @ A added beside each adapted matrix
                        lora_alpha=alpha,  # the update is scaled by alpha / r
                        lora_dropout=dropout,  # dropout on the adapter's input, against overfitting
                        target_modules=target_modules,  # which linear layers get an adapter
                        layers_to_transform=list(layers) if layers is not None else None, task_type="CAUSAL_LM")
    with _without_peft_rename_warning():
        return get_peft_model(model, config)  # freezes every base weight; B starts at zero, so nothing changes yet


def load_adapter(model: Any, folder: str | Path, trainable: bool = False, made_by: str | None = None) -> Any:
    """Attach a LoRA adapter saved with ``save_pretrained(folder)`` to a freshly loaded base model.

    With ``trainable`` the adapter's weights can be trained further, as after ``add_lora``. ``made_by`` names
    the command that writes a shipped adapter, so that a missing one says how to make it.
    """
    require("peft")
    from peft import PeftModel

    if not (Path(folder) / "adapter_config.json").is_file():
        how = f"run {made_by}" if made_by else "save the adapter with model.save_pretrained(folder)"
        raise FileNotFoundError(f"no adapter_config.json in {folder}: {how}")
    with _without_peft_rename_warning():
        loaded = PeftModel.from_pretrained(model, str(folder), is_trainable=trainable)
    loaded.eval()
    return loaded


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts.

    Taught in notebook 02c.
    """
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


@dataclass
class History:
    """Losses recorded during training: one train loss per step, validation loss every few steps.

    Taught in notebook 02c.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds_per_step: float = math.nan
    val_score: list[float] = field(default_factory=list)  # the ``score_fn`` of ``train``, when one was given
    best_step: int | None = None  # the step whose adapter weights were kept (early stopping)


def stop_reason(record: dict[str, Any]) -> str:
    """Why a training run ended, from what it stored: its step budget ``max_steps``, the ``steps_run``, the
    ``best_step`` whose weights were kept (None without validation) and its ``recipe``'s ``patience`` (None:
    no early stopping).

    Taught in notebook 04b.
    """
    budget, ran, best = record["max_steps"], record["steps_run"], record.get("best_step")
    patience = record.get("recipe", {}).get("patience", "unrecorded")
    kept = f"; kept step {best}" + (" (the last)" if best == ran else "") if best is not None else ""
    if ran < budget:
        why = f", after {patience} validations without a better score" if isinstance(patience, int) else ""
        return f"early stop: step {ran} of {budget}{why}{kept}"
    if patience is None or best is None:
        return f"fixed budget: all {budget} steps, no early stopping{kept}"
    return f"budget: all {budget} steps, before early stopping triggered{kept}"


def evaluate_loss(model: Any, examples: Sequence[dict[str, list[int]]], pad_id: int,
                  batch_size: int = 16) -> float:
    """Mean cross-entropy over the completion tokens of ``examples`` (no gradient).

    Taught in notebook 02c.
    """
    import torch

    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start:start + batch_size], pad_id)
            n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
            total += float(model(**batch).loss) * n
            tokens += n
    return total / max(tokens, 1)


def train(model: Any, train_examples: Sequence[dict[str, list[int]]], pad_id: int,
          val_examples: Sequence[dict[str, list[int]]] = (), epochs: float = 1.0, batch_size: int = 8,
          lr: float = 1e-3, eval_every: int = 10, seed: int = 0, progress: bool | None = None,
          steps: int | None = None, schedule: str = "linear", score_fn: Callable[[Any], float] | None = None,
          patience: int | None = None) -> History:
    """A plain AdamW loop over shuffled mini-batches; returns the loss history.

    ``epochs`` may be fractional; ``steps``, when given, sets the number of batches instead. The learning
    rate decays linearly to zero (``schedule="linear"``) or stays fixed (``"constant"``). A progress bar
    shows in a notebook (it is silent when ``TQDM_DISABLE=1``, as in the tests).

    Early stopping: with ``score_fn`` (the model -> a validation score, higher is better) the loop scores
    the model every ``eval_every`` steps, stops once ``patience`` evaluations in a row have not beaten the
    best score (ties go to the lower validation loss), and puts back the trainable weights of the best step.

    Taught in notebook 02c.
    """
    import time

    import torch
    from tqdm.auto import tqdm

    if not train_examples:
        raise ValueError("no training examples")
    if progress is None:
        progress = show_progress()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    steps_per_epoch = math.ceil(len(train_examples) / batch_size)
    total_steps = steps if steps is not None else max(1, round(epochs * steps_per_epoch))
    if total_steps < 1:
        raise ValueError(f"need at least one training step, got steps={steps}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: call add_lora(model) first")
    if schedule not in ("linear", "constant"):
        raise ValueError(f"schedule must be 'linear' or 'constant', got {schedule!r}")
    if patience is not None and (score_fn is None or patience < 1):
        raise ValueError("early stopping needs a score_fn and patience >= 1")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)  # only the adapter weights are optimised
    decay = (lambda s: 1 - s / total_steps) if schedule == "linear" else (lambda s: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    history = History()
    order: list[int] = []
    best: tuple[float, float] | None = None  # (score, -validation loss) of the kept weights
    best_weights: dict[str, Any] = {}
    waited = 0
    started = time.perf_counter()
    for step in tqdm(range(1, total_steps + 1), desc="training", disable=not progress):
        if len(order) < batch_size:  # a new epoch: the examples again, in a new random order
            fresh = list(range(len(train_examples)))
            rng.shuffle(fresh)
            order += fresh
        batch = collate([train_examples[i] for i in order[:batch_size]], pad_id)
        del order[:batch_size]
        model.train()  # dropout on
        loss = model(**batch).loss  # mean cross-entropy of the next token, on the reply tokens only
        loss.backward()  # gradients reach the adapter weights only (the rest is frozen)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        history.steps.append(step)
        history.train_loss.append(float(loss.detach()))
        if (val_examples or score_fn) and (step % eval_every == 0 or step == total_steps):  # time to validate
            history.val_steps.append(step)
            history.val_loss.append(evaluate_loss(model, val_examples, pad_id) if val_examples else math.nan)
            if score_fn is not None:
                history.val_score.append(float(score_fn(model)))
                loss = history.val_loss[-1]
                current = (history.val_score[-1], -loss if not math.isnan(loss) else 0.0)
                if best is None or current > best:
                    best, waited, history.best_step = current, 0, step
                    best_weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
                else:
                    waited += 1
                if patience is not None and waited >= patience:
                    break
    history.seconds_per_step = (time.perf_counter() - started) / len(history.steps)
    if best_weights:  # early stopping: put back the weights of the best validated step
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in best_weights:
                    p.copy_(best_weights[n])
    model.eval()
    return history


def greedy_exact_match(model: Any, examples: Sequence[dict[str, list[int]]], pad_id: int,
                       batch_size: int = 16) -> list[bool]:
    """For each tokenized example: would greedy decoding write exactly its labelled reply?

    It would if, at every reply position, the most likely next token (given the correct reply so
    far) is the labelled one. One forward pass checks that, far faster than generating. The batch
    is padded on the left, as for generation, so that only the last positions need logits.
    """
    import torch

    model.eval()
    out: list[bool] = []
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            width = max(len(e["input_ids"]) for e in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            labels = torch.full((len(chunk), width), IGNORE_INDEX, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, e in enumerate(chunk):
                n = len(e["input_ids"])
                ids[row, width - n:] = torch.tensor(e["input_ids"])
                labels[row, width - n:] = torch.tensor(e["labels"])
                mask[row, width - n:] = 1
            keep = int((labels != IGNORE_INDEX).sum(dim=1).max()) + 1  # reply tokens, plus the one before
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
            predicted, gold = logits[:, :-1].argmax(-1), labels[:, width - keep + 1:]
            out += ((predicted == gold) | (gold == IGNORE_INDEX)).all(dim=1).tolist()
    return out
