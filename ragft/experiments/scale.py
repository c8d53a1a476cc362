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

import ragft
from ragft.access import PermissionedRetriever, load_access
from ragft.ann import index_configs, sweep_size, synthetic_vectors
from ragft.chunking import chunk_by_heading
from ragft.data import load_documents, load_questions
from ragft.distributed import launch
from ragft.env import machine
from ragft.evaluate import contains_answer
from ragft.models import cache_dir, chat_prompt, load_embedder, load_generator
from ragft.rag import answer_questions, build_prompt
from ragft.retrieval import Retriever
from ragft.stats import percentiles
from ragft.vectordb import ChromaRetriever, recall_on_vectors, same_ranking, start_server, stop_server

# in this order: the first paragraphs (numpy's) are the queries and the smallest index
CORPUS_PACKAGES = ("numpy", "scipy", "pandas", "sklearn", "matplotlib", "sympy", "networkx", "torch", "transformers")
DISTRIBUTIONS = {"sklearn": "scikit-learn"}  # import name -> distribution name, where they differ
QUERY_EVERY = 10  # every 10th paragraph, from the start, is a query and in no index
N_QUERIES = 200
EMBED_MAX_TOKENS = 128  # word pieces per paragraph (the embedder allows 256; 128 holds most paragraphs whole at twice the speed)
PROSE = re.compile(r"[a-z]{3,} [a-z]{3,} [a-z]{3,}")  # three words in a row: prose, not a code example or a table
from ragft.experiments.results import load_partial, save_stored, stored_path

STORED = stored_path("scale")


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


SIZES = (2_000, 10_000, 100_000)  # real paragraphs
SYNTHETIC_SIZE = 1_000_000  # the 10^5 real vectors plus synthetic ones, labelled as such
LIVE_SIZE = SIZES[0]  # the size the notebook re-runs


def cache_folder() -> Path:
    """Where the corpus and its vectors are kept: ``$RAGFT_CACHE/scale``."""
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


def live_vectors(embedder: Any, size: int = LIVE_SIZE) -> tuple[np.ndarray, np.ndarray, int]:
    """The smallest size of the sweep, embedded from scratch: (index vectors, query vectors, paragraphs read)."""
    need = size + N_QUERIES + size // (QUERY_EVERY - 1) + QUERY_EVERY  # enough paragraphs for the queries and the index
    texts = corpus(need)
    vectors = embed_texts(embedder, texts)
    queries, rows = split_queries(texts)
    return vectors[rows[:size]], vectors[queries], len(texts)


def measure_throughputs(embedder: Any, model: Any, tokenizer: Any, repeats: int = 3) -> dict[str, float]:
    """The rates the cost model needs, measured here: chunks embedded per second (the book's 230 sections),
    prompt tokens read per second (a 3-section RAG prompt), new tokens written per second (greedy, batch 1)."""
    import torch

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

    return load_partial(out)


def _latency_ms(search: Any, questions: Sequence[str]) -> dict[str, float]:
    """p50/p95 milliseconds of one question per call (the query embedding included)."""
    ms = []
    for q in questions:
        started = time.perf_counter()
        search(q)
        ms.append((time.perf_counter() - started) * 1000)
    return percentiles(ms, 2)


def database_experiment(embedder: Any, k: int = 3, live: int | None = None) -> dict[str, Any]:
    """FAISS against Chroma (in process and as a server on loopback) in the book's RAG pipeline: the same
    rankings, the same answers on every test question, latency, and the permission filter inside the engine.
    ``live`` limits the answered questions to the first ``live`` (the notebook's slice)."""
    import tempfile

    chunks = [c for d in load_documents() for c in chunk_by_heading(d)]
    test = load_questions("test")
    questions = [q.question for q in test]
    started = time.perf_counter()
    faiss_retriever = Retriever(embedder, chunks)
    faiss_s = time.perf_counter() - started
    started = time.perf_counter()
    local = ChromaRetriever(embedder, chunks)
    chroma_s = time.perf_counter() - started
    out: dict[str, Any] = {"chunks": len(chunks), "questions": len(test), "k": k,
                           "chromadb": importlib.metadata.version("chromadb"),
                           "index_seconds": {"faiss": round(faiss_s, 2), "chroma": round(chroma_s, 2)}}
    reference = faiss_retriever.search(questions, k=k)
    out["same_ranking_local"] = same_ranking(reference, local.search(questions, k=k))
    with tempfile.TemporaryDirectory() as folder:
        process, client = start_server(folder)
        try:
            remote = ChromaRetriever(embedder, chunks, client=client)
            out["same_ranking_server"] = same_ranking(reference, remote.search(questions, k=k))
            out["latency"] = {"faiss": _latency_ms(lambda q: faiss_retriever.search(q, k=k), questions),
                              "chroma": _latency_ms(lambda q: local.search(q, k=k), questions),
                              "chroma_server": _latency_ms(lambda q: remote.search(q, k=k), questions)}
        finally:
            out["server_exit"] = stop_server(process)
    # answers: RAG as chapter 2 built it (the best section, the plain prompt), on each store
    model, tokenizer = load_generator()
    asked = test[:live] if live else test
    for name, retriever in (("faiss", faiss_retriever), ("chroma", local)):
        replies = answer_questions(retriever, model, tokenizer, [q.question for q in asked], k=1)
        out[f"correct_{name}"] = [contains_answer(a.text, q.answers) for a, q in zip(replies, asked)]
    # permissions: the filter inside Chroma against chapter 8's FAISS selector, for every user and question
    data = load_access()
    access_chunks = [c for d in data.documents for c in chunk_by_heading(d)]
    permissioned = PermissionedRetriever(Retriever(embedder, access_chunks), data.groups, data.users)
    store = ChromaRetriever(embedder, access_chunks, name="with-permissions", groups=data.groups)
    pairs = [(q, u) for q in data.questions for u in sorted(data.users)]
    same, forbidden = [], 0
    for user in sorted(data.users):
        asked_by = [q.question for q, u in pairs if u == user]
        mine = store.search(asked_by, k=k, groups=data.users[user])
        theirs = permissioned.search(asked_by, user, k=k, mode="before")
        same += same_ranking(theirs, mine)
        readable = data.readable(user)
        forbidden += sum(c.doc_id not in readable for hits in mine for c, _ in hits)
    out["permissions"] = {"pairs": len(pairs), "same_as_faiss_filter": same, "forbidden_chunks_returned": forbidden}
    return out


def run(out: Path = STORED, parts: Sequence[str] = PARTS) -> dict[str, Any]:
    """Chapter 9's measurements; each finished part is stored at once, and a rerun redoes only ``parts``."""
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
            save_stored(out, results)
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
        save_stored(out, results)
    if "training" in parts:
        results["training"] = {str(n): launch(n, steps=24) for n in (1, 2)}
        save_stored(out, results)
    if "throughput" in parts:
        model, tokenizer = load_generator()
        results["throughput"] = measure_throughputs(embedder, model, tokenizer)
        save_stored(out, results)
    if "database" in parts:
        results["database"] = database_experiment(embedder)
        if texts:  # Chroma's own HNSW index on real paragraphs, as the FAISS sweep measured FAISS's

            base = vectors[rows[:SIZES[1]]]
            results["database"]["recall"] = [recall_on_vectors(base, vectors[queries], ef_search=ef)
                                             for ef in (None, 400)]
        save_stored(out, results)
    return results
