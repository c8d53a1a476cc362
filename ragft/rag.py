"""Retrieval pieces: cut documents into chunks, embed them into a FAISS index, search it.

These are the functions the architecture chapter builds step by step; later chapters import them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ragft.data import Document
from ragft.models import require


@dataclass(frozen=True)
class Chunk:
    """A piece of a document that is embedded and retrieved as one unit."""

    id: str
    doc_id: str
    text: str


MAX_CHUNK_WORDS = 150  # about 210 word pieces, inside the embedder's 256; every section of the book is shorter


def chunk_by_heading(doc: Document, title: bool = True, max_words: int | None = MAX_CHUNK_WORDS) -> list[Chunk]:
    """One chunk per ``##`` section; with ``title`` each starts with the document title, so it stands alone.

    A section longer than ``max_words`` words (a plain-text file without headings, say) is cut at
    paragraphs, then sentences, then words (``split_long``), each piece under the section's heading
    line, with ids ``doc#i.1``, ``doc#i.2``, ... ``max_words=None`` keeps every section whole.
    """
    if max_words is not None and max_words < 10:
        raise ValueError(f"need max_words >= 10 (or None for no limit), got {max_words}")
    parts = re.split(r"\n(?=## )", doc.text.strip())
    chunks = []
    for i, part in enumerate(p.strip() for p in parts):
        heading = i > 0 or part.startswith("# ") or part.startswith("## ")
        if i == 0 and part.startswith("# "):
            part = part[2:].strip()  # the introduction, under the document title
        elif part.startswith("## "):
            part = f"{doc.title}: {part[3:].strip()}" if title else part[3:].strip()
        if not part:
            continue
        if max_words is None or len(part.split()) <= max_words:
            chunks.append(Chunk(f"{doc.id}#{i}", doc.id, part))
            continue
        if heading:  # the heading line goes in front of every piece
            header, _, body = part.partition("\n")
        else:  # text without headings: its pieces are put under the document title
            header, body = (doc.title if title else ""), part
        pieces = split_long(body, max(max_words - len(header.split()), max_words // 2))
        for j, piece in enumerate(pieces, 1):
            text = piece if not header or (j == 1 and not heading) else f"{header}\n\n{piece}"
            chunks.append(Chunk(f"{doc.id}#{i}.{j}", doc.id, text))
    return chunks


def split_long(text: str, max_words: int) -> list[str]:
    """Pieces of at most ``max_words`` words: whole paragraphs where they fit, else sentences, else runs of words."""
    units: list[tuple[str, bool]] = []  # (text, starts a paragraph)
    for para in re.split(r"\n\s*\n", text.strip()):
        if len(para.split()) <= max_words:
            units.append((para.strip(), True))
            continue
        first = True
        for sentence in SENTENCE_END.split(para):
            words = sentence.split()
            for s in range(0, len(words), max_words):
                units.append((" ".join(words[s:s + max_words]), first))
                first = False
    pieces, current, n = [], "", 0
    for unit, new_paragraph in units:
        w = len(unit.split())
        if not w:
            continue
        if current and n + w > max_words:
            pieces.append(current)
            current, n = "", 0
        current = unit if not current else current + ("\n\n" if new_paragraph else " ") + unit
        n += w
    return pieces + [current] if current else pieces


def chunk_fixed(doc: Document, size: int = 80, overlap: int = 20) -> list[Chunk]:
    """Windows of ``size`` words that overlap by ``overlap`` words."""
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"need size > 0 and 0 <= overlap < size, got size={size}, overlap={overlap}")
    words = doc.text.split()
    starts = range(0, max(len(words) - overlap, 1), size - overlap)
    return [Chunk(f"{doc.id}@{s}", doc.id, " ".join(words[s:s + size])) for s in starts]


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n{2,}")


def chunk_by_sentence(doc: Document, sentences: int = 3) -> list[Chunk]:
    """Runs of ``sentences`` consecutive sentences (Markdown headings and blank lines also end a sentence)."""
    if sentences <= 0:
        raise ValueError(f"need sentences > 0, got {sentences}")
    text = re.sub(r"^#+ ", "", doc.text.strip(), flags=re.M)
    parts = [" ".join(p.split()) for p in SENTENCE_END.split(text) if p.strip()]
    return [Chunk(f"{doc.id}~{i}", doc.id, " ".join(parts[i:i + sentences]))
            for i in range(0, len(parts), sentences)]


def normalize_question(question: str) -> str:
    """The question with surrounding and repeated whitespace removed; empty questions are refused."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError("the question is empty: ask something")
    return " ".join(question.split())


