"""The source articles' comparative claims, numbered once, and each one's verdict computed from the stored results.

A verdict is never typed. For a claim about a difference, it follows the book's one rule: **supported** when
the 95 % interval of the difference excludes zero in the claimed direction, **opposite** when it excludes
zero the other way, **not supported** when it includes zero. A claim with several parts is **partly
supported** when some parts are supported and some not. A claim about a threshold (a cost ratio, a share)
states its threshold in ``rule``. ``judge`` returns one ``Judgement`` per claim, with the numbers it used.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from ragft.data import load_tickets
from ragft.finetune import stop_reason
from ragft.headtohead import clustered, correct, documents_of, runs, wording_differences, wording_scores
from ragft.stats import cluster_bootstrap, paired_bootstrap, rate, wilson_interval
from ragft.style import style_difference, style_rate
from ragft.summaries import summary_difference, summary_score
from ragft.triage import is_valid_record

SUPPORTED, NOT_SUPPORTED, OPPOSITE, PARTLY, UNTESTED = (
    "supported", "not supported", "opposite", "partly supported", "not tested")


@dataclass(frozen=True)
class Claim:
    number: int
    text: str  # the claim in one sentence, paraphrased from the articles
    chapter: str  # the page that tests it (``book/<chapter>.md``)


CLAIMS = [
    Claim(1, "RAG answers from up-to-date data without retraining; a fine-tuned model must be retrained to learn a "
             "change.", "head_to_head"),
    Claim(2, "RAG adds latency, the retrieval step; fine-tuning keeps latency low.", "head_to_head"),
    Claim(3, "Fine-tuning is resource-intensive, and parameter-efficient methods cut its cost drastically.",
          "scaling"),
    Claim(4, "Fine-tuning has low computational requirements and RAG high ones (one article); the others say the "
             "opposite.", "choosing"),
    Claim(5, "RAG needs a large database.", "scaling"),
    Claim(6, "Fine-tuning risks overfitting.", "training_data"),
    Claim(7, "Fine-tuning gives high precision and consistency on narrow tasks (format, labels).", "use_cases"),
    Claim(8, "Combining RAG and fine-tuning beats either alone.", "head_to_head"),
    Claim(9, "Large data and high precision call for RAG; small data and flexibility for fine-tuning.", "choosing"),
    Claim(10, "Relying on external data brings security risks that need controls.", "reliability"),
    Claim(11, "Fine-tuning is the way to a distinct communication style (a house style).", "use_cases"),
    Claim(12, "Both approaches suit summarisation: RAG for documents, fine-tuning for a domain's summaries.",
          "use_cases"),
]


@dataclass(frozen=True)
class Judgement:
    claim: Claim
    measured: str  # the numbers the verdict rests on, with their 95 % intervals and sample sizes
    verdict: str
    rule: str  # how the verdict follows from the numbers


def direction(interval: dict[str, float], claimed: int = 1) -> str:
    """The verdict on a difference claimed to be positive (``claimed=1``) or negative (``-1``)."""
    low, high = interval["low"] * claimed, interval["high"] * claimed
    if claimed < 0:
        low, high = high, low
    return SUPPORTED if low > 0 else OPPOSITE if high < 0 else NOT_SUPPORTED


def refuted_by(verdict: str) -> str:
    """The verdict on a claim that a measured difference argues against (RAG "needs" a large database, but
    RAG over a small one beats the model alone): a supported difference refutes it."""
    return SUPPORTED if verdict == OPPOSITE else NOT_SUPPORTED


def combine(parts: Sequence[str]) -> str:
    """One verdict for a claim of several parts: all supported, none, some, or all the opposite."""
    if all(p == SUPPORTED for p in parts):
        return SUPPORTED
    if all(p == OPPOSITE for p in parts):
        return OPPOSITE
    return PARTLY if any(p == SUPPORTED for p in parts) else NOT_SUPPORTED


def _diff(d: dict[str, float], digits: int = 3) -> str:
    value = d["diff"] if "diff" in d else d["mean"]
    return f"{value:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"


def _rate(outcomes: Sequence[bool]) -> str:
    r = rate(outcomes)
    return f"{r['rate']:.3f} [{r['low']:.3f}, {r['high']:.3f}] (n={r['n']})"


def _share(values: Sequence[bool]) -> float:
    return sum(values) / len(values)


def latency_difference(h2h: dict[str, Any], a: str = "rag", b: str = "finetuned") -> dict[str, Any] | None:
    """Claim 2's measurement: per question, total milliseconds (retrieval + reading the prompt + writing the
    same number of tokens) of ``a`` minus ``b``, with a paired bootstrap interval; and the parts' medians."""
    split = h2h["units"].get("latency split")
    if split is None:
        return None
    rows = split["systems"]

    def total(system: str) -> list[float]:
        r = rows[system]
        return [x + y for x, y in zip(r["retrieval_ms"], r["generate_ms"])]

    parts = {s: {k: statistics.median(v) for k, v in rows[s].items()} for s in rows}
    return {"difference": paired_bootstrap(total(a), total(b)), "median_total": {s: statistics.median(total(s))
                                                                                 for s in rows},
            "parts": parts, "questions": split["questions"], "new_tokens": split["new_tokens"]}


