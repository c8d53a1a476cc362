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
