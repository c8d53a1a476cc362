"""Ticket triage, the behaviour task: the prompt and the JSON record, the book's one metric, what a
practitioner tries before fine-tuning (constrained decoding, few-shot prompts, a classifier), and the
trained adapter that ships with the package. The experiment that trains it is ``ragft.experiments.triage``.

Every system here is scored the same way: it writes (or is made to write) a reply for each test ticket, and
``exact_matches`` parses the reply and compares all three fields with the label.
"""
from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from ragft.data import TICKET_FIELDS, TICKET_VALUES, Ticket
from ragft.finetune import Example, load_adapter
from ragft.models import chat_prompt, generate

TICKET_INSTRUCTION = "Triage this support ticket. Reply with JSON: category, priority, product."
TICKET_SYSTEM = "You triage support tickets."  # short: every prompt token costs CPU time in training


def ticket_prompt(text: str, detailed: bool = False) -> str:
    """The triage instruction and the ticket; ``detailed`` also lists every allowed label value.

    Taught in notebook 02c.
    """
    if not text.strip():
        raise ValueError("the ticket text is empty")
    instruction = TICKET_INSTRUCTION
    if detailed:
        allowed = "; ".join(f"{k}: {', '.join(v)}" for k, v in TICKET_VALUES.items())
        instruction += f" Allowed values - {allowed}."
    return f"{instruction}\n\n{text.strip()}"


def ticket_completion(label: dict[str, str]) -> str:
    """The JSON reply for a ticket's label, keys in a fixed order.

    Taught in notebook 02c.
    """
    return json.dumps({k: label[k] for k in TICKET_FIELDS})


def ticket_example(ticket: Ticket) -> Example:
    """The training example for a ``Ticket``: the triage instruction and ticket, and its JSON label.

    Taught in notebook 02c.
    """
    return Example(ticket_prompt(ticket.text), ticket_completion(ticket.label))


def parse_json_reply(text: str) -> dict[str, Any] | None:
    """The first JSON object in a model reply, or None when there is none that parses."""
    start = text.find("{")
    while start != -1:
        depth = 0
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                try:
                    value = json.loads(text[start:end + 1])
                    return value if isinstance(value, dict) else None
                except json.JSONDecodeError:
                    break
        start = text.find("{", start + 1)
    return None


def is_valid_record(text: str) -> bool:
    """Whether a reply holds a triage record: JSON with exactly the three fields, each an allowed value."""
    record = parse_json_reply(text)
    return record is not None and set(record) == set(TICKET_VALUES) and all(
        record[k] in allowed for k, allowed in TICKET_VALUES.items())


def field_scores(replies: Sequence[str], labels: Sequence[dict[str, str]]) -> dict[str, float]:
    """Per-field accuracy, all-fields exact match (``exact_matches``), valid-JSON and valid-record rates."""
    if len(replies) != len(labels) or not labels:
        raise ValueError("replies and labels must be non-empty and of the same length")
    parsed = [parse_json_reply(r) or {} for r in replies]
    keys = list(labels[0])
    scores = {k: sum(p.get(k) == gold[k] for p, gold in zip(parsed, labels)) / len(labels) for k in keys}
    scores["exact_match"] = sum(exact_matches(replies, labels)) / len(labels)
    scores["valid_json"] = sum(bool(p) for p in parsed) / len(labels)
    scores["valid_record"] = sum(map(is_valid_record, replies)) / len(labels)
    return scores


def exact_matches(replies: Sequence[str], labels: Sequence[dict[str, str]]) -> list[bool]:
    """The book's one exact-match metric, per ticket: the reply parses and all three fields equal the label."""
    if len(replies) != len(labels):
        raise ValueError("replies and labels must be of the same length")
    parsed = [parse_json_reply(r) or {} for r in replies]
    return [all(p.get(k) == gold[k] for k in gold) for p, gold in zip(parsed, labels)]


MAX_NEW_TOKENS = 36  # the longest record is 30 tokens with the end-of-turn token
ADAPTER_DIR = Path(__file__).parent / "adapters" / "triage"


