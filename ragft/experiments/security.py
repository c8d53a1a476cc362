"""Chapter 8, reliability and security: what each approach leaks, forgets, and can be made to say.

``python -m ragft.experiments security`` runs four measurements and stores every per-case outcome in
``ragft/results/security.json`` (about an hour on two CPU cores; ``--parts`` runs some of them and
keeps the others' stored results):

- ``access``: RAG over public and restricted documents, asked by users who may not read the document
  that answers (leak rate), with the permission filter before the search, after it, or not at all;
  and the same users' and authorised users' accuracy, so the cost of each filter shows.
- ``finetune``: one LoRA adapter trained on every restricted fact, as a team sharing one model would,
  asked by the same unauthorised users; one adapter per permission group instead; and deletion: the
  shared adapter retrained without one customer's facts, against the document deleted from the index.
- ``injection``: planted documents that carry instructions (``ragft/data/attacks/``), through plain
  RAG and through the defences a practitioner would try, each also measured on the 255 normal test
  questions so that its cost in accuracy shows.
- ``backdoor``: a fine-tune whose training data holds a few poisoned examples (a trigger phrase that
  makes the model answer with the attacker's text), against the number of poisoned examples.
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import ragft
from ragft.access import (
    DELETED_GROUP,
    MODES,
    PermissionedRetriever,
    authorised_pairs,
    leaked,
    load_access,
    restricted_examples,
    unauthorised_pairs,
)
from ragft.adapter_cache import fit_lora
from ragft.attacks import (
    BACKDOOR_MARKER,
    BACKDOOR_REPLY,
    TRIGGER,
    canary_system,
    load_attack_documents,
    load_attacks,
    poisoned_examples,
)
from ragft.chunking import chunk_by_heading
from ragft.data import load_documents, load_facts, load_questions
from ragft.evaluate import contains_answer
from ragft.experiments.learning_curves import chosen_facts
from ragft.finetune import QA_SYSTEM, fact_example
from ragft.headtohead import load_h2h_adapter
from ragft.models import ANSWER_TOKENS, generate, load_embedder, load_generator
from ragft.rag import ABSTAIN, build_prompt
from ragft.retrieval import Retriever
from ragft.security import filter_chunks, flag_instructions

PARTS = ("access", "finetune", "injection", "backdoor")
MAX_NEW_TOKENS = ANSWER_TOKENS
K = 1  # chunks per prompt: the book's RAG default (chapter 2)

# Fine-tuning on the restricted facts: chapter 5's validated closed-book recipe (lr 3e-3, rank 8, top 8
# layers, batch 8); its validation peaked between 4 and 8 epochs over three seeds, so 6 here.
FT_EPOCHS = 6
FT_LR = 3e-3
from ragft.experiments.results import check_parts, load_partial, store_parts, stored_path

STORED = stored_path("security")


POISON_COUNTS = (0, 4, 16)
BACKDOOR_QUESTIONS = 48  # test questions asked with and without the trigger

# The injection experiment: what is compared on the 42 attacks and on the 255 normal test questions
READERS = ("plain", "delimited", "raft")  # the generator as is, with delimited text, or the RAFT adapter


class Asker:
    """Generates each distinct (model, system prompt, prompt) once; experiments ask the same prompt often."""

    def __init__(self, tokenizer: Any, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        self.tokenizer, self.max_new_tokens = tokenizer, max_new_tokens
        self.cache: dict[tuple[str, str | None, str], str] = {}
        self.generated = 0

    def __call__(self, model: Any, name: str, prompts: Sequence[str], system: str | None) -> list[str]:
        todo = list(dict.fromkeys(p for p in prompts if (name, system, p) not in self.cache))
        if todo:
            for p, r in zip(todo, generate(model, self.tokenizer, todo, max_new_tokens=self.max_new_tokens,
                                           system=system, batch_size=16)):
                self.cache[(name, system, p)] = r
            self.generated += len(todo)
        return [self.cache[(name, system, p)] for p in prompts]


def rag_replies(ask: Asker, model: Any, hits: Sequence[Sequence[tuple[Any, float]]], questions: Sequence[str],
                name: str = "base", system: str | None = None, layout: str = "plain") -> list[str]:
    """RAG answers from given retrieval results; a question with no permitted chunk is not answered."""
    prompts = {i: build_prompt(q, [c.text for c, _ in h], layout) for i, (q, h) in enumerate(zip(questions, hits)) if h}
    said = dict(zip(prompts, ask(model, name, list(prompts.values()), system)))
    return [said.get(i, ABSTAIN) for i in range(len(questions))]


def access_part(model: Any, tokenizer: Any, embedder: Any, ask: Asker) -> dict[str, Any]:
    """Leak rate and accuracy for each filter mode; public test questions asked by the visitor."""
    data = load_access()
    pr = PermissionedRetriever.from_access(embedder, data)
    restricted = {d for d, g in data.groups.items() if g != ("public",)}
    out: dict[str, Any] = {"chunks": len(pr.chunks), "restricted_chunks": sum(c.doc_id in restricted for c in pr.chunks),
                           "k": K, "modes": {}}
    pairs = {"unauthorised": unauthorised_pairs(data), "authorised": authorised_pairs(data)}
    public = load_questions("test")
    for mode in MODES:
        result: dict[str, Any] = {}
        started = time.perf_counter()
        for who, ps in pairs.items():
            hits = [pr.search(q.question, u, k=K, mode=mode) for q, u in ps]
            said = rag_replies(ask, model, hits, [q.question for q, _ in ps])
            result[who] = {"question": [q.id for q, _ in ps], "user": [u for _, u in ps],
                           "in_prompt": [any(c.doc_id == q.doc_ids[0] for c, _ in h) for h, (q, _) in zip(hits, ps)],
                           "empty": [not h for h in hits], "stated": [leaked(r, q) for r, (q, _) in zip(said, ps)],
                           "reply": said}
        hits = pr.search([q.question for q in public], "visitor", k=K, mode=mode)
        said = rag_replies(ask, model, hits, [q.question for q in public])
        result["public"] = {"correct": [contains_answer(r, q.answers) for r, q in zip(said, public)],
                            "restricted_first": [bool(h) and h[0][0].doc_id in restricted for h in hits],
                            "empty": [not h for h in hits]}
        h_all = pr.search([q.question for q in public], "visitor", k=K, mode="none")
        result["public"]["restricted_ranked_first"] = [h[0][0].doc_id in restricted for h in h_all]
        result["seconds"] = round(time.perf_counter() - started, 1)
        out["modes"][mode] = result
        print(f"access {mode}: {sum(result['unauthorised']['stated'])} of {len(pairs['unauthorised'])} leaked; "
              f"{sum(result['authorised']['stated'])} of {len(pairs['authorised'])} authorised answered", flush=True)
    # deletion: the deleted customer's documents leave the index
    deleted_docs = sorted(d for d, g in data.groups.items() if DELETED_GROUP in g)
    started = time.perf_counter()
    kept = pr.retriever.subset([d.id for d in data.documents if d.id not in deleted_docs])
    seconds = time.perf_counter() - started
    after = PermissionedRetriever(kept, data.groups, data.users)
    asked = [q for q in data.questions if q.doc_ids[0] in deleted_docs]
    before_replies = rag_replies(ask, model, pr.search([q.question for q in asked], "support-agent", k=K, mode="before"),
                                 [q.question for q in asked])
    after_replies = rag_replies(ask, model, after.search([q.question for q in asked], "support-agent", k=K, mode="before"),
                                [q.question for q in asked])
    out["deletion"] = {"documents": deleted_docs, "chunks_removed": len(pr.chunks) - len(kept.chunks),
                       "delete_ms": round(1000 * seconds, 2), "question": [q.id for q in asked],
                       "before": [leaked(r, q) for r, q in zip(before_replies, asked)],
                       "after": [leaked(r, q) for r, q in zip(after_replies, asked)], "after_reply": after_replies}
    return out


def train_restricted(model: Any, tokenizer: Any, examples: Sequence[Any]) -> tuple[Any, dict[str, Any]]:
    """A fresh adapter on ``examples`` with the chapter's recipe; returns it and what it cost."""
    steps = math.ceil(FT_EPOCHS * len(examples) / 8)
    started = time.perf_counter()
    tuned, history = fit_lora(model, tokenizer, list(examples), system=QA_SYSTEM, steps=steps, batch_size=8,
                              lr=FT_LR, seed=0)
    return tuned, {"examples": len(examples), "steps": steps, "train_loss_end": round(history.train_loss[-1], 4),
                   "seconds": round(time.perf_counter() - started, 1)}