def judge(h2h: dict[str, Any], triage: dict[str, Any], curves: dict[str, Any], security: dict[str, Any],
          wording: dict[str, Any] | None = None, style: dict[str, Any] | None = None) -> list[Judgement]:
    """Every claim of ``CLAIMS`` judged on the stored results of chapters 3, 4, 5 and 8; with ``wording``
    (chapter 5's plainly worded questions), claim 8 is judged on both wordings; with ``style`` (chapter 4's
    house style and thread summaries), claims 11 and 12."""
    units = h2h["units"]
    rag_ok = correct(units["rag"])
    ft_ok = [statistics.mean(x) for x in zip(*(correct(r) for r in runs(h2h, "finetuned")))]
    base_ok = correct(units["base"])
    docs = documents_of(h2h)
    found = {}

    # 1. freshness: the new answer right after the change, on the update questions
    rag_new = units["rag"]["updates_after"]["correct"]
    ft_new = [statistics.mean(x) for x in zip(*(r["updates"]["correct"] for r in runs(h2h, "finetuned")))]
    retrained = units["retrain"]["updates"]["correct"]
    fresh = paired_bootstrap(rag_new, ft_new)
    found[1] = (f"new answer after the change: rag {_rate(rag_new)} after re-indexing for "
                f"{h2h['index']['reindex_seconds']:.1f} s; finetuned {_share(ft_new):.3f} before retraining, "
                f"{_share(retrained):.3f} after retraining for {units['retrain']['training_seconds']:.0f} s; "
                f"rag minus finetuned before retraining {_diff(fresh)}",
                direction(fresh), "the paired interval of rag minus finetuned (no retraining) excludes zero")

    # 2. latency at equal reply length, split into its parts
    lat = latency_difference(h2h)
    if lat is None:
        found[2] = ("latency split not stored (python -m ragft.experiments head-to-head)", UNTESTED, "")
    else:
        p = lat["parts"]
        found[2] = (f"{lat['questions']} questions, each reply {lat['new_tokens']} tokens: median total rag "
                    f"{lat['median_total']['rag']:.0f} ms, finetuned {lat['median_total']['finetuned']:.0f} ms, raft "
                    f"{lat['median_total']['raft']:.0f} ms; rag minus finetuned {_diff(lat['difference'], 0)} ms per "
                    f"answer; rag's search took {p['rag']['retrieval_ms']:.0f} ms and reading its "
                    f"{p['rag']['prompt_tokens']:.0f}-token prompt {p['rag']['prompt_ms']:.0f} ms, against "
                    f"{p['finetuned']['prompt_ms']:.0f} ms for the {p['finetuned']['prompt_tokens']:.0f}-token "
                    f"closed-book prompt (medians)",
                    direction({k: v for k, v in lat["difference"].items()}),
                    "at equal reply length, the paired interval of rag minus finetuned total time excludes zero")

    # 3. resource-intensive, and cut by parameter-efficient methods
    trained = units["train closed-book seed 0"]
    lora_params = trained["adapter_bytes"] / 4
    share = lora_params / (h2h["model_bytes"] / 4)
    seconds = statistics.mean(units[f"train closed-book seed {s}"]["training_seconds"] for s in h2h["seeds"])
    ratio = seconds / h2h["index"]["build_seconds"]
    # the second half, "cut drastically", needs full fine-tuning to compare with, which the book did not run
    parts3 = [SUPPORTED if ratio > 10 else NOT_SUPPORTED, NOT_SUPPORTED]
    found[3] = (f"LoRA trains {lora_params / 1e6:.2f} M of {h2h['model_bytes'] / 4e6:.0f} M parameters ({share:.2%}); "
                f"training took {seconds:.0f} s (mean of {len(h2h['seeds'])} seeds) against "
                f"{h2h['index']['build_seconds']:.1f} s to build the index ({ratio:.0f} times as long)",
                combine(parts3), "intensive: training takes over 10 times as long as indexing; cut drastically: not "
                                 "measured, since full fine-tuning was not run (training under 1 % of the weights "
                                 "is not by itself a cost cut); so partly supported")

    # 4. compute: per query (RAG) and one-off (fine-tuning)
    one_off = SUPPORTED if ratio > 1 else OPPOSITE  # the first article: fine-tuning low, RAG high
    per_query = OPPOSITE if lat is None else {SUPPORTED: OPPOSITE, OPPOSITE: SUPPORTED}.get(
        direction(lat["difference"]), NOT_SUPPORTED)
    found[4] = (f"one-off: training {seconds:.0f} s against indexing "
                f"{h2h['index']['build_seconds']:.1f} s; per query: "
                + (f"rag minus finetuned {_diff(lat['difference'], 0)} ms at equal reply length" if lat else "not measured"),
                PARTLY if {one_off, per_query} == {SUPPORTED, OPPOSITE} else combine([one_off, per_query]),
                "partly: RAG costs more per query (the claim 2 interval) while fine-tuning costs more up front, so "
                "each side is right about one half")

    # 5. a large database: RAG already works with the book's knowledge base
    small = cluster_bootstrap(rag_ok, docs, base_ok)
    n_docs = len(set(docs))
    found[5] = (f"with {n_docs} documents and {h2h['index']['chunks']} sections, rag minus base "
                f"{_diff(small)} (intervals resample documents)",
                refuted_by(direction(small)),
                "not supported when RAG over this small knowledge base beats the model alone (interval above zero)")

    # 6. overfitting: trained wording against new wording, and validation falling after its best step
    top = max(curves["facts"], key=lambda f: f["paraphrases"])
    n = top["examples"] // top["paraphrases"]
    seen, new = ({"rate": share, **dict(zip(("low", "high"), wilson_interval(round(share * n), n)))}
                 for share in (top["trained_wording"], top["new_wording"]))
    fell = [u for k, u in units.items() if k.startswith("train ") and u.get("val_accuracy")
            and u["best_step"] is not None and u["best_step"] < u["steps_run"]]
    found[6] = (f"{top['paraphrases']} paraphrases per fact: trained wording {seen['rate']:.3f} [{seen['low']:.3f}, "
                f"{seen['high']:.3f}], new wording {new['rate']:.3f} [{new['low']:.3f}, {new['high']:.3f}] (n={n} "
                f"each); validation fell after its best step in {len(fell)} of "
                f"{sum(1 for k, u in units.items() if k.startswith('train ') and u.get('val_accuracy'))} "
                f"head-to-head adapters",
                SUPPORTED if seen["low"] > new["high"] else NOT_SUPPORTED,
                "supported when the two intervals do not overlap (unpaired, so a strict test): the fine-tune "
                "answers its training wording better than a new one")

    # 7. precision and consistency on a narrow task
    tri = triage["units"]
    tickets = load_tickets("test")
    templates = [t.template for t in tickets]
    valid = [is_valid_record(r) for r in tri["adapter"]["replies"]]
    valid_base = [is_valid_record(r) for r in tri["zero-shot"]["replies"]]
    baselines = ["zero-shot", "zero-shot constrained", "few-shot", "few-shot constrained", "classifier"]
    best = max(baselines, key=lambda b: (tri[b]["exact_match"], -baselines.index(b)))
    labels = cluster_bootstrap(tri["adapter"]["exact"], templates, tri[best]["exact"])
    fmt = cluster_bootstrap(valid, templates, valid_base)
    kept = {c: _share(tri[f"consistency adapter {c}"]["same"]) for c in ("greeting", "signature", "reordered", "typo")}
    chosen = tri[f"adapter {triage['chosen_recipe']}"]
    found[7] = (f"ticket triage, {len(tickets)} test tickets from {len(set(templates))} templates, the adapter "
                f"(its training: {stop_reason(chosen)}): "
                f"valid record {_share(valid):.3f} against {_share(valid_base):.3f} zero-shot, difference "
                f"{_diff(fmt)}; exact match {tri['adapter']['exact_match']:.3f} against the best baseline ({best}) "
                f"{tri[best]['exact_match']:.3f}, difference {_diff(labels)}; same record after a harmless change "
                + " / ".join(f"{v:.3f}" for v in kept.values()),
                combine([direction(fmt), direction(labels)]),
                "format: valid records, adapter minus zero-shot; labels: exact match, adapter minus the best "
                "baseline; intervals resample templates; partly when one part holds")

    # 8. combining beats either alone
    pairs = [("raft", "rag"), ("raft", "finetuned"), ("rag+finetuned", "rag"), ("rag+finetuned", "finetuned")]
    c = clustered(h2h, pairs)
    measured8 = ("accuracy (n=255, intervals resample documents): " + ", ".join(
        f"{s} {c[s]['mean']:.3f}" for s in ("finetuned", "rag", "rag+finetuned", "raft")) + "; " + "; ".join(
        f"{a} minus {b} {_diff(c[f'{a} - {b}'])}" for a, b in pairs))
    parts8 = [direction(c[f"{a} - {b}"]) for a, b in pairs]
    rule8 = "each combination minus each single approach; supported when every interval excludes zero upwards"
    if wording is not None:
        plain = wording_differences(h2h, wording, pairs, "test_plain")
        accuracy = {s: statistics.mean(wording_scores(h2h, wording, s, "test_plain"))
                    for s in ("finetuned", "rag", "rag+finetuned", "raft")}
        measured8 = ("indirect wording: " + measured8 + ". Plain wording, the same 255 facts: " + ", ".join(
            f"{s} {v:.3f}" for s, v in accuracy.items()) + "; " + "; ".join(
            f"{a} minus {b} {_diff(plain[f'{a} - {b}'])}" for a, b in pairs))
        parts8 += [direction(plain[f"{a} - {b}"]) for a, b in pairs]
        rule8 += " on both wordings; partly when some do"
    found[8] = (measured8, combine(parts8), rule8)

    # 9. the data-size rule: small data should favour fine-tuning, but for facts it does not
    facts = cluster_bootstrap(rag_ok, docs, ft_ok)
    found[9] = (f"with small data on both sides ({h2h['sizes']['train']} training pairs, "
                f"{n_docs} documents), rag minus finetuned on facts {_diff(facts)}; on ticket format, the fine-tune "
                f"minus zero-shot {_diff(fmt)}",
                refuted_by(direction(facts)),
                "the rule predicts fine-tuning for small data; not supported when RAG still wins on facts at small "
                "data (what decides is facts or behaviour, not data size)")

    # 10. security: leaks without a filter, injections without a defence
    modes = security["access"]["modes"]
    leak, leak_filtered = modes["none"]["unauthorised"]["stated"], modes["before"]["unauthorised"]["stated"]
    defences = security["injection"]["defences"]
    injected = defences["plain"]["success"]
    best_defence = min((d for d in defences if d != "plain"), key=lambda d: _share(defences[d]["success"]))
    leak_r, inj_r = rate(leak), rate(injected)
    found[10] = (f"unauthorised facts stated with no filter {_rate(leak)}, with the filter before retrieval "
                 f"{_rate(leak_filtered)}; injections that succeed with no defence {_rate(injected)}, with the best "
                 f"({best_defence}) {_rate(defences[best_defence]['success'])}",
                 SUPPORTED if leak_r["low"] > 0 and inj_r["low"] > 0 else NOT_SUPPORTED,
                 "supported when both risks occur (their intervals exclude zero) without controls")

    if style is None:
        for number in (11, 12):
            found[number] = ("not measured (python -m ragft.experiments style)", UNTESTED, "")
    else:
        found[11] = style_claim(style["style"])
        found[12] = summary_claim(style["summaries"])
    return [Judgement(claim, *found[claim.number]) for claim in CLAIMS]


