"""Chapter 5's experiment: five systems, every held-out question, each system at its fair best.

``python -m ragft.experiments head-to-head`` runs it (hours on two CPU cores; resumable: every finished
unit is stored in ``ragft/results/head_to_head.json`` at once, and a rerun skips what is stored). The
chapter's notebooks compute their tables from that file and re-run a slice live.

The five systems:

- ``base``: the instruction model alone, closed book;
- ``rag``: the same model reading retrieved text (retrieval, context and prompt tuned on validation);
- ``finetuned``: a LoRA adapter trained on the training paraphrases of the facts, closed book;
- ``rag+finetuned``: that adapter, reading retrieved text as ``rag`` does;
- ``raft``: an adapter trained to read (RAFT): questions after retrieved sentences, with the short
  answer as target, or "I don't know." when the sentences do not hold it.

The split, fixed for every system: one fact in five is held out of all training (*unseen* facts); of
the three training paraphrases of every other fact, two are trained on and one is *validation*
(with the third paraphrase of the unseen facts). Every choice (RAG configuration, training step,
confidence threshold) is made on validation; the 255 test, 61 unanswerable and 33 update questions
are only ever scored.
"""
from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

SYSTEMS = ("base", "rag", "finetuned", "rag+finetuned", "raft")
READS = ("rag", "rag+finetuned", "raft")  # the systems that read retrieved text
TRAINED = {"finetuned": "closed-book", "rag+finetuned": "closed-book", "raft": "raft"}
SEEDS = (0, 1, 2)
UNSEEN_SHARE = 0.2
MAX_NEW_TOKENS = 32
STORED = Path(__file__).parent / "results" / "head_to_head.json"
ADAPTER_DIR = Path(__file__).parent / "adapters"

# What was tried for the RAG reader, on validation (k sections retrieved; "sentences": the n sentences of
# those sections most similar to the question; "instructed": a system message that says to answer with
# the words of the text and to say "I don't know" when it does not say).
RAG_CONFIGS = {
    "section k1 plain": dict(k=1, sentences=None, instructed=False),
    "section k1 instructed": dict(k=1, sentences=None, instructed=True),
    "sentences k2 n3 plain": dict(k=2, sentences=3, instructed=False),
    "sentences k2 n3 instructed": dict(k=2, sentences=3, instructed=True),
    "sentences k3 n2 instructed": dict(k=3, sentences=2, instructed=True),
}
TUNE_QUESTIONS = 64  # validation questions that score each RAG configuration
THRESHOLD_QUESTIONS = 128  # validation questions on which each system's confidence threshold is chosen
STOP_QUESTIONS = 64  # validation questions that score an adapter during training (early stopping)
RECIPES = {  # LoRA on the top 8 layers, batch 8; validated every EVAL_EVERY steps, the best step kept
    "closed-book": dict(lr=3e-3, r=8, max_epochs=8, patience=2, schedule="constant"),
    "raft": dict(lr=2e-3, r=8, max_epochs=3, patience=2, schedule="constant", p_gold=0.8),
}
BATCH_SIZE = 8
EVAL_EVERY = 50
LAYERS = range(22, 30)


@dataclass
class Setup:
    """The facts, the fixed split and the question sets every system shares."""

    facts: dict[str, Any]
    trained_ids: list[str]
    unseen_ids: list[str]
    train: list[Any]
    validation: list[Any]
    test: list[Any]
    unanswerable: list[Any]
    updates: list[Any]
    documents: list[Any]


def load_setup(seed: int = 0, quick: bool = False) -> Setup:
    """The split: one fact in five held out of training (never one that an update changes), two
    paraphrases of each other fact to train on, the third (and the unseen facts' third) for validation."""
    from ragft.data import load_documents, load_facts, load_questions

    facts = {f.id: f for f in load_facts()}
    updates = sorted(load_questions("updates"), key=lambda q: q.id)
    changed = {u.fact_ids[0] for u in updates}
    candidates = sorted(set(facts) - changed)
    unseen = sorted(random.Random(seed).sample(candidates, round(UNSEEN_SHARE * len(facts))))
    trained = sorted(set(facts) - set(unseen))
    by_fact: dict[str, list[Any]] = {}
    for q in sorted(load_questions("train"), key=lambda q: q.id):
        by_fact.setdefault(q.fact_ids[0], []).append(q)
    train = [q for f in trained for q in by_fact[f][:-1]]
    validation = [by_fact[f][-1] for f in sorted(facts)]
    test = sorted(load_questions("test"), key=lambda q: q.id)
    unanswerable = sorted(load_questions("unanswerable"), key=lambda q: q.id)
    if quick:
        keep = set(trained[:12] + unseen[:3]) | {u.fact_ids[0] for u in updates[:4]}
        train = [q for q in train if q.fact_ids[0] in keep]
        validation = [q for q in validation if q.fact_ids[0] in keep]
        test = [q for q in test if q.fact_ids[0] in keep]
        unanswerable, updates = unanswerable[:6], updates[:4]
    return Setup(facts, trained, unseen, train, validation, test, unanswerable, updates, load_documents())