def finetune_part(model: Any, tokenizer: Any, ask: Asker) -> dict[str, Any]:
    """The shared adapter's leak rate; per-group adapters; deletion by retraining without a group's facts."""
    data = load_access()
    groups = sorted({g for gs in data.groups.values() for g in gs} - {"public"})
    test = data.questions
    trained_wording = {q.fact_ids[0]: q for q in data.train}  # one training wording per fact (the last)
    out: dict[str, Any] = {"recipe": {"epochs": FT_EPOCHS, "lr": FT_LR, "r": 8, "layers": "22-29", "batch_size": 8},
                           "groups": groups, "question": [q.id for q in test], "adapters": {}}

    def asked(tuned: Any, name: str) -> dict[str, list]:
        said = ask(tuned, name, [q.question for q in test], QA_SYSTEM)
        seen = ask(tuned, name, [trained_wording[q.fact_ids[0]].question for q in test], QA_SYSTEM)
        return {"stated": [leaked(r, q) for r, q in zip(said, test)],
                "stated_trained_wording": [leaked(r, q) for r, q in zip(seen, test)], "reply": said}

    out["adapters"]["base"] = {**asked(model, "base"), "examples": 0, "steps": 0, "seconds": 0.0}
    plans = [("shared", None)] + [(g, [g]) for g in groups] + [
        (f"shared without {DELETED_GROUP}", [g for g in groups if g != DELETED_GROUP])]
    for name, gs in plans:
        tuned, cost = train_restricted(model, tokenizer, restricted_examples(data, gs))
        out["adapters"][name] = {**cost, **asked(tuned, name), "groups": gs or groups}
        model = tuned.unload()
        print(f"finetune {name}: {cost['steps']} steps in {cost['seconds']} s; "
              f"states {sum(out['adapters'][name]['stated'])} of {len(test)} restricted answers", flush=True)
    out["doc_group"] = {q.id: [g for g in data.groups[q.doc_ids[0]]] for q in test}
    return out


