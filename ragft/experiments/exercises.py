"""The short model runs behind the chapters' exercise solutions: what a worked computation cannot run itself.

A solution's worked computation runs in seconds and loads no model; where its answer needs one, this script
runs it once and stores every number, and the solution loads them with ``load_stored("exercises")``.
``python -m ragft.experiments exercises`` writes ``ragft/results/exercises.json``; each finished part is
stored at once, and ``--parts`` reruns some of them and keeps the others:

- ``overfetch`` (chapter 8, ``rel-ex-overfetch``): the unauthorised (question, user) pairs searched with
  ``k=5`` (and ``k=10``), the permission filter applied after the search or before it;
- ``history`` (chapter 4, ``uc-ex-history``): the dense retriever on follow-up questions with no, the
  previous or every earlier question in front, and after a change of topic;
- ``embedder`` (chapter 6, ``combining-ex-memorise`` and ``combining-ex-hard``): the embedder fine-tuned on
  every fact's pair, on the trained facts' pairs only, and with mined hard negatives; recall per question;
- ``latency`` (chapter 5, ``h2h-ex-latency``): questions per second, closed book and RAG, by batch size;
- ``chunks`` (chapter 3, ``data-ex-chunks``): RAG end to end with heading chunks and fixed word windows.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import ragft
from ragft.access import PermissionedRetriever, load_access, unauthorised_pairs
from ragft.chunking import Chunk, chunk_by_heading, chunk_fixed
from ragft.data import Question, load_conversations, load_documents, load_questions
from ragft.embedder_tuning import embedder_pairs, fine_tune_embedder
from ragft.evaluate import contains_answer, retrieval_scores
from ragft.finetune import QA_SYSTEM
from ragft.headtohead import build_retriever, load_setup
from ragft.models import ANSWER_TOKENS, chat_prompt, generate, load_embedder, load_generator
from ragft.rag import Reader, answer_questions, condense_question
from ragft.retrieval import Retriever
from ragft.experiments.results import check_parts, load_partial, load_stored, store_parts, stored_path

STORED = stored_path("exercises")
PARTS = ("overfetch", "history", "embedder", "latency", "chunks")
OVERFETCH_KS = (5, 10)  # chunks searched before the filter drops what the user may not read
MINE_K = 10  # hard negatives: the first wrong section among the shipped embedder's top 10
LATENCY_QUESTIONS = 32  # the first test questions of chapter 5's split
BATCH_SIZES = (1, 4, 16)
LATENCY_REPEATS = 2  # each setting timed twice; the faster counts, as in chapter 5's latency split
# data-ex-chunks: the chunking strategies compared end to end (chunk_fixed's size and overlap in words)
CHUNKINGS: dict[str, Callable[[Any], list[Chunk]]] = {
    "heading": chunk_by_heading, "fixed 80": lambda d: chunk_fixed(d, 80, 20),
    "fixed 160": lambda d: chunk_fixed(d, 160, 40)}


def overfetch_part(embedder: Any) -> dict[str, Any]:
    """Per unauthorised pair: how many chunks the user may read each search returns, filtered after or before."""
    data = load_access()
    pr = PermissionedRetriever.from_access(embedder, data)
    pairs = unauthorised_pairs(data)
    out: dict[str, Any] = {"question": [q.id for q, _ in pairs], "user": [u for _, u in pairs], "k": {}}
    first = [pr.search(q.question, u, k=1, mode="before")[0][0].id for q, u in pairs]
    for k in OVERFETCH_KS:
        after = [pr.search(q.question, u, k=k, mode="after") for q, u in pairs]
        before = [pr.search(q.question, u, k=k, mode="before") for q, u in pairs]
        out["k"][str(k)] = {"after_count": [len(h) for h in after], "after_empty": [not h for h in after],
                            "before_count": [len(h) for h in before],
                            # over-fetching's first readable chunk is the filtered search's first chunk
                            "after_first_is_before_first": [bool(h) and h[0][0].id == f for h, f in zip(after, first)]}
        print(f"overfetch k={k}: after the search, no section for {sum(out['k'][str(k)]['after_empty'])} "
              f"of {len(pairs)} unauthorised pairs", flush=True)
    return out


def history_part(embedder: Any) -> dict[str, Any]:
    """Right document first with the dense retriever: follow-ups with no, the previous or all earlier
    questions in front; and the opening question of the next conversation after two of the previous one."""
    retriever = Retriever(embedder, [c for d in load_documents() for c in chunk_by_heading(d)])
    conversations = load_conversations()
    follow_ups = [([t.question for t in c.turns[:i]], c.turns[i])
                  for c in conversations for i in range(1, len(c.turns))]
    switches = [([t.question for t in a.turns[:2]], b.turns[0])
                for a, b in zip(conversations, conversations[1:] + conversations[:1])]

    def first_right(queries: list[str], turns: Sequence[Question]) -> list[bool]:
        return [h[0][0].doc_id in t.doc_ids for h, t in zip(retriever.search(queries, k=1), turns)]

    def compared(cases: list[tuple[list[str], Question]]) -> dict[str, list[bool]]:
        turns = [t for _, t in cases]
        return {"alone": first_right([t.question for t in turns], turns),
                "previous": first_right([condense_question(t.question, h) for h, t in cases], turns),
                "all earlier": first_right([condense_question(t.question, [" ".join(h)]) for h, t in cases], turns)}

    out = {"follow_ups": {"turn": [len(h) + 1 for h, _ in follow_ups], **compared(follow_ups)},
           "switches": compared(switches)}
    print("history: right document first on the follow-ups, " + ", ".join(
        f"{k} {sum(v)}/{len(v)}" for k, v in out["follow_ups"].items() if k != "turn"), flush=True)
    return out


def hard_negatives(retriever: Retriever, pairs: dict[str, list[str]], questions: Sequence[Question]
                   ) -> tuple[list[str], list[int]]:
    """Per pair, the shipped retriever's highest-ranked section that is not the gold one and does not hold
    the answer (RAFT's rule for distractors), and its rank."""
    by_text = {q.question: q for q in questions}
    negatives, ranks = [], []
    for hits, question, section in zip(retriever.search(pairs["question"], k=MINE_K), pairs["question"],
                                       pairs["section"]):
        rank, chunk = next((r, c) for r, (c, _) in enumerate(hits, 1)
                           if c.text != section and not contains_answer(c.text, by_text[question].answers))
        negatives.append(chunk.text)
        ranks.append(rank)
    return negatives, ranks


def per_question(retriever: Retriever, test: Sequence[Question]) -> dict[str, list[int]]:
    """``retrieval_scores`` question by question (1 or 0 each), so that two embedders can be paired."""
    vectors = retriever.embed([q.question for q in test])
    scores = [retrieval_scores(retriever, [q], k=3, query_vectors=vectors[i:i + 1]) for i, q in enumerate(test)]
    return {name: [int(s[name]) for s in scores] for name in scores[0]}


def embedder_part(embedder: Any) -> dict[str, Any]:
    """Chapter 6's fine-tune three ways (every fact's pair, the trained facts' pairs only, and with a mined
    hard negative per pair), each scored per test question beside the shipped ``embedder``, which stays as
    it is: each fine-tune starts from a fresh copy."""
    from datasets import Dataset

    chunks = [c for d in load_documents() for c in chunk_by_heading(d)]
    train, test = load_questions("train"), load_questions("test")
    trained = set(load_setup().trained_ids)
    shipped = Retriever(embedder, chunks)
    pairs = embedder_pairs(chunks, train)
    negatives, ranks = hard_negatives(shipped, pairs, train)
    variants = {"all facts": pairs,
                "trained facts": embedder_pairs(chunks, [q for q in train if q.fact_ids[0] in trained]),
                "hard negatives": {**pairs, "negative": negatives}}
    out: dict[str, Any] = {"questions": [q.id for q in test], "negative_rank": ranks,
                           "systems": {"shipped": per_question(shipped, test)}}
    for name, columns in variants.items():
        ragft.set_seed(0)
        tuned = load_embedder()
        started = time.perf_counter()
        trainer = fine_tune_embedder(tuned, Dataset.from_dict(columns))
        seconds = round(time.perf_counter() - started, 1)
        scores = per_question(Retriever(tuned, chunks), test)
        out["systems"][name] = {"pairs": len(columns["question"]), "steps": trainer.state.global_step,
                                "training_seconds": seconds, **scores}
        print(f"embedder, {name}: {len(columns['question'])} pairs, {trainer.state.global_step} steps in {seconds} s; "
              f"recall@1 {sum(scores['recall@1'])}/{len(test)}", flush=True)
    return out


def latency_part(model: Any, tokenizer: Any, embedder: Any) -> dict[str, Any]:
    """Questions per second, closed book (the bare question) and RAG (chapter 5's reader), by batch size;
    every reply is exactly ``ANSWER_TOKENS`` tokens long, so only the prompts differ. The fastest of
    ``LATENCY_REPEATS`` timings counts."""
    stored = load_stored("head_to_head")["rag_config"]  # chapter 5's validated RAG configuration
    reader = Reader(build_retriever(embedder, load_documents(), stored["hybrid"]),
                    **{k: stored[k] for k in ("k", "sentences", "instructed")})
    questions = [q.question for q in load_setup().test[:LATENCY_QUESTIONS]]
    started = time.perf_counter()
    rag_prompts = reader.prompts(questions)[0]
    retrieval = time.perf_counter() - started
    systems = {"closed book": (questions, QA_SYSTEM), "rag": (rag_prompts, reader.system)}
    for prompts, system in systems.values():  # warm up: the first call of a shape is slower
        generate(model, tokenizer, prompts[:1], max_new_tokens=ANSWER_TOKENS, system=system)
    tokens = {name: [len(tokenizer(chat_prompt(tokenizer, p, system), add_special_tokens=False)["input_ids"])
                     for p in prompts] for name, (prompts, system) in systems.items()}
    out: dict[str, Any] = {"questions": len(questions), "new_tokens": ANSWER_TOKENS, "reader": stored["name"],
                           "repeats": LATENCY_REPEATS, "retrieval_seconds": round(retrieval, 2),
                           "prompt_tokens": tokens, "generate_seconds": {name: {} for name in systems}}
    # the settings take turns, so that a slow spell of the machine falls on no one setting alone
    for _ in range(LATENCY_REPEATS):
        for b in BATCH_SIZES:
            for name, (prompts, system) in systems.items():
                started = time.perf_counter()
                generate(model, tokenizer, prompts, max_new_tokens=ANSWER_TOKENS, min_new_tokens=ANSWER_TOKENS,
                         system=system, batch_size=b)
                seconds = time.perf_counter() - started
                best = min(seconds, out["generate_seconds"][name].get(str(b), seconds))
                out["generate_seconds"][name][str(b)] = round(best, 2)
                print(f"latency, {name}, batch {b}: {len(prompts) / seconds:.2f} questions/s", flush=True)
    return out


def chunks_part(model: Any, tokenizer: Any, embedder: Any) -> dict[str, Any]:
    """RAG end to end (one chunk, plain layout) on every test question, for each way of cutting the documents."""
    docs, test = load_documents(), load_questions("test")
    out: dict[str, Any] = {"questions": [q.id for q in test], "k": 1, "layout": "plain", "strategies": {}}
    for name, cut in CHUNKINGS.items():
        started = time.perf_counter()
        chunks = [c for d in docs for c in cut(d)]
        retriever = Retriever(embedder, chunks)
        hits = retriever.search([q.question for q in test], k=1)
        answers = answer_questions(retriever, model, tokenizer, [q.question for q in test], k=1)
        out["strategies"][name] = {
            "chunks": len(chunks), "mean_words": round(sum(len(c.text.split()) for c in chunks) / len(chunks), 1),
            "in_prompt": [int(contains_answer(h[0][0].text, q.answers)) for h, q in zip(hits, test)],
            "correct": [int(contains_answer(a.text, q.answers)) for a, q in zip(answers, test)],
            "seconds": round(time.perf_counter() - started, 1)}
        print(f"chunks, {name}: {sum(out['strategies'][name]['correct'])} of {len(test)} answered", flush=True)
    return out


def run(out: Path = STORED, parts: Sequence[str] = PARTS) -> dict[str, Any]:
    """Run ``parts`` and write them into ``out``, keeping the stored results of the other parts."""
    check_parts(parts, PARTS)
    results: dict[str, Any] = load_partial(out)
    ragft.set_seed(0)
    embedder = load_embedder()
    needs_generator = {"latency", "chunks"} & set(parts)
    model, tokenizer = load_generator() if needs_generator else (None, None)
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "overfetch": lambda: overfetch_part(embedder),
        "history": lambda: history_part(embedder),
        "embedder": lambda: embedder_part(embedder),
        "latency": lambda: latency_part(model, tokenizer, embedder),
        "chunks": lambda: chunks_part(model, tokenizer, embedder)}
    return store_parts(out, results, parts, PARTS, steps, before_each=lambda: ragft.set_seed(0))