class Retriever:
    """Dense retrieval: chunks embedded once, stored in a FAISS inner-product index."""

    def __init__(self, embedder: Any, chunks: Sequence[Chunk], batch_size: int = 64,
                 show_progress_bar: bool | None = None) -> None:
        faiss = require("faiss")

        from ragft.env import show_progress

        if show_progress_bar is None:
            show_progress_bar = show_progress()
        if not chunks:
            raise ValueError("no chunks to index: check that the document folder holds text")
        self.embedder, self.chunks = embedder, list(chunks)
        vectors = self.embed([c.text for c in self.chunks], batch_size, show_progress_bar)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def subset(self, doc_ids: Sequence[str]) -> "Retriever":
        """A retriever over the chunks of ``doc_ids`` only, reusing the stored vectors (nothing is re-embedded)."""
        faiss = require("faiss")

        keep = set(doc_ids)
        rows = [i for i, c in enumerate(self.chunks) if c.doc_id in keep]
        if not rows:
            raise ValueError("none of these documents is in the index")
        vectors = self.index.reconstruct_n(0, self.index.ntotal)[rows]
        new = object.__new__(Retriever)
        new.embedder, new.chunks = self.embedder, [self.chunks[i] for i in rows]
        new.index = faiss.IndexFlatIP(vectors.shape[1])
        new.index.add(vectors)
        return new

    def update(self, chunks: Sequence[Chunk]) -> "Retriever":
        """A retriever where every document that ``chunks`` come from is replaced by those chunks.

        Only the new chunks are embedded; the vectors of all other documents are reused. This is how
        a RAG system absorbs an edited document: re-chunk it, re-embed it, swap it in.
        """
        faiss = require("faiss")

        if not chunks:
            raise ValueError("no chunks given: pass the new chunks of the changed documents")
        changed = {c.doc_id for c in chunks}
        rows = [i for i, c in enumerate(self.chunks) if c.doc_id not in changed]
        kept = self.index.reconstruct_n(0, self.index.ntotal)[rows]
        new = object.__new__(Retriever)
        new.embedder, new.chunks = self.embedder, [self.chunks[i] for i in rows] + list(chunks)
        new.index = faiss.IndexFlatIP(kept.shape[1])
        new.index.add(np.concatenate([kept, self.embed([c.text for c in chunks])]))
        return new

    def embed(self, texts: Sequence[str], batch_size: int = 64, show_progress_bar: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, so that the inner product is the cosine similarity."""
        from ragft.models import embed

        return embed(self.embedder, texts, batch_size, show_progress_bar)

    def search(self, questions: str | Sequence[str], k: int = 3) -> Any:
        """Top-``k`` ``(chunk, cosine)`` pairs for one question, or a list of them for several (``[]`` for none)."""
        single = isinstance(questions, str)
        qs = [normalize_question(q) for q in ([questions] if single else questions)]
        if not qs:
            return []
        k = min(k, len(self.chunks))
        scores, ids = self.index.search(self.embed(qs), k)
        hits = [[(self.chunks[i], float(s)) for s, i in zip(row_s, row_i)] for row_s, row_i in zip(scores, ids)]
        return hits[0] if single else hits


WORD = re.compile(r"[a-z0-9]+(?:[.\-/][a-z0-9]+)*")  # keeps "cg-4", "2.4", "v3.2.1" and "er26500" whole


def bm25_tokens(text: str) -> list[str]:
    """Lower-case words for BM25, with product codes and version numbers kept as one token."""
    return WORD.findall(text.lower())


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    """Items ordered by the sum of ``1 / (k + rank)`` over the rankings (Cormack et al., 2009)."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            score[item] = score.get(item, 0.0) + 1 / (k + rank)
    return sorted(score, key=lambda i: (-score[i], i))


class HybridRetriever:
    """Dense ranking and BM25 keyword ranking (the ``bm25s`` library), fused by reciprocal rank fusion.

    Questions full of product codes and version numbers are where keywords help a small embedder.
    ``search`` returns ``(chunk, cosine)`` pairs like ``Retriever``; the cosine is the dense score.
    """

    def __init__(self, dense: Retriever, rrf_k: int = 60) -> None:
        bm25s = require("bm25s")

        self.dense, self.chunks, self.rrf_k = dense, dense.chunks, rrf_k
        self.bm25 = bm25s.BM25()
        self.bm25.index([bm25_tokens(c.text) for c in self.chunks], show_progress=False)

    def embed(self, texts: Sequence[str], batch_size: int = 64, show_progress_bar: bool = False) -> np.ndarray:
        return self.dense.embed(texts, batch_size, show_progress_bar)

    def search(self, questions: str | Sequence[str], k: int = 3) -> Any:
        single = isinstance(questions, str)
        qs = [normalize_question(q) for q in ([questions] if single else questions)]
        n = len(self.chunks)
        dense = self.dense.search(qs, k=n)
        index = {c.id: i for i, c in enumerate(self.chunks)}
        hits = []
        for q, ranked in zip(qs, dense):
            cosine = {index[c.id]: s for c, s in ranked}
            keyword = np.argsort(-self.bm25.get_scores(bm25_tokens(q)), kind="stable")
            fused = reciprocal_rank_fusion([[index[c.id] for c, _ in ranked], keyword.tolist()], self.rrf_k)
            hits.append([(self.chunks[i], cosine[i]) for i in fused[:k]])
        return hits[0] if single else hits

    def update(self, chunks: Sequence[Chunk]) -> "HybridRetriever":
        """The dense index updated as ``Retriever.update`` does; the keyword index is rebuilt (it is cheap)."""
        return HybridRetriever(self.dense.update(chunks), self.rrf_k)


def split_sentences(text: str) -> list[str]:
    """The sentences of a chunk (a line on its own, such as a heading, counts as one)."""
    return [" ".join(p.split()) for p in SENTENCE_END.split(text.replace("\n", "\n\n")) if p.strip()]


class SentenceSelector:
    """Keep only the ``n`` sentences of the retrieved chunks most similar to the question.

    A small model reads a short context better than a whole section. Each kept sentence stays with
    its chunk's first line (the document and section title), so that "the cell lasts 31 months"
    still says which product it is about. Sentence vectors are computed once per chunk and reused.
    """

    def __init__(self, retriever: Any, n: int = 3) -> None:
        if n < 1:
            raise ValueError(f"need n >= 1 sentences, got {n}")
        self.retriever, self.n = retriever, n
        self._cache: dict[str, tuple[list[str], np.ndarray]] = {}

    def _sentences(self, chunk: Chunk) -> tuple[list[str], np.ndarray]:
        if chunk.text not in self._cache:
            parts = split_sentences(chunk.text)
            self._cache[chunk.text] = (parts, self.retriever.embed(parts))
        return self._cache[chunk.text]

    def contexts(self, question: str, chunks: Sequence[Chunk]) -> list[str]:
        """One context per chunk that keeps a sentence: its title line, then its kept sentences in order."""
        q = self.retriever.embed([normalize_question(question)])[0]
        scored = []
        for c, chunk in enumerate(chunks):
            parts, vectors = self._sentences(chunk)
            scored += [(float(v @ q), c, i) for i, v in enumerate(vectors) if i > 0 or len(parts) == 1]
        keep = sorted((c, i) for _, c, i in sorted(scored, reverse=True)[:self.n])
        out = []
        for c in dict.fromkeys(c for c, _ in keep):
            parts = self._sentences(chunks[c])[0]
            body = " ".join(parts[i] for cc, i in keep if cc == c)
            out.append(f"{parts[0]}\n{body}" if len(parts) > 1 else body)
        return out


def retrieval_scores(retriever: Retriever, questions: Sequence[Any], k: int = 3,
                     query_vectors: np.ndarray | None = None) -> dict[str, float]:
    """Recall@1 and recall@k over distinct documents, and how often the answer text is inside the top-k chunks.

    Pass ``query_vectors`` (from ``retriever.embed``) to score many retrievers without re-embedding the questions.
    """
    from ragft.evaluate import contains_answer

    if not questions:
        raise ValueError("no questions to score")
    vectors = retriever.embed([q.question for q in questions]) if query_vectors is None else query_vectors
    _, ids = retriever.index.search(vectors, min(len(retriever.chunks), 10 * k))
    docs = [list(dict.fromkeys(retriever.chunks[i].doc_id for i in row)) for row in ids]
    gold = [q.doc_ids for q in questions]
    found = [contains_answer(" ".join(retriever.chunks[i].text for i in row[:k]), q.answers)
             for row, q in zip(ids, questions)]
    return {"recall@1": recall_at_k(docs, gold, 1), f"recall@{k}": recall_at_k(docs, gold, k),
            f"answer in top-{k} chunks": sum(found) / len(found)}


def distinct_docs(hits: Sequence[tuple[Chunk, float]]) -> list[str]:
    """Document ids in the order their first chunk was retrieved (each document once)."""
    return list(dict.fromkeys(c.doc_id for c, _ in hits))


def recall_at_k(retrieved: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], k: int) -> float:
    """Share of questions with at least one gold document among the first ``k`` retrieved ids."""
    if len(retrieved) != len(gold) or not gold:
        raise ValueError("retrieved and gold must be non-empty and of the same length")
    return sum(bool(set(r[:k]) & set(g)) for r, g in zip(retrieved, gold)) / len(gold)


