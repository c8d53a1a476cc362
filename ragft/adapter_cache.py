"""The adapter cache: ``fit_lora`` trains chapter 2's recipe in one call and keeps the result under a hash of
everything that decides it, so that a second notebook asking for the same adapter loads it in a second."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import ragft
from ragft.finetune import (
    IGNORE_INDEX,
    LINEAR_MODULES,
    Example,
    History,
    add_lora,
    collate,
    evaluate_loss,
    load_adapter,
    tokenize_example,
    train,
)
from ragft.models import cache_dir

ENV_ADAPTER_CACHE = "RAGFT_ADAPTER_CACHE"


def adapter_cache_dir() -> Path:
    """Where ``fit_lora`` keeps trained adapters: ``$RAGFT_ADAPTER_CACHE`` or ``~/.cache/ragft/adapters``."""
    import os

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