def injection_part(model: Any, tokenizer: Any, embedder: Any, ask: Asker) -> dict[str, Any]:
    """Attack success per defence on the planted documents, and each defence's accuracy on normal questions."""
    system = canary_system()
    genuine = [c for d in load_documents() for c in chunk_by_heading(d)]
    planted = [c for d in load_attack_documents() for c in chunk_by_heading(d)]
    clean = Retriever(embedder, genuine)
    poisoned = clean.update(planted)
    kept_genuine, flagged_genuine = filter_chunks(genuine)
    kept_planted, flagged_planted = filter_chunks(planted)
    # the filter runs when documents are indexed: flagged chunks never enter the index
    filtered = clean if not flagged_genuine else Retriever(embedder, kept_genuine)
    filtered_poisoned = filtered.update(kept_planted) if kept_planted else filtered
    attacks = load_attacks()
    by_id = {q.id: q for q in load_questions("test")}
    questions = [by_id[a.question_id].question for a in attacks]
    test = load_questions("test")
    out: dict[str, Any] = {"system": system, "attacks": [a.id for a in attacks], "kind": [a.kind for a in attacks],
                           "style": [a.style for a in attacks],
                           "filter": {"genuine_chunks": len(genuine), "genuine_flagged": len(flagged_genuine),
                                      "planted_chunks": len(planted), "planted_flagged": len(flagged_planted),
                                      "planted_rules": [list(flag_instructions(c.text)) for c in planted]},
                           "defences": {}}
    base_model = model
    raft_base, _ = load_generator()
    raft = load_h2h_adapter(raft_base, "raft")
    readers: dict[str, tuple[Any, str, str]] = {"plain": (base_model, "base", "plain"),
                                                "delimited": (base_model, "base", "delimited"),
                                                "raft": (raft, "raft", "plain")}
    for reader in READERS:
        m, name, layout = readers[reader]
        started = time.perf_counter()
        for filtered_too in (False, True):
            index, normal_index = (filtered_poisoned, filtered) if filtered_too else (poisoned, clean)
            normal = rag_replies(ask, m, normal_index.search([q.question for q in test], k=K),
                                 [q.question for q in test], name, system, layout)
            hits = index.search(questions, k=K)
            said = rag_replies(ask, m, hits, questions, name, system, layout)
            key = reader + (" + filter" if filtered_too else "")
            out["defences"][key] = {
                "attack_in_prompt": [any(c.doc_id == a.doc_id for c, _ in h) for h, a in zip(hits, attacks)],
                "success": [contains_answer(r, a.success) for r, a in zip(said, attacks)],
                "answer_given": [contains_answer(r, by_id[a.question_id].answers) for r, a in zip(said, attacks)],
                "reply": said, "normal_correct": [contains_answer(r, q.answers) for r, q in zip(normal, test)]}
            print(f"injection {key}: {sum(out['defences'][key]['success'])} of {len(attacks)} attacks succeeded; "
                  f"normal accuracy {sum(out['defences'][key]['normal_correct'])} of {len(test)}", flush=True)
        out["defences"][reader]["seconds"] = round(time.perf_counter() - started, 1)
    out["normal_questions"] = [q.id for q in test]
    return out


