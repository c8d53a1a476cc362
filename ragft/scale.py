"""Vector search at scale (chapter 9): a real text corpus, FAISS index families, recall against exact search.

The corpus is the API documentation that ships inside Python packages the book already installs: every
docstring of ``CORPUS_PACKAGES``, split into paragraphs, prose only, each paragraph kept once. With the
pinned versions of ``requirements.txt`` it holds a little over 10^5 paragraphs. The licences are those of
the packages (BSD-3 for numpy, scipy, pandas, scikit-learn, networkx, sympy and torch; matplotlib's
PSF-style licence; Apache-2.0 for transformers); nothing of the text or its vectors is committed: the
script embeds it once and caches the vectors under ``$RAGFT_CACHE/scale``.

``python -m ragft.experiments scale`` runs the sweep and stores every measurement in
``ragft/results/scale.json``; the chapter's notebook plots that file and re-runs the smallest size live.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import re
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

# in this order: the first paragraphs (numpy's) are the queries and the smallest index
CORPUS_PACKAGES = ("numpy", "scipy", "pandas", "sklearn", "matplotlib", "sympy", "networkx", "torch", "transformers")
DISTRIBUTIONS = {"sklearn": "scikit-learn"}  # import name -> distribution name, where they differ
QUERY_EVERY = 10  # every 10th paragraph, from the start, is a query and in no index
N_QUERIES = 200
EMBED_MAX_TOKENS = 128  # word pieces per paragraph (the embedder allows 256; 128 holds most paragraphs whole at twice the speed)
PROSE = re.compile(r"[a-z]{3,} [a-z]{3,} [a-z]{3,}")  # three words in a row: prose, not a code example or a table


def paragraphs(packages: Sequence[str] = CORPUS_PACKAGES, min_words: int = 8) -> Iterator[str]:
    """Every prose paragraph of every docstring in ``packages``, in a fixed order, each distinct paragraph once."""
    seen: set[str] = set()
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"the corpus needs the package {package!r}: pip install {DISTRIBUTIONS.get(package, package)}")
        for path in sorted(Path(spec.origin).parent.rglob("*.py")):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue  # a test fixture that is not valid Python, or not UTF-8: not documentation
            for node in ast.walk(tree):
                if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                doc = ast.get_docstring(node)
                for para in re.split(r"\n\s*\n", doc or ""):
                    text = " ".join(para.split())
                    if len(text.split()) >= min_words and PROSE.search(text) and text not in seen:
                        seen.add(text)
                        yield text


def corpus_versions(packages: Sequence[str] = CORPUS_PACKAGES) -> dict[str, str]:
    """The installed version of each corpus package (the corpus is only the same where these are)."""
    return {p: importlib.metadata.version(DISTRIBUTIONS.get(p, p)) for p in packages}


def split_queries(texts: Sequence[str], n_queries: int = N_QUERIES, every: int = QUERY_EVERY) -> tuple[list[int], list[int]]:
    """(query rows, corpus rows): every ``every``-th paragraph from the start is a query until there are
    ``n_queries``; all other paragraphs, in order, form the corpus (an index of size n takes the first n)."""
    if n_queries < 1 or every < 2:
        raise ValueError("need at least one query, and every >= 2")
    queries = [i for i in range(every - 1, len(texts), every)][:n_queries]
    if len(queries) < n_queries:
        raise ValueError(f"{len(texts)} paragraphs give only {len(queries)} queries; {n_queries} wanted")
    held = set(queries)
    return queries, [i for i in range(len(texts)) if i not in held]


def embed_texts(embedder: Any, texts: Sequence[str], batch_size: int = 64, progress: bool = False,
                max_tokens: int = EMBED_MAX_TOKENS) -> np.ndarray:
    """Unit-length float32 vectors of ``texts``, each read up to its first ``max_tokens`` word pieces."""
    kept, embedder.max_seq_length = embedder.max_seq_length, max_tokens
    try:
        return np.asarray(embedder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                          show_progress_bar=progress, convert_to_numpy=True), dtype=np.float32)
    finally:
        embedder.max_seq_length = kept


def cached_vectors(embedder: Any, texts: Sequence[str], folder: Path, progress: bool = False) -> np.ndarray:
    """The vectors of ``texts``, embedded once and kept in ``folder`` under a hash of the texts."""
    key = hashlib.sha256(("\n".join(texts) + f"|{EMBED_MAX_TOKENS}").encode()).hexdigest()[:16]
    path = Path(folder) / f"vectors-{len(texts)}-{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = embed_texts(embedder, texts, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors


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
    """The share of the true top-k that the approximate search returned (k = the width of ``truth``)."""
    if found.shape[0] != truth.shape[0]:
        raise ValueError("found and truth must have one row per query")
    k = truth.shape[1]
    hits = sum(len(set(f[:k].tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / (k * len(truth))


def build_index(factory: str, base: np.ndarray, threads: int = 2, seed: int = 0) -> tuple[Any, float]:
    """A FAISS index from its factory string, trained on (a sample of) ``base`` and filled with it; (index, seconds)."""
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
    """Every index family at one size: recall@k against exact search, latency p50/p95, build time, bytes."""
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
                         "p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
                         "build_s": round(build_s, 2), "bytes": size})
        del index
    return rows


STORED = Path(__file__).parent / "results" / "scale.json"
SIZES = (2_000, 10_000, 100_000)  # real paragraphs
SYNTHETIC_SIZE = 1_000_000  # the 10^5 real vectors plus synthetic ones, labelled as such
LIVE_SIZE = SIZES[0]  # the size the notebook re-runs


def cache_folder() -> Path:
    """Where the corpus and its vectors are kept: ``$RAGFT_CACHE/scale``."""
    from ragft.models import cache_dir

    return cache_dir() / "scale"


def corpus(n: int | None = None, packages: Sequence[str] = CORPUS_PACKAGES) -> list[str]:
    """The first ``n`` paragraphs of the corpus (all of them when ``n`` is None)."""
    out = []
    for text in paragraphs(packages):
        out.append(text)
        if n is not None and len(out) >= n:
            break
    return out


def corpus_and_vectors(embedder: Any, n: int | None = None, progress: bool = False) -> tuple[list[str], np.ndarray]:
    """The first ``n`` paragraphs (all when None) and their vectors, cached in ``cache_folder()``."""
    texts = corpus(n)
    return texts, cached_vectors(embedder, texts, cache_folder(), progress=progress)


def live_check(embedder: Any, size: int = LIVE_SIZE, k: int = 10) -> tuple[list[dict[str, Any]], int]:
    """The smallest size of the sweep, re-run from scratch: (rows as ``sweep_size`` gives them, paragraphs embedded)."""
    need = size + N_QUERIES + size // (QUERY_EVERY - 1) + QUERY_EVERY  # enough paragraphs for the queries and the index
    texts = corpus(need)
    vectors = embed_texts(embedder, texts)
    queries, rows = split_queries(texts)
    return sweep_size(vectors[rows[:size]], vectors[queries], k), len(texts)


def measure_throughputs(embedder: Any, model: Any, tokenizer: Any, repeats: int = 3) -> dict[str, float]:
    """The rates the cost model needs, measured here: chunks embedded per second (the book's 230 sections),
    prompt tokens read per second (a 3-section RAG prompt), new tokens written per second (greedy, batch 1)."""
    import torch

    from ragft.data import load_documents, load_questions
    from ragft.models import chat_prompt
    from ragft.rag import build_prompt, chunk_by_heading

    chunks = [c.text for d in load_documents() for c in chunk_by_heading(d)]
    embedder.encode(chunks[:32])  # warm-up
    embed_s = min(_timed(lambda: embed_texts(embedder, chunks, batch_size=64)) for _ in range(repeats))
    question = load_questions("test")[0].question
    prompt = tokenizer(chat_prompt(tokenizer, build_prompt(question, chunks[:3])), return_tensors="pt")
    with torch.no_grad():
        prefill_s = min(_timed(lambda: model(**prompt)) for _ in range(repeats))
        new = 64
        generate_s = min(_timed(lambda: model.generate(**prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                                       pad_token_id=tokenizer.pad_token_id)) for _ in range(repeats))
    prompt_tokens = int(prompt["input_ids"].shape[1])
    return {"chunks": len(chunks), "embed_chunks_per_s": round(len(chunks) / embed_s, 1),
            "prompt_tokens": prompt_tokens, "prefill_tokens_per_s": round(prompt_tokens / prefill_s, 1),
            "new_tokens": new, "generate_tokens_per_s": round(new / max(generate_s - prefill_s, 1e-9), 1)}


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


PARTS = ("index", "synthetic", "training", "throughput", "database")
SYNTHETIC_NOISE = 0.03  # per dimension: a synthetic vector keeps a cosine of about 0.86 with its real parent
SYNTHETIC_QUERIES = 200  # exact single-query search over 10^6 vectors is slow; 200 queries bound the run


def _load(out: Path) -> dict[str, Any]:
    import json

    return json.loads(Path(out).read_text()) if Path(out).is_file() else {}


def run(out: Path = STORED, parts: Sequence[str] = PARTS) -> dict[str, Any]:
    """Chapter 9's measurements; each finished part is stored at once, and a rerun redoes only ``parts``."""
    import ragft
    from ragft.env import machine, write_json_atomically
    from ragft.models import load_embedder, load_generator

    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose among {PARTS}")
    ragft.set_seed(0)
    results = _load(out)
    results.update({"versions": ragft.versions(), "machine": machine()})
    embedder = load_embedder()
    texts: list[str] = []
    if "index" in parts or "synthetic" in parts:
        texts, vectors = corpus_and_vectors(embedder, progress=True)
        queries, rows = split_queries(texts)
        results["corpus"] = {"packages": corpus_versions(), "paragraphs": len(texts), "queries": len(queries),
                             "query_every": QUERY_EVERY, "search_threads": 1, "build_threads": 2, "k": 10}
    if "index" in parts:
        results["index"] = []
        for size in SIZES:
            started = time.perf_counter()
            results["index"] += [{**row, "data": "real"} for row in sweep_size(vectors[rows[:size]], vectors[queries])]
            print(f"index sweep at {size:,}: {time.perf_counter() - started:.0f} s", flush=True)
            write_json_atomically(out, results)
    if "synthetic" in parts:
        real = vectors[rows[:SIZES[-1]]]
        base = np.concatenate([real, synthetic_vectors(real, SYNTHETIC_SIZE - len(real), SYNTHETIC_NOISE)])
        configs = index_configs(len(base), hnsw_m=(16,))
        started = time.perf_counter()
        found = sweep_size(base, vectors[queries[:SYNTHETIC_QUERIES]], configs=configs)
        results["synthetic"] = {"real": len(real), "synthetic": len(base) - len(real), "noise": SYNTHETIC_NOISE,
                                "queries": SYNTHETIC_QUERIES, "rows": [{**r, "data": "real + synthetic"} for r in found]}
        print(f"index sweep at {len(base):,}: {time.perf_counter() - started:.0f} s", flush=True)
        del base
        write_json_atomically(out, results)
    if "training" in parts:
        from ragft.distributed import launch

        results["training"] = {str(n): launch(n, steps=24) for n in (1, 2)}
        write_json_atomically(out, results)
    if "throughput" in parts:
        model, tokenizer = load_generator()
        results["throughput"] = measure_throughputs(embedder, model, tokenizer)
        write_json_atomically(out, results)
    if "database" in parts:
        from ragft.vectordb import database_experiment

        results["database"] = database_experiment(embedder)
        if texts:  # Chroma's own HNSW index on real paragraphs, as the FAISS sweep measured FAISS's
            from ragft.vectordb import recall_on_vectors

            base = vectors[rows[:SIZES[1]]]
            results["database"]["recall"] = [recall_on_vectors(base, vectors[queries], ef_search=ef)
                                             for ef in (None, 400)]
        write_json_atomically(out, results)
    return results
