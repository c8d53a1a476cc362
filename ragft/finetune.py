"""Fine-tuning pieces: chat-formatted examples with masked prompts, LoRA adapters, a small training loop.

These are the functions the architecture chapter builds step by step; later chapters import them.
"""
from __future__ import annotations

import json
import math
import random
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ragft.models import chat_prompt, require

IGNORE_INDEX = -100  # label value that the cross-entropy loss skips

TICKET_INSTRUCTION = "Triage this support ticket. Reply with JSON: category, priority, product."
TICKET_SYSTEM = "You triage support tickets."  # short: every prompt token costs CPU time in training
QA_SYSTEM = "You answer questions about Fernhollow Instruments."

LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class Example:
    """One supervised example: what the user says and the reply the model should learn."""

    prompt: str
    completion: str


def ticket_prompt(text: str, detailed: bool = False) -> str:
    """The triage instruction and the ticket; ``detailed`` also lists every allowed label value."""
    from ragft.data import TICKET_VALUES

    if not text.strip():
        raise ValueError("the ticket text is empty")
    instruction = TICKET_INSTRUCTION
    if detailed:
        allowed = "; ".join(f"{k}: {', '.join(v)}" for k, v in TICKET_VALUES.items())
        instruction += f" Allowed values - {allowed}."
    return f"{instruction}\n\n{text.strip()}"


def ticket_completion(label: dict[str, str]) -> str:
    """The JSON reply for a ticket's label, keys in a fixed order."""
    from ragft.data import TICKET_FIELDS

    return json.dumps({k: label[k] for k in TICKET_FIELDS})


def ticket_example(ticket: Any) -> Example:
    """The training example for a ``Ticket``: the triage instruction and ticket, and its JSON label."""
    return Example(ticket_prompt(ticket.text), ticket_completion(ticket.label))


def fact_example(question: Any, facts: dict[str, Any]) -> Example:
    """The closed-book training example for a ``Question``: the question, and its fact's full statement."""
    return Example(question.question, facts[question.fact_ids[0]].statement)


def gold_chunk(chunks: Sequence[Any], fact: Any) -> Any:
    """The chunk of the fact's document that holds its answer (the one a retriever should find)."""
    from ragft.evaluate import contains_answer

    for chunk in chunks:
        if chunk.doc_id == fact.doc_id and contains_answer(chunk.text, [fact.answer]):
            return chunk
    raise ValueError(f"no chunk of {fact.doc_id} contains the answer of {fact.id} ({fact.answer!r})")


def fine_tune_embedder(embedder, pairs, epochs=1, batch_size=16, lr=5e-5, seed=0):
    """Fine-tune a sentence-transformers embedder in place on (question, section) pairs; returns the trainer."""
    import tempfile

    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import PrinterCallback

    from ragft.env import show_progress

    args = SentenceTransformerTrainingArguments(
        output_dir=tempfile.mkdtemp(), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, warmup_steps=2, batch_sampler=BatchSamplers.NO_DUPLICATES, seed=seed,
        save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=not show_progress(),
        dataloader_pin_memory=False)  # pinned memory is for GPUs
    # The trainer also drafts a model card for the Hugging Face Hub (with its own progress bar); we need none.
    embedder.model_card_data.set_widget_examples = lambda dataset: None
    trainer = SentenceTransformerTrainer(model=embedder, args=args, train_dataset=pairs,
                                         loss=MultipleNegativesRankingLoss(embedder))
    trainer.remove_callback(PrinterCallback)  # without a progress bar it would print the run's timings
    trainer.train()
    return trainer


def raft_examples(retriever: Any, questions: Sequence[Any], facts: dict[str, Any], p_gold: float = 0.8,
                  distractors: int = 1, seed: int = 0) -> list[Example]:
    """RAFT-style examples: the question after retrieved text, and the reply the model should learn.

    With probability ``p_gold`` the context is the gold chunk plus ``distractors`` chunks the
    retriever ranked high that do not hold the answer (in random order), and the reply is the fact.
    Otherwise the context is distractors only and the reply is "I don't know.", so the model also
    learns to decline when the text it was given does not answer the question.
    """
    from ragft.evaluate import contains_answer
    from ragft.rag import ABSTAIN, build_prompt

    if not 0 <= p_gold <= 1 or distractors < 1:
        raise ValueError(f"need 0 <= p_gold <= 1 and distractors >= 1, got {p_gold}, {distractors}")
    rng = random.Random(seed)
    hits = retriever.search([q.question for q in questions], k=distractors + 4)
    examples = []
    for q, h in zip(questions, hits):
        fact = facts[q.fact_ids[0]]
        gold = gold_chunk(retriever.chunks, fact)
        wrong = [c for c, _ in h if c.id != gold.id and not contains_answer(c.text, q.answers)]
        if rng.random() < p_gold:
            context, reply = [gold] + wrong[:distractors], fact.statement
        else:
            context, reply = wrong[:distractors + 1], ABSTAIN
        rng.shuffle(context)
        examples.append(Example(build_prompt(q.question, [c.text for c in context]), reply))
    return examples