def updated_documents(documents: Sequence[Any], updates: Sequence[Any]) -> list[Any]:
    """The documents that ``updates`` change, after every change is applied (each document once)."""
    from ragft.data import apply_update

    by_id = {d.id: d for d in documents}
    changed: dict[str, Any] = {}
    for u in updates:
        doc_id = u.doc_ids[0]
        changed[doc_id] = apply_update(changed.get(doc_id, by_id[doc_id]), u)
    return list(changed.values())


def updated_facts(facts: dict[str, Any], updates: Sequence[Any]) -> dict[str, Any]:
    """The facts with each update's new answer written into its statement."""
    from dataclasses import replace

    new = dict(facts)
    for u in updates:
        f = new[u.fact_ids[0]]
        if u.old_answer not in f.statement:
            raise ValueError(f"{u.id}: the old answer {u.old_answer!r} is not in the statement of {f.id}")
        new[f.id] = replace(f, statement=f.statement.replace(u.old_answer, u.answer), answer=u.answer)
    return new


# ---------------------------------------------------------------------------------------------------------
# Reading: retrieval, the context and the prompt


class Reader:
    """One RAG configuration: how many sections to retrieve, what of them to show, and how to ask."""

    def __init__(self, retriever: Any, k: int = 1, sentences: int | None = None, instructed: bool = False) -> None:
        from ragft.rag import SentenceSelector

        self.retriever, self.k, self.instructed = retriever, k, instructed
        self.selector = SentenceSelector(retriever, sentences) if sentences else None
        self.settings = dict(k=k, sentences=sentences, instructed=instructed)

    def with_retriever(self, retriever: Any) -> "Reader":
        """The same configuration over another index (after an update)."""
        return Reader(retriever, **self.settings)

    def prompts(self, questions: Sequence[str]) -> tuple[list[str], list[float], list[list[str]]]:
        """Per question: the prompt, the top retrieval cosine, and the retrieved chunk ids."""
        from ragft.rag import build_prompt

        hits = self.retriever.search(list(questions), k=self.k)
        prompts = []
        for q, h in zip(questions, hits):
            chunks = [c for c, _ in h]
            contexts = self.selector.contexts(q, chunks) if self.selector else [c.text for c in chunks]
            prompts.append(build_prompt(q, contexts))
        return prompts, [round(h[0][1], 4) for h in hits], [[c.id for c, _ in h] for h in hits]

    @property
    def system(self) -> str | None:
        from ragft.rag import READER_SYSTEM

        return READER_SYSTEM if self.instructed else None


def replies(model: Any, tokenizer: Any, questions: Sequence[Any], reader: Reader | None) -> dict[str, list]:
    """Every question's reply, its confidence (mean token log-probability), and, when reading, the top
    retrieval cosine. ``reader=None`` asks closed book."""
    from ragft.finetune import QA_SYSTEM
    from ragft.models import generate

    texts = [q.question for q in questions]
    out: dict[str, list] = {}
    if reader is None:
        prompts, system = texts, QA_SYSTEM
    else:
        prompts, out["cosine"], out["chunks"] = reader.prompts(texts)
        system = reader.system
    said, sure = generate(model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS, system=system, batch_size=16,
                          confidence=True)
    out["reply"], out["confidence"] = said, [round(c, 4) for c in sure]
    return out


def grade(asked: dict[str, list], questions: Sequence[Any]) -> dict[str, list]:
    """Add per question: ``idk`` (the reply declines), ``correct`` (it holds the answer or an alias) and
    ``correct_no_alias`` (it holds the reference answer itself)."""
    from ragft.evaluate import contains_answer, is_abstention

    asked["idk"] = [is_abstention(r) for r in asked["reply"]]
    asked["correct"] = [q.answer is not None and contains_answer(r, q.answers)
                        for r, q in zip(asked["reply"], questions)]
    asked["correct_no_alias"] = [q.answer is not None and contains_answer(r, [q.answer])
                                 for r, q in zip(asked["reply"], questions)]
    return asked


# ---------------------------------------------------------------------------------------------------------
# Like for like: one confidence per answer, one threshold per system, chosen on validation


def outcomes(graded: dict[str, list], threshold: float | None) -> list[int]:
    """Per question: 1 answered correctly, 0 declined (said "I don't know" or confidence below the
    threshold), -1 answered wrongly with confidence (a hallucination, on an unanswerable question too)."""
    out = []
    for idk, sure, right in zip(graded["idk"], graded["confidence"], graded["correct"]):
        if idk or (threshold is not None and sure < threshold):
            out.append(0)
        else:
            out.append(1 if right else -1)
    return out


