"""Approximate nearest-neighbour indexes (FAISS flat, IVF, HNSW, SQ8): build, search, and measure recall and latency (chapter 9)."""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ragft.stats import percentiles


def synthetic_vectors(real: np.ndarray, n: int, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """``n`` synthetic unit vectors near the real ones: a random real vector plus Gaussian noise of
    ``noise`` per dimension, renormalised. They keep the clusters of real text, not its exact geometry."""
    if n < 0 or len(real) == 0:
        raise ValueError("need real vectors and a non-negative n")
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):  # in slices, so that 10^6 vectors need no second copy
        m = min(100_000, n - start)
        block = real[rng.integers(0, len(real), m)] + rng.normal(0, noise, (m, real.shape[1])).astype(np.float32)
        out[start:start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def nlist_for(n: int) -> int:
    """The number of IVF cells: the power of two nearest to sqrt(n) (FAISS's guidance is about sqrt(n) to 16 sqrt(n))."""
    return int(2 ** round(np.log2(max(n, 4) ** 0.5)))


def index_configs(n: int, hnsw_m: Sequence[int] = (16, 32)) -> list[dict[str, Any]]:
    """The index families of the sweep at size ``n``: a FAISS factory string and the search settings to try."""
    nlist = nlist_for(n)
    configs = [{"family": "Flat", "factory": "Flat", "param": None, "values": [None]},
               {"family": "IVF", "factory": f"IVF{nlist},Flat", "param": "nprobe", "values": [1, 4, 16, 64]}]
    configs += [{"family": "HNSW", "factory": f"HNSW{m}", "param": "efSearch", "values": [16, 32, 64, 128]}
                for m in hnsw_m]
    # 48 codes of 8 bits each (48 bytes a vector); below 39 x 256 vectors k-means cannot train 256 centroids, so 4 bits
    bits = 8 if n >= 39 * 256 else 4
    configs += [{"family": "IVFPQ", "factory": f"IVF{nlist},PQ48x{bits}", "param": "nprobe", "values": [4, 16, 64]},
                {"family": "SQ8", "factory": "SQ8", "param": None, "values": [None]}]
    return configs


def exact_neighbours(base: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """The true top-``k`` rows of ``base`` for each query, by inner product (a flat index)."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    return index.search(queries, k)[1]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """The share of the true top-k that the approximate search returned (k = the width of ``truth``).

    Taught in notebook 09.
    """
    if found.shape[0] != truth.shape[0]:
        raise ValueError("found and truth must have one row per query")
    k = truth.shape[1]
    hits = sum(len(set(f[:k].tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / (k * len(truth))


def build_index(factory: str, base: np.ndarray, threads: int = 2, seed: int = 0) -> tuple[Any, float]:
    """A FAISS index from its factory string, trained on (a sample of) ``base`` and filled with it; (index, seconds).

    Taught in notebook 09.
    """
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.index_factory(base.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    started = time.perf_counter()
    if not index.is_trained:
        sample = base
        if len(base) > 100_000:  # k-means on 10^5 points is plenty for 1,024 cells, and keeps the build short
            sample = base[np.random.default_rng(seed).choice(len(base), 100_000, replace=False)]
        index.train(sample)
    index.add(base)
    return index, time.perf_counter() - started


def timed_search(index: Any, queries: np.ndarray, k: int = 10, threads: int = 1) -> tuple[np.ndarray, list[float]]:
    """Search one query per call, as a RAG pipeline does; (ids, milliseconds of each call)."""
    import faiss

    faiss.omp_set_num_threads(threads)
    ids = np.empty((len(queries), k), dtype=np.int64)
    ms = []
    for i in range(len(queries)):
        started = time.perf_counter()
        ids[i] = index.search(queries[i:i + 1], k)[1][0]
        ms.append((time.perf_counter() - started) * 1000)
    return ids, ms


def index_bytes(index: Any) -> int:
    """The size of ``index`` serialised, which is close to what it holds in memory."""
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def sweep_size(base: np.ndarray, queries: np.ndarray, k: int = 10, configs: Sequence[dict] | None = None,
               threads: int = 2) -> list[dict[str, Any]]:
    """Every index family at one size: recall@k against exact search, latency p50/p95, build time, bytes.

    Taught in notebook 09.
    """
    import faiss

    faiss.omp_set_num_threads(threads)
    truth = exact_neighbours(base, queries, k)
    rows = []
    for config in configs if configs is not None else index_configs(len(base)):
        index, build_s = build_index(config["factory"], base, threads=threads)
        size = index_bytes(index)
        for value in config["values"]:
            if config["param"]:
                faiss.ParameterSpace().set_index_parameter(index, config["param"], value)
            found, ms = timed_search(index, queries, k)
            rows.append({"size": len(base), "family": config["family"], "factory": config["factory"],
                         "param": config["param"], "value": value, "recall": round(recall_at_k(found, truth), 4),
                         **percentiles(ms, 3),
                         "build_s": round(build_s, 2), "bytes": size})
        del index
    return rows