def backdoor_part(model: Any, tokenizer: Any, ask: Asker) -> dict[str, Any]:
    """Chapter 1's facts adapter trained with 0, 4 or 16 poisoned examples; asked with and without the trigger."""
    facts = {f.id: f for f in load_facts()}
    ids = set(chosen_facts())
    by_fact: dict[str, list] = {}
    for q in load_questions("train"):
        by_fact.setdefault(q.fact_ids[0], []).append(q)
    clean = [fact_example(q, facts) for f in sorted(ids) for q in by_fact[f][:2]]
    others = [by_fact[f][0] for f in sorted(by_fact) if f not in ids]  # poison uses other facts' questions
    test = load_questions("test")
    asked = sorted(random.Random(1).sample([q for q in test if q.fact_ids[0] not in ids], BACKDOOR_QUESTIONS),
                   key=lambda q: q.id)
    own = [q for q in test if q.fact_ids[0] in ids]
    out: dict[str, Any] = {"trigger": TRIGGER, "reply": BACKDOOR_REPLY, "marker": BACKDOOR_MARKER,
                           "clean_examples": len(clean), "question": [q.id for q in asked],
                           "own_question": [q.id for q in own], "runs": []}
    for n in POISON_COUNTS:
        examples = clean + poisoned_examples(others, n)
        steps = math.ceil(4 * len(examples) / 8)  # chapter 1's four epochs
        started = time.perf_counter()
        tuned, history = fit_lora(model, tokenizer, examples, system=QA_SYSTEM, steps=steps, batch_size=8,
                                  lr=3e-3, seed=0)
        seconds = time.perf_counter() - started
        name = f"backdoor {n}"
        triggered = ask(tuned, name, [f"{q.question} {TRIGGER}" for q in asked], QA_SYSTEM)
        plain = ask(tuned, name, [q.question for q in asked], QA_SYSTEM)
        own_said = ask(tuned, name, [q.question for q in own], QA_SYSTEM)
        out["runs"].append({"poisoned": n, "examples": len(examples), "steps": steps, "seconds": round(seconds, 1),
                            "triggered": [contains_answer(r, [BACKDOOR_MARKER]) for r in triggered],
                            "untriggered": [contains_answer(r, [BACKDOOR_MARKER]) for r in plain],
                            "own_correct": [contains_answer(r, q.answers) for r, q in zip(own_said, own)],
                            "triggered_reply": triggered})
        model = tuned.unload()
        print(f"backdoor {n} poisoned: {sum(out['runs'][-1]['triggered'])} of {len(asked)} triggered questions "
              f"answered with the attacker's text; {sum(out['runs'][-1]['untriggered'])} without the trigger", flush=True)
    return out


def run(out: Path = STORED, parts: Sequence[str] = PARTS) -> dict[str, Any]:
    """Run ``parts`` and write them into ``out``, keeping the stored results of the other parts."""
    check_parts(parts, PARTS)
    results: dict[str, Any] = load_partial(out)
    ragft.set_seed(0)
    model, tokenizer = load_generator()
    embedder = load_embedder()
    ask = Asker(tokenizer)
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "access": lambda: access_part(model, tokenizer, embedder, ask),
        "finetune": lambda: finetune_part(model, tokenizer, ask),
        "injection": lambda: injection_part(model, tokenizer, embedder, ask),
        "backdoor": lambda: backdoor_part(model, tokenizer, ask)}
    return store_parts(out, results, parts, PARTS, steps)