def choose_threshold(graded: dict[str, list]) -> float | None:
    """The confidence threshold that maximises right minus wrong answers on validation.

    A confident wrong answer costs as much as a right one earns; a decline costs nothing. Candidates are
    the validation confidences themselves; ``None`` (answer everything) when no threshold beats it.
    """
    pairs = sorted((s, r) for s, r, idk in zip(graded["confidence"], graded["correct"], graded["idk"]) if not idk)
    best, best_gain = None, sum(1 if r else -1 for _, r in pairs)
    gain = best_gain
    for i, (s, r) in enumerate(pairs):  # raising the threshold past pairs[i] drops that answer
        gain -= 1 if r else -1
        if i + 1 < len(pairs) and pairs[i + 1][0] == s:
            continue
        if gain > best_gain:
            best_gain, best = gain, (s + pairs[i + 1][0]) / 2 if i + 1 < len(pairs) else s + 1e-4
    return None if best is None else round(best, 4)


def summarise(test: Sequence[int], unanswerable: Sequence[int]) -> dict[str, float]:
    """Coverage, accuracy, accuracy among answered, abstention, and confident wrong answers over all."""
    answered = [o for o in test if o != 0]
    both = list(test) + list(unanswerable)
    return {"accuracy": sum(o == 1 for o in test) / len(test),
            "coverage": len(answered) / len(test),
            "selective_accuracy": sum(o == 1 for o in answered) / len(answered) if answered else math.nan,
            "abstention": sum(o == 0 for o in unanswerable) / len(unanswerable),
            "confident_wrong": sum(o == -1 for o in both) / len(both)}


def risk_coverage(graded: dict[str, list]) -> tuple[list[float], list[float]]:
    """The risk-coverage curve of answerable questions: answers sorted by confidence, most sure first
    ("I don't know" last); after each one, the share of questions answered and the share of those
    answers that are wrong. A system whose confidence means something has low risk at low coverage."""
    order = sorted(range(len(graded["correct"])),
                   key=lambda i: (graded["idk"][i], -graded["confidence"][i], i))
    coverage, risk, wrong = [], [], 0
    for n, i in enumerate(order, 1):
        if graded["idk"][i]:
            break
        wrong += not graded["correct"][i]
        coverage.append(n / len(order))
        risk.append(wrong / n)
    return coverage, risk


def accuracy_at_coverage(graded: dict[str, list], coverage: float) -> float:
    """Accuracy among the ``coverage`` share of answerable questions the system is most sure of
    (comparing systems at equal coverage: each answers the same number of questions)."""
    if not 0 < coverage <= 1:
        raise ValueError(f"need 0 < coverage <= 1, got {coverage}")
    order = sorted(range(len(graded["correct"])), key=lambda i: (graded["idk"][i], -graded["confidence"][i], i))
    keep = order[:max(1, round(coverage * len(order)))]
    return sum(graded["correct"][i] and not graded["idk"][i] for i in keep) / len(keep)


# ---------------------------------------------------------------------------------------------------------
# Training


def closed_book_examples(questions: Sequence[Any], facts: dict[str, Any]) -> list[Any]:
    """Closed-book examples: each training paraphrase, answered by its fact's statement."""
    from ragft.finetune import fact_example

    return [fact_example(q, facts) for q in questions]


def raft_examples(reader: Reader, questions: Sequence[Any], facts: dict[str, Any], p_gold: float = 0.8,
                  seed: int = 0) -> list[Any]:
    """RAFT examples in the reader's own prompt: the retrieved sentences, then the question.

    With probability ``p_gold`` the context holds the sentence that states the fact (put in place of the
    least similar sentence if retrieval missed it) and the target is the short answer; otherwise every
    sentence that holds the answer is removed (whole sections of the fact's document are skipped) and
    the target is "I don't know.", so that the model learns to decline when the text does not say.
    """
    from ragft.evaluate import contains_answer
    from ragft.finetune import Example
    from ragft.rag import ABSTAIN, build_prompt, split_sentences

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