def mean_reciprocal_rank(retrieved: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> float:
    """Mean of 1/rank of the first gold document (0 when none is retrieved)."""
    if len(retrieved) != len(gold) or not gold:
        raise ValueError("retrieved and gold must be non-empty and of the same length")
    total = 0.0
    for r, g in zip(retrieved, gold):
        total += next((1 / rank for rank, d in enumerate(r, 1) if d in set(g)), 0.0)
    return total / len(gold)


ABSTAIN = "I don't know."
READER_SYSTEM = ("Answer the question from the text you are given, with the words of the text. "
                 "If the text does not say, reply: I don't know.")

LAYOUTS = ("plain", "numbered", "question-first", "delimited")


def build_prompt(question: str, contexts: Sequence[str], layout: str = "plain") -> str:
    """Put the retrieved text before (or, for ``question-first``, after) the question.

    ``delimited`` (chapter 8) first says that text between ``<document>`` tags is reference data that may
    hold instructions not to follow, then puts each context between the tags, with any look-alike of
    the tags inside it neutralised (``ragft.security.neutralise_delimiters``), then asks the question.
    """
    question = normalize_question(question)
    if layout == "delimited":
        from ragft.security import delimited_prompt

        return delimited_prompt(question, contexts)
    if layout == "plain":
        return "\n\n".join(contexts) + f"\n\nUsing the text above, answer briefly: {question}"
    if layout == "numbered":
        numbered = "\n\n".join(f"[{i}] {c}" for i, c in enumerate(contexts, 1))
        return f"{numbered}\n\nUsing the texts above, answer briefly: {question}"
    if layout == "question-first":
        return f"Question: {question}\n\nText:\n" + "\n\n".join(contexts) + "\n\nAnswer the question briefly."
    raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")


@dataclass(frozen=True)
class Answer:
    """What the RAG system says, the documents it read, and whether it abstained."""

    question: str
    text: str
    sources: tuple[str, ...]
    score: float
    abstained: bool


def answer_questions(retriever: Retriever, model: Any, tokenizer: Any, questions: Sequence[str], k: int = 1,
                     threshold: float | None = None, layout: str = "plain", max_new_tokens: int = 32,
                     batch_size: int = 16) -> list[Answer]:
    """Retrieve, then generate from the top-``k`` chunks; abstain when the best cosine is below ``threshold``.

    One ``Answer`` per question, in order; no questions give an empty list (like ``Retriever.search``).
    """
    from ragft.models import generate

    if isinstance(questions, str):
        raise TypeError("questions must be a list of strings: for one question pass [question]")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    questions = list(questions)
    if not questions:
        return []
    hits = retriever.search(questions, k=k)
    keep = [i for i, h in enumerate(hits) if threshold is None or h[0][1] >= threshold]
    prompts = [build_prompt(questions[i], [c.text for c, _ in hits[i]], layout) for i in keep]
    texts = dict(zip(keep, generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                    batch_size=batch_size) if prompts else []))
    answers = []
    for i, (q, h) in enumerate(zip(questions, hits)):
        sources = tuple(dict.fromkeys(c.doc_id for c, _ in h))
        answers.append(Answer(q, texts.get(i, ABSTAIN), sources, round(h[0][1], 4), i not in texts))
    return answers