STYLE_ALTERNATIVES = ("guide in prompt", "guide retrieved", "few-shot")  # the house style without training


def style_claim(part: dict[str, Any], tuned: str = "lora+rag") -> tuple[str, str, str]:
    """Claim 11: the style fine-tune (with the retrieved facts, as every alternative has) minus each way of
    getting the style without training, on the same held-out emails: in keeping all six rules, and in keeping
    the five rules of form (all but "answer first", which also needs the right answer)."""
    systems = (tuned, *STYLE_ALTERNATIVES)
    parts, said = [], []
    for key, name in (("all_rules", "All six rules kept"), ("form_rules", "The five rules of form kept")):
        rates = {s: style_rate(part, s, key) for s in systems}
        diffs = {alt: style_difference(part, tuned, alt, key) for alt in STYLE_ALTERNATIVES}
        parts += [direction(d) for d in diffs.values()]
        said.append(f"{name}: " + ", ".join(f"{s} {r['mean']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"
                                             for s, r in rates.items())
                    + "; " + "; ".join(f"{tuned} minus {alt} {_diff(d)}" for alt, d in diffs.items()))
    content = {s: style_rate(part, s, "content")["mean"] for s in systems}
    measured = (f"{len(part['test'])} held-out emails on {len({e['doc_id'] for e in part['test']})} documents. "
                + ". ".join(said) + ". Answer in the reply: " + ", ".join(f"{s} {v:.3f}" for s, v in content.items()))
    return (measured, combine(parts),
            "the fine-tune minus each untrained way (style guide in the prompt, retrieved, three styled examples), "
            "for all six rules and for the five of form; supported when every document-clustered interval excludes "
            "zero upwards, partly when some do")


