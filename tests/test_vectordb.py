"""Chapter 9's vector database: Chroma in the RAG pipeline, in process and as a server the test starts and stops."""
import json

import pytest

from ragft import vectordb
from ragft.chunking import chunk_by_heading
from ragft.data import load_documents, load_questions
from ragft.retrieval import Retriever


@pytest.fixture(scope="module")
def chunks():
    return [c for d in load_documents() for c in chunk_by_heading(d)]


def test_chroma_ranks_the_book_sections_exactly_as_faiss_does(embedder, chunks):
    questions = [q.question for q in load_questions("test")[:60]]
    faiss_hits = Retriever(embedder, chunks).search(questions, k=3)
    chroma_hits = vectordb.ChromaRetriever(embedder, chunks).search(questions, k=3)
    assert all(vectordb.same_ranking(faiss_hits, chroma_hits))
    # the scores are the same cosines, up to float32 rounding inside the engine
    for f, c in zip(faiss_hits, chroma_hits):
        assert [s for _, s in f] == pytest.approx([s for _, s in c], abs=1e-4)


def test_a_single_question_and_no_questions_behave_as_in_retriever(embedder, chunks):
    store = vectordb.ChromaRetriever(embedder, chunks[:20])
    one = store.search("What does the CG-4 sensor measure?", k=2)
    assert len(one) == 2 and all(isinstance(s, float) for _, s in one)
    assert store.search([], k=2) == []
    with pytest.raises(ValueError, match="no chunks"):
        vectordb.ChromaRetriever(embedder, [])


def test_the_group_filter_runs_inside_the_engine_and_deletion_removes_chunks(embedder, chunks):
    docs = sorted({c.doc_id for c in chunks})
    secret = docs[0]
    groups = {secret: ("internal",)}
    store = vectordb.ChromaRetriever(embedder, chunks, name="filtered", groups=groups)
    question = next(c.text for c in chunks if c.doc_id == secret)[:200]
    assert store.search(question, k=1)[0][0].doc_id == secret  # unfiltered, its own text finds it
    public = store.search(question, k=5, groups=["public"])
    assert len(public) == 5 and secret not in {c.doc_id for c, _ in public}
    staff = store.search(question, k=1, groups=["public", "internal"])
    assert staff[0][0].doc_id == secret
    removed = store.delete([secret])
    assert removed == sum(c.doc_id == secret for c in chunks) and removed > 0
    assert secret not in {c.doc_id for c, _ in store.search(question, k=5)}


def test_the_same_client_code_talks_to_a_chroma_server_on_loopback(embedder, chunks, tmp_path):
    process, client = vectordb.start_server(tmp_path / "chroma")
    try:
        remote = vectordb.ChromaRetriever(embedder, chunks, client=client)
        questions = [q.question for q in load_questions("test")[:20]]
        assert all(vectordb.same_ranking(Retriever(embedder, chunks).search(questions, k=3),
                                         remote.search(questions, k=3)))
    finally:
        code = vectordb.stop_server(process)
    assert process.poll() is not None, f"the server is still running (exit code {code})"


def test_stored_database_run_equals_faiss_on_every_test_question():
    from ragft.experiments.scale import STORED

    stored = json.loads(STORED.read_text())["database"]
    assert stored["questions"] == len(load_questions("test")) == len(stored["correct_faiss"])
    assert all(stored["same_ranking_local"]) and all(stored["same_ranking_server"])
    assert stored["correct_faiss"] == stored["correct_chroma"]
    assert stored["permissions"]["forbidden_chunks_returned"] == 0