def abstention_threshold(scores: Sequence[float], answer_rate: float = 0.95) -> float:
    """The cosine below which only ``1 - answer_rate`` of answerable questions fall (chosen on train)."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0 or not 0 < answer_rate <= 1:
        raise ValueError("need at least one score and 0 < answer_rate <= 1")
    return float(np.quantile(values, 1 - answer_rate))


def condense_question(question: str | Sequence[str], history: Sequence[str] | Sequence[Sequence[str]],
                      model: Any = None, tokenizer: Any = None) -> str | list[str]:
    """A follow-up question made to stand alone before retrieval.

    Without a model, the previous user question is put in front of the follow-up (cheap and
    predictable). With a model, the model is asked to rewrite the follow-up as one full question.
    A list of follow-ups, each with its own history, is rewritten in batches (one model call).
    """
    from ragft.models import generate

    if not isinstance(question, str):
        questions, histories = list(question), list(history)
        if len(questions) != len(histories):
            raise ValueError(f"{len(questions)} follow-ups but {len(histories)} histories: give one history each")
        out = [normalize_question(q) if not h or model is None else None for q, h in zip(questions, histories)]
        for i, (q, h) in enumerate(zip(questions, histories)):
            if h and model is None:
                out[i] = f"{h[-1]} {normalize_question(q)}"
        ask = [i for i, o in enumerate(out) if o is None]
        if ask:
            replies = generate(model, tokenizer, [_condense_prompt(questions[i], histories[i]) for i in ask],
                               max_new_tokens=40)
            for i, reply in zip(ask, replies):
                out[i] = reply.split("\n")[0].strip() or normalize_question(questions[i])
        return out
    question = normalize_question(question)
    if not history:
        return question
    if model is None:
        return f"{history[-1]} {question}"
    rewritten = generate(model, tokenizer, _condense_prompt(question, history), max_new_tokens=40).split("\n")[0].strip()
    return rewritten or question


def _condense_prompt(question: str, history: Sequence[str]) -> str:
    return ("Rewrite the follow-up question so that it can be understood without the conversation. "
            f"Reply with the question only.\n\nEarlier question: {history[-1]}\nFollow-up question: "
            f"{normalize_question(question)}")


def summary_prompt(topic: str, contexts: Sequence[str]) -> str:
    """Ask for a short summary of the retrieved texts about ``topic``, using only what they say."""
    topic = normalize_question(topic)
    return ("\n\n".join(contexts) + f"\n\nSummarise in two or three sentences what the text above says about "
            f"{topic}. Use only facts from the text.")