def summary_claim(part: dict[str, Any]) -> tuple[str, str, str]:
    """Claim 12, two parts: RAG-style summarising (retrieve, then summarise) minus the prompted model on the
    threads that need the documents, and the summary fine-tune minus the prompted model on every thread;
    both by ROUGE-L against the held-out notes."""
    rag = summary_difference(part, "rag", "prompted", only_documents=True)
    tuned = summary_difference(part, "lora", "prompted")
    score = {s: summary_score(part, s)["mean"] for s in part["systems"]}
    invented = {s: summary_score(part, s, "any_invented")["mean"] for s in part["systems"]}
    n_docs = summary_score(part, "rag", only_documents=True)["n"]
    measured = (f"ROUGE-L on {len(part['test'])} held-out threads: " + ", ".join(
        f"{s} {v:.3f}" for s, v in score.items()) + f"; rag minus prompted on the {n_docs} threads that need the "
        f"documents {_diff(rag)}; lora minus prompted on all {_diff(tuned)}; notes with an invented detail: "
        + ", ".join(f"{s} {v:.3f}" for s, v in invented.items()))
    return (measured, combine([direction(rag), direction(tuned)]),
            "two parts, ROUGE-L with template-clustered paired intervals: retrieval helps where the note needs the "
            "documents, and fine-tuning helps; supported when both exclude zero upwards, partly when one does")