def train_adapter(kind: str, model: Any, tokenizer: Any, examples: Sequence[Any],
                  score: Callable[[Any], float] | None, seed: int, system: str | None, quick: bool = False,
                  steps: int | None = None) -> tuple[Any, dict[str, Any]]:
    """LoRA trained until the validation score stops improving (the best step's weights are kept);
    with ``score=None``, for exactly ``steps`` steps."""
    import torch

    from ragft.finetune import add_lora, tokenize_example, train

    recipe = RECIPES[kind]
    data = [tokenize_example(tokenizer, e, system) for e in examples]
    if steps is None:
        steps = 4 if quick else math.ceil(recipe["max_epochs"] * len(data) / BATCH_SIZE)
    torch.manual_seed(seed)
    model = add_lora(model, r=recipe["r"], alpha=2 * recipe["r"], layers=LAYERS)
    started = time.perf_counter()
    history = train(model, data, tokenizer.pad_token_id, batch_size=BATCH_SIZE, lr=recipe["lr"],
                    eval_every=2 if quick else EVAL_EVERY, seed=seed, steps=steps, schedule=recipe["schedule"],
                    score_fn=score, patience=recipe["patience"] if score else None, progress=False)
    seconds = time.perf_counter() - started
    return model, {"recipe": recipe, "examples": len(data), "max_steps": steps, "steps_run": len(history.steps),
                   "best_step": history.best_step, "val_steps": history.val_steps,
                   "val_accuracy": [round(x, 4) for x in history.val_score],
                   "train_loss": [round(x, 4) for x in history.train_loss[::5]],
                   "training_seconds": round(seconds, 1), "seconds_per_step": round(history.seconds_per_step, 3)}


# ---------------------------------------------------------------------------------------------------------
# Serving cost, each system alone in a fresh process

LATENCY_CHILD = """
import json, sys
from ragft.headtohead import serve
print("RESULT " + json.dumps(serve(*json.loads(sys.argv[1]))))
"""


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (``VmRSS``) or at its peak (``VmHWM``), in MB (Linux; NaN elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def build_retriever(embedder: Any, documents: Sequence[Any], hybrid: bool) -> Any:
    """The heading-chunk index over ``documents``: dense, or dense fused with BM25."""
    from ragft.rag import HybridRetriever, Retriever, chunk_by_heading

    dense = Retriever(embedder, [c for d in documents for c in chunk_by_heading(d)], show_progress_bar=False)
    return HybridRetriever(dense) if hybrid else dense


def serve(system: str, adapter: str | None, reader_settings: dict[str, Any] | None, questions: list[str]
          ) -> dict[str, float]:
    """Load one system as it would be deployed (adapter merged), answer one question at a time.

    Returns the per-question latency (p50, p95, in ms, retrieval included) and the process's peak memory.
    """
    import numpy as np
    import torch  # noqa: F401  (imported first, so that the baseline includes it)

    from ragft.data import load_documents
    from ragft.finetune import QA_SYSTEM, load_adapter
    from ragft.models import generate, load_embedder, load_generator

    baseline = rss_mb()
    model, tokenizer = load_generator()
    if adapter:
        model = load_adapter(model, adapter).merge_and_unload()
    reader = None
    if reader_settings is not None:
        settings = dict(reader_settings)
        hybrid = settings.pop("hybrid")
        reader = Reader(build_retriever(load_embedder(), load_documents(), hybrid), **settings)
    seconds = []
    for q in [questions[0]] + questions:  # the first answer warms up and is not counted
        started = time.perf_counter()
        if reader is not None:
            prompt = reader.prompts([q])[0][0]
            generate(model, tokenizer, prompt, max_new_tokens=MAX_NEW_TOKENS, system=reader.system)
        else:
            generate(model, tokenizer, q, max_new_tokens=MAX_NEW_TOKENS, system=QA_SYSTEM)
        seconds.append(time.perf_counter() - started)
    ms = np.array(seconds[1:]) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "peak_mb": round(rss_mb("VmHWM"), 1), "python_torch_mb": round(baseline, 1)}