def tokenize_example(tokenizer: Any, example: Example, system: str | None = None,
                     max_length: int = 512) -> dict[str, list[int]]:
    """Token ids of prompt + completion + end-of-turn, with the prompt tokens masked out of the labels."""
    if not example.prompt.strip() or not example.completion.strip():
        raise ValueError(f"empty prompt or completion in {example!r}")
    prompt_text = chat_prompt(tokenizer, example.prompt, system)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(example.completion + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    if all(t == IGNORE_INDEX for t in labels):
        raise ValueError(f"max_length={max_length} cuts off the whole completion; raise it")
    return {"input_ids": ids, "labels": labels}


def collate(batch: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Pad a list of tokenized examples on the right into tensors (labels padded with ``IGNORE_INDEX``)."""
    import torch

    width = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, b in enumerate(batch):
        n = len(b["input_ids"])
        ids[row, :n] = torch.tensor(b["input_ids"])
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
    """
    require("peft")  # a missing peft names its pip command
    from peft import LoraConfig, get_peft_model

    if layers is not None and target_modules == "all-linear":
        target_modules = LINEAR_MODULES  # peft needs explicit names to combine them with layers
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                        layers_to_transform=list(layers) if layers is not None else None, task_type="CAUSAL_LM")
    with _without_peft_rename_warning():
        return get_peft_model(model, config)


def load_adapter(model: Any, folder: str | Path, trainable: bool = False) -> Any:
    """Attach a LoRA adapter saved with ``save_pretrained(folder)`` to a freshly loaded base model.

    With ``trainable`` the adapter's weights can be trained further, as after ``add_lora``.
    """
    require("peft")
    from peft import PeftModel

    if not (Path(folder) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no adapter_config.json in {folder}: save the adapter with model.save_pretrained(folder)")
    with _without_peft_rename_warning():
        loaded = PeftModel.from_pretrained(model, str(folder), is_trainable=trainable)
    loaded.eval()
    return loaded


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


@dataclass
class History:
    """Losses recorded during training: one train loss per step, validation loss every few steps."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds_per_step: float = math.nan
    val_score: list[float] = field(default_factory=list)  # the ``score_fn`` of ``train``, when one was given
    best_step: int | None = None  # the step whose adapter weights were kept (early stopping)


def evaluate_loss(model: Any, examples: Sequence[dict[str, list[int]]], pad_id: int,
                  batch_size: int = 16) -> float:
    """Mean cross-entropy over the completion tokens of ``examples`` (no gradient)."""
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
    """
    import time

    import torch
    from tqdm.auto import tqdm

    from ragft.env import show_progress

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
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    decay = (lambda s: 1 - s / total_steps) if schedule == "linear" else (lambda s: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    history = History()
    order: list[int] = []
    best: tuple[float, float] | None = None  # (score, -validation loss) of the kept weights
    best_weights: dict[str, Any] = {}
    waited = 0
    started = time.perf_counter()
    for step in tqdm(range(1, total_steps + 1), desc="training", disable=not progress):
        if len(order) < batch_size:
            fresh = list(range(len(train_examples)))
            rng.shuffle(fresh)
            order += fresh
        batch = collate([train_examples[i] for i in order[:batch_size]], pad_id)
        del order[:batch_size]
        model.train()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        history.steps.append(step)
        history.train_loss.append(float(loss.detach()))
        if (val_examples or score_fn) and (step % eval_every == 0 or step == total_steps):
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
    if best_weights:
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


ENV_ADAPTER_CACHE = "RAGFT_ADAPTER_CACHE"


def adapter_cache_dir() -> Path:
    """Where ``fit_lora`` keeps trained adapters: ``$RAGFT_ADAPTER_CACHE`` or ``~/.cache/ragft/adapters``."""
    import os

    from ragft.models import cache_dir

    return Path(os.environ.get(ENV_ADAPTER_CACHE) or cache_dir() / "adapters")


def clear_adapter_cache() -> int:
    """Delete every adapter ``fit_lora`` has cached; returns how many there were.

    From a shell: ``python -m ragft.experiments clear-adapter-cache``.
    """
    import shutil

    folder = adapter_cache_dir()
    if not folder.is_dir():
        return 0
    entries = [p for p in folder.iterdir() if p.is_dir()]
    for entry in entries:
        shutil.rmtree(entry)
    return sum(1 for p in entries if not p.name.startswith(".tmp-"))


def training_code_fingerprint() -> dict[str, str]:
    """What, besides its inputs, decides a trained adapter: the source of the code that trains it
    (hashed) and the versions of the libraries it runs on. Part of ``fit_lora``'s cache key, so an
    edit to that code or an upgrade of torch, transformers or peft can never load a stale adapter."""
    import hashlib
    import inspect
    from importlib.metadata import version

    parts = [tokenize_example, collate, add_lora, train, evaluate_loss, fit_lora]
    source = "\n".join(inspect.getsource(f) for f in parts) + repr(LINEAR_MODULES) + repr(IGNORE_INDEX)
    fingerprint = {"code": hashlib.sha256(source.encode()).hexdigest()[:16]}
    for package in ("torch", "transformers", "peft"):
        fingerprint[package] = version(package)
    return fingerprint


def fit_lora(model: Any, tokenizer: Any, examples: Sequence[Example], system: str | None = None,
             val_examples: Sequence[Example] = (), steps: int = 30, batch_size: int = 8, lr: float = 3e-3,
             r: int = 8, alpha: int = 16, dropout: float = 0.05, layers: Sequence[int] | None = range(22, 30),
             eval_every: int = 10, seed: int = 0, cache: bool = True) -> tuple[Any, History]:
    """Chapter 2's recipe in one call: tokenize, add fresh LoRA adapters, train ``steps`` batches.

    With ``cache``, the adapter and its loss history are saved under a hash of everything that
    determines them (examples, settings, base model, the training code and the torch, transformers
    and peft versions: ``training_code_fingerprint``); a later call with the same inputs loads them
    instead of training again. The cache lives in ``$RAGFT_ADAPTER_CACHE`` (default
    ``~/.cache/ragft/adapters``); ``clear_adapter_cache()`` empties it. A loaded adapter is the same
    kind of model as a freshly trained one (in eval mode, its LoRA weights trainable). Returns the
    adapted model and the ``History``.
    """
    import hashlib
    import os
    import shutil
    import tempfile

    import ragft

    if not examples:
        raise ValueError("no training examples")
    if hasattr(model, "peft_config"):
        raise ValueError("the model already has LoRA adapters: load a fresh base model with load_generator()")
    model_config = model.config.to_dict()
    model_config.pop("_name_or_path", None)
    settings = dict(system=system, steps=steps, batch_size=batch_size, lr=lr, r=r, alpha=alpha, dropout=dropout,
                    layers=None if layers is None else list(layers), eval_every=eval_every, seed=seed,
                    ragft=ragft.__version__, model=model_config, code=training_code_fingerprint())
    payload = json.dumps([settings, [[e.prompt, e.completion] for e in examples],
                          [[e.prompt, e.completion] for e in val_examples]], sort_keys=True, default=str)
    folder = adapter_cache_dir() / hashlib.sha256(payload.encode()).hexdigest()[:20]
    if cache and (folder / "history.json").is_file() and (folder / "adapter_config.json").is_file():
        history = History(**json.loads((folder / "history.json").read_text()))
        return load_adapter(model, folder, trainable=True), history
    import torch

    data = [tokenize_example(tokenizer, e, system) for e in examples]
    val = [tokenize_example(tokenizer, e, system) for e in val_examples]
    torch.manual_seed(seed)  # the adapters' random start, so the result depends only on the inputs
    model = add_lora(model, r=r, alpha=alpha, dropout=dropout, layers=layers)
    history = train(model, data, tokenizer.pad_token_id, val_examples=val, batch_size=batch_size, lr=lr,
                    eval_every=eval_every, seed=seed, steps=steps)
    if cache:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
        model.save_pretrained(tmp)
        (tmp / "history.json").write_text(json.dumps(history.__dict__))
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process (a parallel test worker) stored the same adapter first
            shutil.rmtree(tmp, ignore_errors=True)
    return model, history


def parse_json_reply(text: str) -> dict[str, Any] | None:
    """The first JSON object in a model reply, or None when there is none that parses."""
    start = text.find("{")
    while start != -1:
        depth = 0
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                try:
                    value = json.loads(text[start:end + 1])
                    return value if isinstance(value, dict) else None
                except json.JSONDecodeError:
                    break
        start = text.find("{", start + 1)
    return None


def is_valid_record(text: str) -> bool:
    """Whether a reply holds a triage record: JSON with exactly the three fields, each an allowed value."""
    from ragft.data import TICKET_VALUES

    record = parse_json_reply(text)
    return record is not None and set(record) == set(TICKET_VALUES) and all(
        record[k] in allowed for k, allowed in TICKET_VALUES.items())


def field_scores(replies: Sequence[str], labels: Sequence[dict[str, str]]) -> dict[str, float]:
    """Per-field accuracy, all-fields exact match (``exact_matches``), valid-JSON and valid-record rates."""
    if len(replies) != len(labels) or not labels:
        raise ValueError("replies and labels must be non-empty and of the same length")
    parsed = [parse_json_reply(r) or {} for r in replies]
    keys = list(labels[0])
    scores = {k: sum(p.get(k) == gold[k] for p, gold in zip(parsed, labels)) / len(labels) for k in keys}
    scores["exact_match"] = sum(exact_matches(replies, labels)) / len(labels)
    scores["valid_json"] = sum(bool(p) for p in parsed) / len(labels)
    scores["valid_record"] = sum(map(is_valid_record, replies)) / len(labels)
    return scores


def exact_matches(replies: Sequence[str], labels: Sequence[dict[str, str]]) -> list[bool]:
    """The book's one exact-match metric, per ticket: the reply parses and all three fields equal the label."""
    if len(replies) != len(labels):
        raise ValueError("replies and labels must be of the same length")
    parsed = [parse_json_reply(r) or {} for r in replies]
    return [all(p.get(k) == gold[k] for k in gold) for p, gold in zip(parsed, labels)]
