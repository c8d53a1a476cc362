"""Chapter 9: the corpus, the FAISS index sweep, and LoRA training on two processes through accelerate."""
import json

import numpy as np
import pytest

from ragft import ann
from ragft.experiments import scale as scale_experiment


def unit(rng, n, d=32):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_recall_at_k_counts_the_true_neighbours_found():
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, 9], [5, 6, 7, 8]])
    # 2 of 4 in the first row, 4 of 4 in the second: 6 of 8
    assert ann.recall_at_k(found, truth) == 0.75
    with pytest.raises(ValueError, match="one row per query"):
        ann.recall_at_k(found[:1], truth)


def test_split_queries_holds_every_tenth_paragraph_out_of_the_corpus():
    queries, rows = scale_experiment.split_queries([f"p{i}" for i in range(100)], n_queries=5, every=10)
    assert queries == [9, 19, 29, 39, 49]
    assert rows[:10] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert not set(queries) & set(rows) and len(queries) + len(rows) == 100
    with pytest.raises(ValueError, match="only 10 queries"):
        scale_experiment.split_queries([f"p{i}" for i in range(100)], n_queries=11, every=10)


def test_nlist_is_the_power_of_two_nearest_the_square_root():
    # sqrt: 70.7, 141, 316, 1000 -> 2^6.1, 2^7.1, 2^8.3, 2^9.97
    assert [ann.nlist_for(n) for n in (5_000, 20_000, 100_000, 1_000_000)] == [64, 128, 256, 1024]


def test_synthetic_vectors_are_unit_length_and_stay_near_a_real_parent():
    rng = np.random.default_rng(1)
    real = unit(rng, 50, 384)
    fake = ann.synthetic_vectors(real, 300, noise=0.03)
    assert fake.shape == (300, 384) and fake.dtype == np.float32
    assert np.allclose(np.linalg.norm(fake, axis=1), 1, atol=1e-5)
    # noise of 0.03 per dimension has a norm of about 0.03 * sqrt(384) = 0.59: cosine to the parent about 0.86
    nearest = (fake @ real.T).max(axis=1)
    assert 0.8 < nearest.mean() < 0.9
    with pytest.raises(ValueError):
        ann.synthetic_vectors(real[:0], 3)


def test_sweep_finds_exact_search_exact_and_approximate_search_close():
    rng = np.random.default_rng(0)
    base, queries = unit(rng, 3_000), unit(rng, 40)
    configs = [{"family": "Flat", "factory": "Flat", "param": None, "values": [None]},
               {"family": "HNSW", "factory": "HNSW16", "param": "efSearch", "values": [8, 256]},
               {"family": "IVF", "factory": "IVF16,Flat", "param": "nprobe", "values": [1, 16]}]
    rows = {(r["family"], r["value"]): r for r in ann.sweep_size(base, queries, k=10, configs=configs)}
    assert rows[("Flat", None)]["recall"] == 1.0
    assert rows[("IVF", 16)]["recall"] == 1.0  # every cell probed: exhaustive
    assert rows[("IVF", 1)]["recall"] < 0.9  # one of 16 cells misses neighbours
    assert rows[("HNSW", 256)]["recall"] >= rows[("HNSW", 8)]["recall"]
    assert rows[("Flat", None)]["bytes"] >= 3_000 * 32 * 4
    assert rows[("HNSW", 8)]["bytes"] > rows[("Flat", None)]["bytes"]  # the graph's links cost memory
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 for r in rows.values())


def test_paragraphs_are_prose_distinct_and_in_a_fixed_order():
    first = scale_experiment.corpus(200, packages=("numpy",))
    assert first == scale_experiment.corpus(200, packages=("numpy",))
    assert len(set(first)) == 200
    assert all(len(p.split()) >= 8 and scale_experiment.PROSE.search(p) for p in first)
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        scale_experiment.corpus(1, packages=("no_such_package_here",))


def test_stored_results_hold_every_family_at_three_real_sizes_and_the_synthetic_extension():
    stored = json.loads(scale_experiment.STORED.read_text())
    sizes = {r["size"] for r in stored["index"] if r["data"] == "real"}
    assert sizes == set(scale_experiment.SIZES) and max(sizes) >= 100_000
    for size in sizes:
        assert {r["family"] for r in stored["index"] if r["size"] == size} == {"Flat", "IVF", "HNSW", "IVFPQ", "SQ8"}
    assert all(r["recall"] == 1.0 for r in stored["index"] if r["family"] == "Flat")
    assert stored["synthetic"]["rows"][0]["size"] == scale_experiment.SYNTHETIC_SIZE
    assert stored["corpus"]["paragraphs"] > 100_000 and stored["machine"]["cpus"]


def test_lora_training_on_two_processes_keeps_the_copies_equal():
    """The distributed path for real: torch's launcher starts two processes, accelerate joins them over
    gloo, each trains on half of every batch, and the averaged gradients keep both copies the same."""
    from ragft.distributed import launch

    result = launch(processes=2, steps=3, batch_size=4)
    assert result["processes"] == 2 and result["backend"] == "gloo" and result["device"].startswith("cpu")
    assert result["steps"] == 3 and len(result["loss"]) == 3
    assert result["examples_per_step"] == [4, 4, 4]  # the global batch, split in two, not doubled
    first, second = result["weight_sums"]
    assert first == pytest.approx(second, rel=1e-6)
    assert result["threads_per_process"] == 1  # two processes share this machine's two cores


def test_launch_rejects_a_batch_that_does_not_split_and_says_so():
    from ragft.distributed import launch

    with pytest.raises(RuntimeError, match="must divide evenly"):
        launch(processes=2, steps=1, batch_size=3)
    with pytest.raises(ValueError, match="at least one"):
        launch(processes=0)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a GPU (runs where one is present)")
def test_the_same_training_runs_on_a_gpu_in_mixed_precision():
    from ragft.distributed import launch

    result = launch(processes=1, steps=3, batch_size=4)
    assert result["device"].startswith("cuda") and result["mixed_precision"] in ("bf16", "no")
    assert all(np.isfinite(result["loss"]))
