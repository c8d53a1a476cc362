"""RAFT's training examples: a question after retrieved sentences, answered from them or declined (taught in notebook 06)."""
from __future__ import annotations

import random
from typing import Any, Sequence

from ragft.chunking import split_sentences
from ragft.data import Fact, Question
from ragft.evaluate import contains_answer
from ragft.finetune import Example
from ragft.rag import ABSTAIN, Reader, build_prompt


def raft_examples(reader: Reader, questions: Sequence[Question], facts: dict[str, Fact], p_gold: float = 0.8,
                  seed: int = 0) -> list[Any]:
    """RAFT examples in the reader's own prompt: the retrieved sentences, then the question.

    With probability ``p_gold`` the context holds the sentence that states the fact (put in place of the
    least similar sentence if retrieval missed it) and the target is the short answer; otherwise every
    sentence that holds the answer is removed (whole sections of the fact's document are skipped) and
    the target is "I don't know.", so that the model learns to decline when the text does not say.

    Taught in notebook 05.
    """
    if not 0 <= p_gold <= 1:
        raise ValueError(f"need 0 <= p_gold <= 1, got {p_gold}")
    if reader.selector is None:
        raise ValueError("RAFT examples need a reader that selects sentences")
    rng = random.Random(seed)
    hits = reader.retriever.search([q.question for q in questions], k=reader.k + 3)
    by_doc: dict[str, list[Any]] = {}
    for c in reader.retriever.chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    examples = []
    for q, h in zip(questions, hits):
        fact = facts[q.fact_ids[0]]
        if rng.random() < p_gold:
            contexts = reader.selector.contexts(q.question, [c for c, _ in h[:reader.k]])
            if not any(contains_answer(c, q.answers) for c in contexts):
                gold = next(c for c in by_doc[fact.doc_id] if contains_answer(c.text, [fact.answer]))
                parts = split_sentences(gold.text)
                sentence = next(p for p in parts[1:] if contains_answer(p, [fact.answer]))
                contexts = contexts[:-1] + [f"{parts[0]}\n{sentence}"]
                rng.shuffle(contexts)
            target = fact.answer
        else:
            others = [c for c, _ in h if c.doc_id != fact.doc_id and not contains_answer(c.text, q.answers)]
            contexts, target = reader.selector.contexts(q.question, others[:reader.k]), ABSTAIN
        examples.append(Example(build_prompt(q.question, contexts), target))
    return examples