def triage(model: Any, tokenizer: Any, prompts: Sequence[str], constrained: bool = False,
           system: str | None = TICKET_SYSTEM, batch_size: int = 16) -> list[str]:
    """Greedy replies to triage prompts; ``constrained`` lets the model write only a valid record."""
    if not constrained:
        return generate(model, tokenizer, list(prompts), max_new_tokens=MAX_NEW_TOKENS, system=system,
                        batch_size=batch_size)
    constraint = RecordConstraint(tokenizer)
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):  # the constraint needs each batch's prompt width
        batch = list(prompts[start:start + batch_size])
        constraint.prompt_width = _prompt_width(tokenizer, batch, system)
        out += generate(model, tokenizer, batch, max_new_tokens=MAX_NEW_TOKENS, system=system,
                        batch_size=len(batch), prefix_allowed_tokens_fn=constraint)
    return out


def _prompt_width(tokenizer: Any, prompts: Sequence[str], system: str | None) -> int:
    """The padded length of a batch of chat prompts (where generation starts)."""
    return max(len(tokenizer(chat_prompt(tokenizer, p, system), add_special_tokens=False)["input_ids"])
               for p in prompts)


def valid_records() -> list[str]:
    """Every reply a triage model may give: one JSON record per combination of allowed values."""
    return [ticket_completion(dict(zip(TICKET_FIELDS, values)))
            for values in itertools.product(*(TICKET_VALUES[f] for f in TICKET_FIELDS))]


