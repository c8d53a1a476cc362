"""The book's RAG pipeline on a vector database (chapter 9): Chroma, embedded or as a server on loopback.

``ChromaRetriever`` is a drop-in for ``ragft.retrieval.Retriever``: the same chunks, the same embedder, and a
``search`` that returns the same ``(chunk, cosine)`` pairs, so ``answer_questions`` runs on it unchanged.
The vectors live in a Chroma collection instead of an in-memory FAISS index. The client decides where
that collection is: ``chromadb.EphemeralClient()`` in this process (as the notebook uses it),
``chromadb.PersistentClient(path)`` on disk, or ``chromadb.HttpClient(host, port)`` on a Chroma server,
which is what a team runs in production; ``start_server`` runs one on loopback for the tests.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ragft.ann import exact_neighbours, recall_at_k
from ragft.chunking import Chunk
from ragft.retrieval import Hit, Retriever, normalize_question
from ragft.stats import percentiles

CHROMA_INSTALL = "pip install chromadb==1.5.9"


def chroma() -> Any:
    """The chromadb module, or an error that names its pip command."""
    try:
        import chromadb
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"chapter 9's vector database needs chromadb: {CHROMA_INSTALL}") from error
    return chromadb


def settings() -> Any:
    """Client settings: no usage statistics sent anywhere (the book runs offline)."""
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def local_client() -> Any:
    """A Chroma client whose collections live in this process's memory."""
    return chroma().EphemeralClient(settings=settings())


class ChromaRetriever:
    """Dense retrieval with the vectors in a Chroma collection; ``search`` behaves like ``Retriever.search``.

    Each chunk is stored with its row number as id, its document id, and the groups that may read it
    (``groups`` maps document ids to groups; a document without an entry is ``public``), so that a
    search can be limited to what a user may read with ``where``, before the ranking, inside the engine.

    Taught in notebook 09.
    """

    def __init__(self, embedder: Any, chunks: Sequence[Chunk], client: Any = None, name: str = "knowledge-base",
                 groups: Mapping[str, Sequence[str]] | None = None, batch_size: int = 64) -> None:
        if not chunks:
            raise ValueError("no chunks to index: check that the document folder holds text")
        self.embedder, self.chunks = embedder, list(chunks)
        self.client = client if client is not None else local_client()
        if name in [c.name for c in self.client.list_collections()]:
            self.client.delete_collection(name)  # a fresh collection: no vectors left over from an earlier run
        # inner product on unit vectors is the cosine, as in the FAISS index; no embedding function of
        # Chroma's own: the book's embedder computes every vector
        self.collection = self.client.create_collection(name, embedding_function=None,
                                                        configuration={"hnsw": {"space": "ip"}})
        vectors = self.embed([c.text for c in self.chunks], batch_size)
        groups = groups or {}
        step = self.client.get_max_batch_size()
        for start in range(0, len(self.chunks), step):
            part = range(start, min(start + step, len(self.chunks)))
            self.collection.add(ids=[str(i) for i in part], embeddings=vectors[part.start:part.stop],
                                metadatas=[{"doc_id": self.chunks[i].doc_id,  # one true flag per group that may read it
                                            **{f"group:{g}": True for g in groups.get(self.chunks[i].doc_id, ("public",))}}
                                           for i in part])

    embed = Retriever.embed  # the same unit-length vectors as the FAISS pipeline's

    def search(self, questions: str | Sequence[str], k: int = 3, groups: Sequence[str] | None = None) -> list[Hit] | list[list[Hit]]:
        """Top-``k`` ``(chunk, cosine)`` pairs for one question, or a list of them for several; with ``groups``,
        only chunks that one of those groups may read (the filter runs inside the engine, before the ranking)."""
        single = isinstance(questions, str)
        qs = [normalize_question(q) for q in ([questions] if single else questions)]
        if not qs:
            return []
        where = _where(groups)
        found = self.collection.query(query_embeddings=self.embed(qs), n_results=min(k, len(self.chunks)),
                                      where=where, include=["distances"])
        hits = [[(self.chunks[int(i)], round(1.0 - float(d), 6)) for i, d in zip(ids, dist)]
                for ids, dist in zip(found["ids"], found["distances"])]  # Chroma's "ip" distance is 1 - inner product
        return hits[0] if single else hits

    def delete(self, doc_ids: Sequence[str]) -> int:
        """Remove every chunk of ``doc_ids`` from the collection; returns how many chunks went."""
        gone = [str(i) for i, c in enumerate(self.chunks) if c.doc_id in set(doc_ids)]
        if gone:
            self.collection.delete(ids=gone)
        return len(gone)