def measure_serving(system: str, adapter: str | None, reader_settings: dict[str, Any] | None,
                    questions: list[str]) -> dict[str, float]:
    """``serve`` in a child process (so that peak memory belongs to this system alone)."""
    args = json.dumps([system, adapter, reader_settings, questions])
    done = subprocess.run([sys.executable, "-c", LATENCY_CHILD, args], capture_output=True, text=True, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"serving {system} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


# ---------------------------------------------------------------------------------------------------------
# The experiment


def run(out: Path = STORED, seeds: Sequence[int] = SEEDS, quick: bool = False, adapter_out: Path = ADAPTER_DIR,
        latency_questions: int = 10) -> dict[str, Any]:
    """Every unit of the experiment, each stored in ``out`` as soon as it is done (a rerun skips stored units).

    Order: the retrieval and reader choices, the untrained systems, then each seed's closed-book and RAFT
    adapters with the systems that use them; the closed-book retrain on the updated facts; serving cost.
    """
    import ragft
    from ragft.finetune import QA_SYSTEM, load_adapter
    from ragft.models import cache_dir, load_embedder, load_generator
    from ragft.rag import chunk_by_heading, recall_at_k

    from ragft.env import write_json_atomically

    ragft.set_seed(0)
    results: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    results.update({"versions": ragft.versions(), "machine": ragft.env.machine()})
    setup = load_setup(quick=quick)
    threshold_sample = sorted(random.Random(2).sample(setup.validation, min(THRESHOLD_QUESTIONS,
                                                                             len(setup.validation))), key=lambda q: q.id)
    sets = {"validation": threshold_sample, "test": setup.test, "unanswerable": setup.unanswerable,
            "updates": setup.updates}
    results["sizes"] = {"train": len(setup.train), **{k: len(v) for k, v in sets.items()},
                        "trained_facts": len(setup.trained_ids), "unseen_facts": len(setup.unseen_ids)}
    results["unseen_facts"] = setup.unseen_ids
    results["question_ids"] = {k: [q.id for q in v] for k, v in sets.items()}
    units = results.setdefault("units", {})
    model, tokenizer = load_generator()
    embedder = load_embedder()
    work = cache_dir() / ("h2h-quick" if quick else "h2h-runs")
    rng = random.Random(0)
    tune = sorted(rng.sample(setup.validation, min(TUNE_QUESTIONS, len(setup.validation))), key=lambda q: q.id)
    trained = set(setup.trained_ids)
    stop_pool = [q for q in setup.validation if q.fact_ids[0] in trained]
    stop = sorted(random.Random(1).sample(stop_pool, min(STOP_QUESTIONS, len(stop_pool))), key=lambda q: q.id)

    def save() -> None:
        write_json_atomically(out, results)

    def unit(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name not in units:
            started = time.perf_counter()
            units[name] = fn()
            units[name]["unit_seconds"] = round(time.perf_counter() - started, 1)
            save()
            print(json.dumps({name: {k: v for k, v in units[name].items() if not isinstance(v, (list, dict))}}),
                  flush=True)
        return units[name]

    # 1. Retrieval: dense or hybrid (dense + BM25 by reciprocal rank fusion), by recall on validation.
    started = time.perf_counter()
    dense = build_retriever(embedder, setup.documents, hybrid=False)
    build_seconds = time.perf_counter() - started
    hybrid = build_retriever(embedder, setup.documents, hybrid=True)

    def retrieval() -> dict[str, Any]:
        gold = [q.doc_ids for q in setup.validation]
        scores = {}
        for name, r in (("dense", dense), ("hybrid", hybrid)):
            hits = r.search([q.question for q in setup.validation], k=3)
            docs = [[c.doc_id for c, _ in h] for h in hits]
            scores[name] = {f"recall@{k}": round(recall_at_k(docs, gold, k), 4) for k in (1, 2, 3)}
        chosen = "hybrid" if scores["hybrid"]["recall@1"] >= scores["dense"]["recall@1"] else "dense"
        return {"scores": scores, "chosen": chosen, "questions": len(setup.validation)}

    chosen_retrieval = unit("retrieval", retrieval)["chosen"]
    retriever = hybrid if chosen_retrieval == "hybrid" else dense
    started = time.perf_counter()
    fresh = retriever.update([c for d in updated_documents(setup.documents, setup.updates) for c in chunk_by_heading(d)])
    reindex_seconds = time.perf_counter() - started
    changed = updated_documents(setup.documents, setup.updates)
    results["model_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    results["embedder_bytes"] = sum(p.numel() * p.element_size() for p in embedder.parameters())
    results["index"] = {"chunks": len(retriever.chunks), "build_seconds": round(build_seconds, 2),
                        "reindex_seconds": round(reindex_seconds, 2),
                        "changed_documents": len(changed),
                        "changed_chunks": sum(len(chunk_by_heading(d)) for d in changed),
                        "bytes": dense.index.ntotal * dense.index.d * 4}

    # 2. The RAG reader: every configuration on the same validation questions.
    for name, config in RAG_CONFIGS.items():
        def tune_unit(config: dict[str, Any] = config) -> dict[str, Any]:
            g = grade(replies(model, tokenizer, tune, Reader(retriever, **config)), tune)
            return {"config": config, "accuracy": round(sum(g["correct"]) / len(tune), 4),
                    "idk": round(sum(g["idk"]) / len(tune), 4), "questions": len(tune)}

        unit(f"rag config {name}", tune_unit)
    best = max(RAG_CONFIGS, key=lambda n: (units[f"rag config {n}"]["accuracy"], -list(RAG_CONFIGS).index(n)))
    results["rag_config"] = {"name": best, **RAG_CONFIGS[best], "hybrid": chosen_retrieval == "hybrid"}
    reader = Reader(retriever, **RAG_CONFIGS[best])
    sentence_reader = reader if reader.selector else Reader(retriever, **RAG_CONFIGS["sentences k2 n3 instructed"])

    def evaluate(system: str, m: Any, extra: dict[str, Any] | None = None, closed: bool = False
                 ) -> dict[str, Any]:
        """Every question set; updates asked before the change is absorbed and after (re-index for readers)."""
        r = sentence_reader if system == "raft" else reader
        use = None if closed or system not in READS else r
        result: dict[str, Any] = dict(extra or {})
        for name, questions in sets.items():
            result[name] = grade(replies(m, tokenizer, questions, use), questions)
        if use is not None:
            result["updates_after"] = grade(replies(m, tokenizer, setup.updates, use.with_retriever(fresh)),
                                            setup.updates)
        result["threshold"] = choose_threshold(result["validation"])
        return result

    unit("base", lambda: evaluate("base", model))
    unit("rag", lambda: evaluate("rag", model))

    # 3. The trained systems, seed by seed; the first seed's adapters are kept as package data.
    def score_fn(use: Reader | None) -> Callable[[Any], float]:
        def score(m: Any) -> float:
            g = grade(replies(m, tokenizer, stop, use), stop)
            return sum(g["correct"]) / len(stop)
        return score

    def adapter_folder(kind: str, seed: int, facts: str = "") -> Path:
        return work / f"{kind}{facts}-seed{seed}"

    def trained_model(kind: str, seed: int, examples_fn: Callable[[], list[Any]], system: str | None,
                      use: Reader | None, facts: str = "", steps: int | None = None) -> tuple[Any, dict[str, Any]]:
        folder = adapter_folder(kind, seed, facts)
        name = f"train {kind}{facts} seed {seed}"
        if name in units and (folder / "adapter_config.json").is_file():
            return load_adapter(model, folder), units[name]
        units.pop(name, None)
        tuned, info = train_adapter(kind, model, tokenizer, examples_fn(), None if steps else score_fn(use), seed,
                                    system, quick, steps)
        tuned.save_pretrained(folder)
        info["adapter_bytes"] = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        units[name] = info
        save()
        print(json.dumps({name: {k: v for k, v in info.items() if not isinstance(v, (list, dict))}}), flush=True)
        return tuned, info

    def needs(*names: str) -> bool:
        return any(n not in units for n in names)

    for seed in seeds:
        if needs(f"finetuned seed {seed}", f"rag+finetuned seed {seed}") or (seed == seeds[0] and needs("retrain")):
            tuned, info = trained_model("closed-book", seed, lambda: closed_book_examples(setup.train, setup.facts),
                                        QA_SYSTEM, None)
            unit(f"finetuned seed {seed}", lambda: evaluate("finetuned", tuned, {"seed": seed}))
            unit(f"rag+finetuned seed {seed}", lambda: evaluate("rag+finetuned", tuned, {"seed": seed}))
            model = tuned.unload()
        if needs(f"raft seed {seed}", f"raft closed seed {seed}"):
            recipe = RECIPES["raft"]
            tuned, info = trained_model(
                "raft", seed, lambda: raft_examples(sentence_reader, setup.train, setup.facts, recipe["p_gold"], seed),
                sentence_reader.system, sentence_reader)
            unit(f"raft seed {seed}", lambda: evaluate("raft", tuned, {"seed": seed}))
            unit(f"raft closed seed {seed}", lambda: {"seed": seed, "test": grade(
                replies(tuned, tokenizer, setup.test, None), setup.test)})
            model = tuned.unload()
        if seed == seeds[0] and needs("retrain"):
            # Freshness for the closed-book fine-tune: train again on the updated facts, ask the updates.
            # (As many steps as the chosen closed-book adapter of this seed: what a team would re-run.)
            new_facts = updated_facts(setup.facts, setup.updates)
            same = units[f"train closed-book seed {seed}"]["best_step"]
            tuned, info = trained_model("closed-book", seed, lambda: closed_book_examples(setup.train, new_facts),
                                        QA_SYSTEM, None, facts="-updated", steps=same)
            unit("retrain", lambda: {"seed": seed, "training_seconds": info["training_seconds"],
                                     "updates": grade(replies(tuned, tokenizer, setup.updates, None), setup.updates)})
            model = tuned.unload()
        if seed == seeds[0]:
            if not quick or adapter_out != ADAPTER_DIR:
                ship_adapters(work, seed, adapter_out)
            if needs("serving"):
                sample = [q.question for q in setup.test[:3 if quick else latency_questions]]
                settings = {**RAG_CONFIGS[best], "hybrid": chosen_retrieval == "hybrid"}
                raft_settings = {**sentence_reader.settings, "hybrid": chosen_retrieval == "hybrid"}
                folders = {"finetuned": adapter_folder("closed-book", seed),
                           "rag+finetuned": adapter_folder("closed-book", seed), "raft": adapter_folder("raft", seed)}

                def serving() -> dict[str, Any]:
                    return {s: measure_serving(s, str(folders[s]) if s in folders else None,
                                               raft_settings if s == "raft" else settings if s in READS else None,
                                               sample) for s in SYSTEMS}

                unit("serving", serving)
    results["seeds"] = [s for s in SEEDS if all(f"{n} seed {s}" in units
                                                for n in ("finetuned", "rag+finetuned", "raft", "raft closed"))]
    save()
    return results


def ship_adapters(work: Path, seed: int, target: Path) -> None:
    """Copy the first seed's closed-book and RAFT adapters into the package (small safetensors files)."""
    import shutil

    for kind, name in (("closed-book", "h2h-closed-book"), ("raft", "h2h-raft")):
        source = work / f"{kind}-seed{seed}"
        if not (source / "adapter_config.json").is_file():
            continue
        dest = target / name
        dest.mkdir(parents=True, exist_ok=True)
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy2(source / f, dest / f)
        config = json.loads((dest / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"  # not this machine's cache path
        (dest / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def load_stored(path: Path = STORED) -> dict[str, Any]:
    """The stored head-to-head results (written by ``python -m ragft.experiments head-to-head``)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is missing: run python -m ragft.experiments head-to-head")
    return json.loads(Path(path).read_text())


def load_h2h_adapter(model: Any, kind: str) -> Any:
    """The shipped adapter of the first seed: ``kind`` is ``"closed-book"`` or ``"raft"``."""
    from ragft.finetune import load_adapter

    if kind not in ("closed-book", "raft"):
        raise ValueError(f"kind must be 'closed-book' or 'raft', got {kind!r}")
    folder = ADAPTER_DIR / f"h2h-{kind}"
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} is missing: run python -m ragft.experiments head-to-head")
    return load_adapter(model, folder)


# ---------------------------------------------------------------------------------------------------------
# Tables from the stored file


def runs(results: dict[str, Any], system: str) -> list[dict[str, Any]]:
    """The stored evaluations of one system: one for an untrained system, one per seed for a trained one."""
    units = results["units"]
    if system in ("base", "rag"):
        return [units[system]]
    return [units[f"{system} seed {s}"] for s in results["seeds"]]


def system_outcomes(run_: dict[str, Any], part: str = "test") -> list[int]:
    """1 / 0 / -1 per question of one stored evaluation, with that run's threshold."""
    return outcomes(run_[part], run_["threshold"])


def seed_mean(values: Sequence[Sequence[bool | float]]) -> list[float]:
    """Per item, the mean over seeds of one score (each inner list: one seed's scores, item by item)."""
    return [sum(map(float, item)) / len(values) for item in zip(*values)]


def interval(values: Sequence[Sequence[bool | float]]) -> dict[str, float]:
    """A share with its 95 % interval: Wilson for a single run; for several seeds, the seed-averaged
    share with a bootstrap over the questions (``ragft.stats.bootstrap_rate``)."""
    from ragft.stats import bootstrap_rate, rate

    return rate(values[0]) if len(values) == 1 else bootstrap_rate(seed_mean(values))


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per system. ``accuracy``: the share of test questions answered correctly when the system
    answers everything it does not itself decline, averaged over the seeds of a trained system, with
    the seeds' standard deviation and a 95 % interval over the 255 questions (``interval``). Then the
    system behind its validated confidence gate (one threshold per seed, each chosen on validation),
    averaged over seeds: coverage, selective and gated accuracy, abstention on the 61 unanswerable
    questions (with and without the gate), and confident wrong answers over all questions."""
    rows = []
    for system in SYSTEMS:
        rs = runs(results, system)
        per = [summarise(system_outcomes(r, "test"), system_outcomes(r, "unanswerable")) for r in rs]
        ungated = [sum(correct(r)) / len(r["test"]["correct"]) for r in rs]
        row: dict[str, Any] = {"system": system, "seeds": len(rs), "accuracy": statistics.mean(ungated),
                               "accuracy_sd": statistics.stdev(ungated) if len(rs) > 1 else 0.0,
                               "accuracy_ci": interval([correct(r) for r in rs]),
                               "declines_unanswerable": sum(rs[0]["unanswerable"]["idk"]) / len(
                                   rs[0]["unanswerable"]["idk"]),
                               "wrong_ungated": statistics.mean(  # wrong answers given over all, with no gate
                                   sum(o == -1 for part in ("test", "unanswerable") for o in outcomes(r[part], None))
                                   / (len(r["test"]["idk"]) + len(r["unanswerable"]["idk"])) for r in rs)}
        for key in per[0]:
            values = [p[key] for p in per]
            name = "gated_accuracy" if key == "accuracy" else key
            row[name] = statistics.mean(values)
            row[name + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["abstention_ci"] = interval([[o == 0 for o in system_outcomes(r, "unanswerable")] for r in rs])
        row["threshold"] = rs[0]["threshold"]
        row["hallucination"] = row["confident_wrong"]
        training = [results["units"][f"train {TRAINED[system]} seed {s}"]["training_seconds"] for s in results["seeds"]
                    ] if system in TRAINED else [0.0]
        row["training_seconds"] = statistics.mean(training)
        row.update(results["units"]["serving"][system] if "serving" in results["units"] else {})
        rows.append(row)
    return rows


def correct(run_: dict[str, Any], part: str = "test", gated: bool = False) -> list[bool]:
    """Per question: answered correctly (``gated``: and confident enough to pass the run's threshold)."""
    if gated:
        return [o == 1 for o in system_outcomes(run_, part)]
    return [c and not idk for c, idk in zip(run_[part]["correct"], run_[part]["idk"])]


def compare(results: dict[str, Any], a: str, b: str, part: str = "test", seed_index: int | None = None,
            gated: bool = False) -> dict[str, float]:
    """Accuracy of ``a`` minus ``b`` on the same questions, with a paired bootstrap 95 % interval.

    Each question scores the share of a system's seeds that answered it correctly (an untrained system
    has one run), and questions are resampled in pairs; ``seed_index`` compares one seed's run instead.
    """
    from ragft.stats import paired_bootstrap

    def scores(system: str) -> list[float]:
        rs = runs(results, system)
        if seed_index is not None:
            rs = [rs[min(seed_index, len(rs) - 1)]]
        return seed_mean([correct(r, part, gated) for r in rs])

    return paired_bootstrap(scores(a), scores(b))


def fact_groups(results: dict[str, Any]) -> dict[str, list[int]]:
    """Indices of the test questions about facts trained on and about the unseen (held-out) facts."""
    from ragft.data import load_questions

    unseen = set(results["unseen_facts"])
    by_id = {q.id: q for q in load_questions("test")}
    facts = [by_id[i].fact_ids[0] for i in results["question_ids"]["test"]]
    return {"trained": [i for i, f in enumerate(facts) if f not in unseen],
            "unseen": [i for i, f in enumerate(facts) if f in unseen]}


def reading_vs_remembering(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per system, accuracy (answering everything, averaged over seeds) on trained and unseen facts,
    and for RAFT the same adapters with their context removed (asked closed book, no threshold)."""
    groups = fact_groups(results)
    out = {}
    for system in SYSTEMS:
        ok = seed_mean([correct(r) for r in runs(results, system)])
        out[system] = {g: sum(ok[i] for i in idx) / len(idx) for g, idx in groups.items()}
    closed = seed_mean([[c and not idk for c, idk in zip(t["correct"], t["idk"])] for t in (
        results["units"][f"raft closed seed {s}"]["test"] for s in results["seeds"])])
    out["raft, context removed"] = {g: sum(closed[i] for i in idx) / len(idx) for g, idx in groups.items()}
    return out


def freshness(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per system (first seed): how it absorbs the update, in how many seconds, and the share of update
    questions whose reply holds the old answer before, the new answer before, and the new answer after
    (re-indexed for the readers; retrained for the closed-book fine-tune)."""
    from ragft.data import load_questions
    from ragft.evaluate import contains_answer

    by_id = {q.id: q for q in load_questions("updates")}
    updates = [by_id[i] for i in results["question_ids"]["updates"]]
    units = results["units"]

    def share(values: Sequence[bool]) -> float:
        return sum(values) / len(values)

    out = {}
    for system in SYSTEMS:
        run_ = runs(results, system)[0]
        before = run_["updates"]
        row = {"old_before": share([contains_answer(r, [u.old_answer]) for r, u in zip(before["reply"], updates)]),
               "new_before": share(before["correct"])}
        if system in READS:
            row.update(how="re-embed the changed documents", seconds=results["index"]["reindex_seconds"],
                       new_after=share(run_["updates_after"]["correct"]),
                       old_after=share([contains_answer(r, [u.old_answer])
                                        for r, u in zip(run_["updates_after"]["reply"], updates)]))
        elif system == "finetuned":
            row.update(how="train again on the updated facts", seconds=units["retrain"]["training_seconds"],
                       new_after=share(units["retrain"]["updates"]["correct"]),
                       old_after=share([contains_answer(r, [u.old_answer])
                                        for r, u in zip(units["retrain"]["updates"]["reply"], updates)]))
        else:
            row.update(how="nothing to absorb (no knowledge)", seconds=0.0, new_after=row["new_before"],
                       old_after=row["old_before"])
        out[system] = row
    return out