class RecordConstraint:
    """Constrained decoding for ``generate(prefix_allowed_tokens_fn=...)``: only the tokens that continue a valid record.

    The valid records (168 of them) are tokenized once into a prefix tree. At each step the model may
    choose only among the tokens that keep the reply on a path of the tree, so every reply is valid JSON
    with allowed values by construction; which path it takes is still the model's greedy choice.

    Taught in notebook 04b.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.eos = tokenizer.eos_token_id
        self.tree: dict[tuple[int, ...], set[int]] = {}
        for record in valid_records():
            ids = tokenizer(record, add_special_tokens=False)["input_ids"] + [self.eos]
            for i in range(len(ids)):
                self.tree.setdefault(tuple(ids[:i]), set()).add(ids[i])
        self.prompt_width = 0

    def __call__(self, batch_id: int, input_ids: Any) -> list[int]:
        prefix = tuple(input_ids[self.prompt_width:].tolist())
        return sorted(self.tree.get(prefix, {self.eos}))  # a finished reply only pads with end-of-turn


def few_shot_prompt(text: str, shots: Sequence[Ticket]) -> str:
    """The detailed triage instruction, ``shots`` (tickets with their records) as worked examples, then the ticket."""
    instruction, _, _ = ticket_prompt(text, detailed=True).partition("\n\n")
    examples = "\n\n".join(f"Ticket: {t.text.strip()}\nJSON: {ticket_completion(t.label)}" for t in shots)
    return f"{instruction}\n\nExamples:\n\n{examples}\n\nNow this ticket.\n\nTicket: {text.strip()}\nJSON:"


class NearestTickets:
    """The labelled tickets most similar to a new one, by embedding cosine (retrieval, for behaviour)."""

    def __init__(self, embedder: Any, tickets: Sequence[Ticket]) -> None:
        if not tickets:
            raise ValueError("no labelled tickets to retrieve from")
        self.embedder, self.tickets = embedder, list(tickets)
        self.vectors = embedder.encode([t.text for t in self.tickets], normalize_embeddings=True,
                                       show_progress_bar=False)

    def nearest(self, texts: Sequence[str], k: int) -> list[list[Ticket]]:
        """For each text, its ``k`` nearest labelled tickets, the most similar last (closest to the question)."""
        import numpy as np

        if not 1 <= k <= len(self.tickets):
            raise ValueError(f"k must be between 1 and {len(self.tickets)}, got {k}")
        queries = self.embedder.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        order = np.argsort(-(queries @ self.vectors.T), axis=1, kind="stable")[:, :k]
        return [[self.tickets[i] for i in row[::-1]] for row in order]


def template_split(tickets: Sequence[Ticket], per_category: int = 2, seed: int = 0
                   ) -> tuple[list[Ticket], list[Ticket]]:
    """(train, validation): every ticket of ``per_category`` templates of each category goes to validation.

    Tickets made from one template share their wording, so a random cut puts near-copies of a training
    ticket into validation and validation then promises more than test (whose templates training never
    saw) will give. Holding out whole templates makes validation ask what test asks. The templates are
    drawn with a fixed seed, category by category, so every label value of ``category`` is validated.

    Taught in notebook 04b.
    """
    templates: dict[str, set[str]] = {}
    for t in tickets:
        if not t.template:
            raise ValueError(f"ticket {t.id} names no template: a template-level split needs one")
        templates.setdefault(t.label["category"], set()).add(t.template)
    rng = random.Random(seed)
    held: set[str] = set()
    for category in sorted(templates):
        names = sorted(templates[category])
        if len(names) <= per_category:
            raise ValueError(f"category {category!r} has {len(names)} templates: too few to hold "
                             f"{per_category} out and still train on it")
        held.update(rng.sample(names, per_category))
    return [t for t in tickets if t.template not in held], [t for t in tickets if t.template in held]


class TicketClassifier:
    """Sentence embeddings and one logistic regression per field: the classifier a practitioner tries first.

    Taught in notebook 04b.
    """

    def __init__(self, embedder: Any, tickets: Sequence[Ticket], C: float = 1.0) -> None:
        from sklearn.linear_model import LogisticRegression

        self.embedder = embedder
        x = self._embed([t.text for t in tickets])
        self.heads = {f: LogisticRegression(C=C, max_iter=2000).fit(x, [t.label[f] for t in tickets])
                      for f in TICKET_FIELDS}

    def _embed(self, texts: Sequence[str]) -> Any:
        return self.embedder.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)

    def replies(self, texts: Sequence[str]) -> list[str]:
        """The predicted record of each text, written as the JSON reply a model would give."""
        x = self._embed(texts)
        predicted = {f: head.predict(x) for f, head in self.heads.items()}
        return [ticket_completion({f: str(predicted[f][i]) for f in predicted}) for i in range(len(texts))]


def load_triage_adapter(model: Any, folder: str | Path = ADAPTER_DIR) -> Any:
    """The converged triage adapter that ships with ``ragft`` (made by ``python -m ragft.experiments triage``)."""
    if not (Path(folder) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no triage adapter in {folder}: run python -m ragft.experiments triage")
    return load_adapter(model, folder)


# Changes that must not change a ticket's record (claim 7: consistency).
def add_greeting(text: str) -> str:
    """The ticket after a greeting line."""
    return f"Hello team,\n\n{text}"


def add_signature(text: str) -> str:
    """The ticket before a sign-off and a name."""
    return f"{text}\n\nThanks in advance,\nA customer"


SENTENCE = re.compile(r"(?<=[.!?])\s+")


def reorder_sentences(text: str, seed: int = 0) -> str:
    """The ticket's sentences in another order (a seeded shuffle; a one-sentence ticket stays as it is)."""
    sentences = [s for s in SENTENCE.split(text.strip()) if s]
    if len(sentences) < 2:
        return text
    rng = random.Random(seed)
    shuffled = sentences[:]
    while shuffled == sentences:
        rng.shuffle(shuffled)
    return " ".join(shuffled)


def add_typo(text: str, seed: int = 0) -> str:
    """The ticket with two neighbouring letters swapped in one longer word (never a product code or number)."""
    words = list(re.finditer(r"\b[a-z]{6,}\b", text))
    if not words:
        return text
    m = random.Random(seed).choice(words)
    i = m.start() + len(m.group()) // 2
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]


PERTURBATIONS: dict[str, Callable[[str], str]] = {"greeting": add_greeting, "signature": add_signature,
                                                    "reordered": reorder_sentences, "typo": add_typo}


def same_record(before: Sequence[str], after: Sequence[str]) -> list[bool]:
    """Per ticket: does the reply after a change parse to the same record as before?"""
    if len(before) != len(after):
        raise ValueError("before and after must be of the same length")
    records = [(parse_json_reply(b), parse_json_reply(a)) for b, a in zip(before, after)]
    return [a is not None and a == b for b, a in records]