def _where(groups: Sequence[str] | None) -> dict[str, Any] | None:
    """Chroma's metadata filter for "readable by one of ``groups``" (None: no filter).

    Taught in notebook 09.
    """
    if not groups:
        return None
    clauses = [{f"group:{g}": True} for g in groups]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(path: str | Path, port: int | None = None, timeout: float = 60) -> tuple[subprocess.Popen, Any]:
    """Run ``chroma run`` on loopback with its data in ``path``; return (the server process, a client of it).

    Stop it with ``stop_server(process)``. The client is a ``chromadb.HttpClient``: the same code that a
    product points at its Chroma server or cluster.
    """
    module = chroma()
    port = port or free_port()
    exe = Path(sys.executable).with_name("chroma")
    cmd = [str(exe), "run"] if exe.is_file() else [sys.executable, "-m", "chromadb.cli.cli", "run"]
    Path(path).mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(cmd + ["--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    started = time.perf_counter()
    while True:
        try:
            client = module.HttpClient(host="127.0.0.1", port=port, settings=settings())
            client.heartbeat()
            return process, client
        except Exception:  # not listening yet
            if process.poll() is not None or time.perf_counter() - started > timeout:
                process.kill()
                raise RuntimeError(f"the Chroma server did not start on port {port} within {timeout:.0f} s")
            time.sleep(0.1)


def stop_server(process: subprocess.Popen, timeout: float = 30) -> int:
    """Stop a server started by ``start_server``; returns its exit code."""
    process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def same_ranking(a: Sequence[Sequence[Hit]], b: Sequence[Sequence[Hit]]) -> list[bool]:
    """Per question: whether two retrievers returned the same chunks in the same order."""
    return [[(c.doc_id, c.text) for c, _ in x] == [(c.doc_id, c.text) for c, _ in y] for x, y in zip(a, b)]


def recall_on_vectors(base: np.ndarray, queries: np.ndarray, k: int = 10, ef_search: int | None = None) -> dict[str, Any]:
    """Chroma's recall@k against exact search on ``base`` (its HNSW index with the default or the given
    ``ef_search``), with the insert time and the latency of one query per call."""
    client = local_client()
    hnsw = {"space": "ip", **({"ef_search": ef_search} if ef_search else {})}
    collection = client.create_collection(f"recall-{len(base)}-{ef_search}", embedding_function=None,
                                          configuration={"hnsw": hnsw})
    started = time.perf_counter()
    step = client.get_max_batch_size()
    for i in range(0, len(base), step):
        collection.add(ids=[str(j) for j in range(i, min(i + step, len(base)))], embeddings=base[i:i + step])
    insert_s = time.perf_counter() - started
    found, ms = [], []
    for q in queries:
        started = time.perf_counter()
        found.append([int(i) for i in collection.query(query_embeddings=[q], n_results=k, include=[])["ids"][0]])
        ms.append((time.perf_counter() - started) * 1000)
    truth = exact_neighbours(base, queries, k)
    return {"size": len(base), "ef_search": ef_search or collection.configuration_json["hnsw"]["ef_search"],
            "recall": round(recall_at_k(np.array(found), truth), 4), "insert_s": round(insert_s, 2),
            **percentiles(ms, 2)}
