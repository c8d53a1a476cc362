"""The reader side of RAG: the prompt, the pipeline that answers from retrieved text, the abstention
threshold, follow-up questions, and ``Reader`` (one configuration of what to retrieve and how to ask).

``build_prompt``, ``answer_questions`` and ``abstention_threshold`` are taught in notebook 02a, ``Reader`` in 05.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ragft.models import ANSWER_TOKENS, generate
from ragft.retrieval import Retriever, Searcher, normalize_question
from ragft.security import delimited_prompt
from ragft.selection import SentenceSelector

ABSTAIN = "I don't know."
READER_SYSTEM = ("Answer the question from the text you are given, with the words of the text. "
                 "If the text does not say, reply: I don't know.")

LAYOUTS = ("plain", "numbered", "question-first", "delimited")


def build_prompt(question: str, contexts: Sequence[str], layout: str = "plain") -> str:
    """Put the retrieved text before (or, for ``question-first``, after) the question.

    ``delimited`` (chapter 8) first says that text between ``<document>`` tags is reference data that may
    hold instructions not to follow, then puts each context between the tags, with any look-alike of
    the tags inside it neutralised (``ragft.security.neutralise_delimiters``), then asks the question.

    Taught in notebook 02a.
    """
    question = normalize_question(question)
    if layout == "delimited":
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
    """What the RAG system says, the documents it read, and whether it abstained.

    Taught in notebook 02a.
    """

    question: str
    text: str
    sources: tuple[str, ...]
    score: float
    abstained: bool


def answer_questions(retriever: Retriever, model: Any, tokenizer: Any, questions: Sequence[str], k: int = 1,
                     threshold: float | None = None, layout: str = "plain", max_new_tokens: int = ANSWER_TOKENS,
                     batch_size: int = 16) -> list[Answer]:
    """Retrieve, then generate from the top-``k`` chunks; abstain when the best cosine is below ``threshold``.

    One ``Answer`` per question, in order; no questions give an empty list (like ``Retriever.search``).

    Taught in notebook 02a.
    """
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
    """The cosine below which only ``1 - answer_rate`` of answerable questions fall (chosen on train).

    Taught in notebook 02a.
    """
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


class Reader:
    """One RAG configuration: how many sections to retrieve, what of them to show, and how to ask.

    Taught in notebook 05.
    """

    def __init__(self, retriever: Searcher, k: int = 1, sentences: int | None = None, instructed: bool = False) -> None:
        self.retriever, self.k, self.instructed = retriever, k, instructed
        self.selector = SentenceSelector(retriever, sentences) if sentences else None
        self.settings = dict(k=k, sentences=sentences, instructed=instructed)

    def with_retriever(self, retriever: Searcher) -> "Reader":
        """The same configuration over another index (after an update)."""
        return Reader(retriever, **self.settings)

    def prompts(self, questions: Sequence[str]) -> tuple[list[str], list[float], list[list[str]]]:
        """Per question: the prompt, the top retrieval cosine, and the retrieved chunk ids."""
        hits = self.retriever.search(list(questions), k=self.k)
        prompts = []
        for q, h in zip(questions, hits):
            chunks = [c for c, _ in h]
            contexts = self.selector.contexts(q, chunks) if self.selector else [c.text for c in chunks]
            prompts.append(build_prompt(q, contexts))
        return prompts, [round(h[0][1], 4) for h in hits], [[c.id for c, _ in h] for h in hits]

    @property
    def system(self) -> str | None:
        return READER_SYSTEM if self.instructed else None
