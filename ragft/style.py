"""The Fernhollow house style for support replies, and one checker per rule.

The style guide (``ragft/data/style/style_guide.md``, loaded by ``load_style_guide``) has six rules:

1. greeting: the first line is "Hi <first name>," (never "Dear", "Hello" or the full name);
2. answer first: the first sentence after the greeting holds the reference answer (or an alias);
3. short: at most three sentences between the greeting and the sign-off;
4. numbers: prices as "EUR 65" or "EUR 1,250.00" (never "€", "euro(s)" or "65 EUR"), and one space
   between a number and its unit ("140 mm", "15 minutes", "2.4 GHz"), as the documents write them;
5. sign-off: the last line is exactly "Fernhollow Support", with no closing formula before it;
6. no banned phrases ("I hope this helps", "unfortunately", ... in any capitalisation).

A style is something a model can be told (a prompt), shown (a retrieved style guide) or trained into (a
fine-tune). To tell them apart the book scores every reply on each rule separately (``check_reply``, one
bool per rule and ``all_rules``) and on content separately (``content_correct``), so that a reply can be
right and off-style, or on-style and wrong. Content ignores the spacing between a number and its unit
("140mm" still holds the answer "140 mm"); rule 4 alone judges how it is written.

Every checker is a regular expression or a string comparison: no model, nothing to download, and the
same answer on every machine. ``split_reply`` cuts a reply into greeting line, body sentences and sign-off,
and the rules that count or locate sentences use it.
"""
from __future__ import annotations

import re
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

from ragft.data import Question
from ragft.finetune import load_adapter
from ragft.stats import cluster_bootstrap

STYLE_GUIDE_PATH = Path(__file__).resolve().parent / "data" / "style" / "style_guide.md"

SIGN_OFF = "Fernhollow Support"
MAX_SENTENCES = 3

RULES: dict[str, str] = {
    "greeting": 'The first line is "Hi <first name>," with the customer\'s first name.',
    "answer_first": "The first sentence after the greeting gives the answer.",
    "short": "At most three sentences between the greeting and the sign-off.",
    "numbers": 'Prices as "EUR 65" / "EUR 1,250.00"; one space between a number and its unit ("140 mm").',
    "sign_off": 'The last line is exactly "Fernhollow Support".',
    "no_banned_phrases": 'No filler phrases such as "I hope this helps" or "unfortunately".',
}

BANNED_PHRASES: tuple[str, ...] = ("I hope this helps", "unfortunately", "please note", "as an AI", "great question",
                                   "feel free to", "thank you for reaching out", "don't hesitate")

# --- splitting a reply -------------------------------------------------------------------------------------

# Words that end in a full stop without ending the sentence; compared lower-case, leading brackets stripped.
ABBREVIATIONS = frozenset({"e.g.", "i.e.", "approx.", "ca.", "cf.", "vs.", "incl.", "excl.", "esp.", "max.",
                           "mr.", "mrs.", "ms.", "dr.", "st.", "fig.", "ref.", "tel.", "nr.", "nos.", "pp.",
                           "p.", "dept.", "ext."})
# These end a sentence only when the next word starts with a capital: "cables etc. are" vs "cables etc. Then".
AMBIGUOUS_ABBREVIATIONS = frozenset({"etc.", "a.m.", "p.m."})

_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")
_LAST_TOKEN = re.compile(r"\S+$")

_GREETING_LINE = re.compile(
    r"^(?:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day))\b[^.?\n]{0,60}$", re.I)
_VALEDICTION = (r"(?:(?:best|kind|warm|warmest|many|with\s+kind|with\s+best)\s+)?(?:regards|wishes|thanks)"
                r"|thanks|thank\s+you|cheers|sincerely|best|all\s+the\s+best|take\s+care"
                r"|yours(?:\s+(?:sincerely|truly|faithfully))?")
_CLOSING_LINE = re.compile(
    rf"^(?:[-\u2013\u2014~]+\s*)?(?:"
    rf"(?:{_VALEDICTION})\s*[,.!]?"  # "Best regards," on its own line
    rf"|(?:(?:{_VALEDICTION})\s*[,.!]?\s*)?(?:\w+\s+(?:from|at)\s+)?(?:the\s+)?fernhollow"
    rf"(?:\s+(?:instruments|customer|support|care|service|team|help\s*desk))*\s*[.!]?"  # "Fernhollow Support"
    rf")$", re.I)


def _require_text(reply: str) -> str:
    """The reply itself, or a TypeError that says what was passed instead."""
    if not isinstance(reply, str):
        raise TypeError(f"reply must be a string, not {type(reply).__name__}")
    return reply


def split_sentences(text: str) -> list[str]:
    """The sentences of a text: each line break ends one, and so does ., ! or ? followed by whitespace.

    A full stop does not end a sentence inside a number or version ("2.4 GHz", "EUR 1,250.00", "4.2.1": no
    whitespace follows it), after an abbreviation ("e.g.", "i.e.", "approx.", "No. 4"), or as a list
    marker at the start of a line ("1. Unplug the gateway"). Text after the last full stop, such as a
    final sentence without one, is a sentence too.
    """
    sentences = []
    for line in _require_text(text).splitlines():
        line, start = line.strip(), 0
        for match in _BOUNDARY.finditer(line):
            last = _LAST_TOKEN.search(line, 0, match.end())
            token = last.group().lstrip("([\"'\u201c\u2018").lower()
            rest = line[match.end():].lstrip()
            if (token in ABBREVIATIONS or (token == "no." and rest[:1].isdigit())
                    or (token in AMBIGUOUS_ABBREVIATIONS and not rest[:1].isupper())
                    or (last.start() == 0 and re.fullmatch(r"\d+\.", token))):  # "1. " opens a list item
                continue
            sentences.append(line[start:match.end()].strip())
            start = match.end()
        sentences.append(line[start:].strip())
    return [s for s in sentences if s]


def split_reply(reply: str) -> tuple[str | None, list[str], str | None]:
    """A reply cut into (greeting line, body sentences, sign-off), each part None or empty when missing.

    The greeting is the first non-empty line when it is a salutation ("Hi Marta,", "Dear Ms Jansen,",
    "Hello!") and holds no full stop. The sign-off is the run of closing lines at the end: a signature
    naming Fernhollow ("Fernhollow Support", "The Fernhollow Support Team") and any closing formula before
    it ("Best regards,"), joined by newlines; a line after the signature means there is no sign-off.
    Everything in between is the body, cut into sentences by ``split_sentences``.
    """
    lines = [line.strip() for line in _require_text(reply).splitlines() if line.strip()]
    greeting = lines[0] if lines and _GREETING_LINE.match(lines[0]) else None
    first = 1 if greeting is not None else 0
    end = len(lines)
    while end > first and _CLOSING_LINE.match(lines[end - 1]):
        end -= 1
    sign_off = "\n".join(lines[end:]) or None
    return greeting, split_sentences("\n".join(lines[first:end])), sign_off


# --- content: is an answer in the text ---------------------------------------------------------------------

def _answer_list(answers: Sequence[str]) -> list[str]:
    """The non-empty accepted answers; a single string counts as one answer."""
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, Sequence) or not all(isinstance(a, str) for a in answers):
        raise TypeError("answers must be a list of strings (the reference answer and its aliases)")
    kept = [a for a in answers if a.strip()]
    if not kept:
        raise ValueError("no answers given: pass the reference answer and its aliases, e.g. ['140 mm']")
    return kept


def _normalise(text: str) -> str:
    """Lower-case, a space between a number and a word glued to it ("140mm" -> "140 mm"), whitespace collapsed."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)", " ", text)
    return " ".join(text.split())


def _contains(text: str, answers: Sequence[str]) -> bool:
    """Whether one of the answers occurs in the text, after ``_normalise``, not as part of a longer word or number."""
    haystack = _normalise(text)
    for answer in answers:
        needle = _normalise(answer)
        pattern = re.escape(needle)
        if needle[0].isalnum():
            pattern = r"(?<!\w)(?<!\d[.,])" + pattern  # "16" is not in "160" or "1.16"
        if needle[-1].isalnum():
            pattern += r"(?!\w)(?![.,]\d)"  # "EUR 89" is not in "EUR 899" or "EUR 89.50"
        if re.search(pattern, haystack):
            return True
    return False


def content_correct(reply: str, answers: Sequence[str]) -> bool:
    """Whether one of the accepted answers occurs anywhere in the reply (case and spacing ignored)."""
    return _contains(_require_text(reply), _answer_list(answers))


# --- one checker per rule ----------------------------------------------------------------------------------

def greets_by_first_name(reply: str, first_name: str) -> bool:
    """Rule 1: the first line is exactly "Hi <first name>," (spaces inside the line collapsed)."""
    if not isinstance(first_name, str) or not first_name.strip():
        raise ValueError("first_name is empty: pass the customer's first name, e.g. 'Marta'")
    if any(c in first_name for c in ",\n"):
        raise ValueError(f"first_name {first_name!r} holds a comma or line break: pass the first name only")
    greeting = split_reply(reply)[0]
    return greeting is not None and " ".join(greeting.split()) == f"Hi {' '.join(first_name.split())},"


def answer_first(reply: str, answers: Sequence[str]) -> bool:
    """Rule 2: one of the accepted answers occurs in the first sentence after the greeting."""
    answers = _answer_list(answers)
    body = split_reply(reply)[1]
    return bool(body) and _contains(body[0], answers)


def at_most_sentences(reply: str, n: int = MAX_SENTENCES) -> bool:
    """Rule 3: the body (between greeting and sign-off) has at most ``n`` sentences."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number of sentences, 0 or more, not {n!r}")
    return len(split_reply(reply)[1]) <= n


# Unit symbols are case-sensitive ("4G" is a network, not 4 grams); unit words are not.
UNIT_SYMBOLS = ("mm", "cm", "m", "km", "\u00b5m", "nm", "m\u00b2", "m\u00b3", "ha", "mg", "g", "kg", "ms", "\u00b5s",
                "s", "min", "h", "Hz", "kHz", "MHz", "GHz", "mV", "V", "kV", "mA", "A", "mAh", "Ah", "mW", "W", "kW",
                "Wh", "kWh", "dB", "dBm", "dBi", "\u00b0C", "\u00b0F", "ppm", "L", "ml", "mL", "kB", "KB", "MB",
                "GB", "TB", "bit/s", "kbit/s", "Mbit/s", "mbar", "bar", "hPa", "kPa", "Pa", "dS/m", "mS/cm", "lx")
UNIT_WORDS = ("seconds?", "secs?", "minutes?", "mins", "hours?", "hrs?", "days?", "weeks?", "months?", "years?",
              "litres?", "liters?", "metres?", "meters?", "millimetres?", "millimeters?", "centimetres?",
              "centimeters?", "kilometres?", "kilometers?", "grams?", "kilograms?", "volts?", "watts?", "degrees?")
_UNIT = "|".join([re.escape(u) for u in sorted(UNIT_SYMBOLS, key=len, reverse=True)]
                 + [f"(?i:{w})" for w in UNIT_WORDS])
_NUMBER_UNIT = re.compile(rf"(?<![\w.,])(\d+(?:[.,]\d+)*)([^\S\n]*)({_UNIT})(?![\w\u00b2\u00b3/])")
_AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})*(?:\.\d+)?")
_NUM = r"\d(?:[\d,.]*\d)?"  # a number as written, without a full stop that ends the sentence
_PRICE_CHECKS = (
    (re.compile(rf"(?:{_NUM}[^\S\n]*)?\u20ac(?:[^\S\n]*{_NUM})?"),
     'the "\u20ac" sign: write the code EUR before the amount'),
    (re.compile(rf"(?:{_NUM}[^\S\n]*)?(?<![^\W\d_])euros?\b", re.I),
     'the word "euro": write the code EUR before the amount'),
    (re.compile(rf"(?<![\w.,]){_NUM}[^\S\n]*EUR\b", re.I), "the code after the amount: write EUR before it"),
    (re.compile(r"\b(?!EUR\b)[Ee][Uu][Rr]\b"), "a lower-case currency code: write EUR"),
    (re.compile(rf"\bEUR{_NUM}"), "no space after EUR: write EUR 65"),
    (re.compile(rf"\bEUR(?:[^\S\n]{{2,}}|[^\S\n]*[\t\u00a0\u202f][^\S\n]*){_NUM}"), "not one space after EUR"),
)


def number_style_violations(reply: str) -> list[str]:
    """Rule 4's failures, each as the offending text and what is wrong with it (empty when the rule holds)."""
    text = _require_text(reply)
    found = [f"{m.group()!r}: {why}" for pattern, why in _PRICE_CHECKS for m in pattern.finditer(text)]
    for m in re.finditer(r"\bEUR (\d[\d,.]*\d|\d)", text):
        if not _AMOUNT.fullmatch(m.group(1)):
            found.append(f"{m.group()!r}: write the amount as 65, 7.90 or 1,250.00 (commas for thousands)")
    for m in _NUMBER_UNIT.finditer(re.sub(r"`[^`\n]*`", " ", text)):  # code such as `interval=1h` is exempt
        number, space, unit = m.groups()
        if unit == "s" and re.fullmatch(r"\d{3}0", number):
            continue  # a decade ("the 1990s"), not seconds
        if space != " ":
            found.append(f"{m.group()!r}: put one space between the number and its unit ({number} {unit})")
    return found


def numbers_house_style(reply: str) -> bool:
    """Rule 4: prices as "EUR 65" / "EUR 1,250.00" and one space between a number and its unit."""
    return not number_style_violations(reply)


def signs_off(reply: str) -> bool:
    """Rule 5: the reply ends with the line "Fernhollow Support", with no closing formula before it."""
    return split_reply(reply)[2] == SIGN_OFF


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A banned phrase as a case-insensitive whole-word pattern; any whitespace, either apostrophe."""
    words = [re.escape(w).replace("'", "['\u2019]") for w in phrase.split()]
    return re.compile(r"\b" + r"\s+".join(words) + r"\b", re.I)


_BANNED = {phrase: _phrase_pattern(phrase) for phrase in BANNED_PHRASES}
_BANNED["don't hesitate"] = re.compile(rf"{_BANNED[BANNED_PHRASES[-1]].pattern}|\bdo\s+not\s+hesitate\b", re.I)


def banned_phrases_in(reply: str) -> list[str]:
    """The banned phrases a reply uses, in ``BANNED_PHRASES`` order ("do not hesitate" counts as "don't hesitate")."""
    text = _require_text(reply)
    return [phrase for phrase, pattern in _BANNED.items() if pattern.search(text)]


def no_banned_phrases(reply: str) -> bool:
    """Rule 6: none of ``BANNED_PHRASES`` occurs, in any capitalisation."""
    return not banned_phrases_in(reply)


# --- every rule at once ------------------------------------------------------------------------------------

def check_reply(reply: str, first_name: str, answers: Sequence[str]) -> dict[str, bool]:
    """One bool per rule in ``RULES`` (in that order) and ``all_rules``: whether every rule holds.

    Taught in notebook 04c.
    """
    result = {"greeting": greets_by_first_name(reply, first_name), "answer_first": answer_first(reply, answers),
              "short": at_most_sentences(reply), "numbers": numbers_house_style(reply),
              "sign_off": signs_off(reply), "no_banned_phrases": no_banned_phrases(reply)}
    return {**result, "all_rules": all(result.values())}


def style_violations(reply: str, first_name: str, answers: Sequence[str]) -> list[str]:
    """Why a reply fails the style: one line per broken rule, naming the rule and what was found."""
    checks = check_reply(reply, first_name, answers)
    greeting, body, sign_off = split_reply(reply)
    first_sentence = body[0] if body else None
    details = {
        "greeting": f"first line is {greeting!r}, expected {'Hi ' + first_name.strip() + ','!r}",
        "answer_first": f"first sentence is {first_sentence!r}",
        "short": f"{len(body)} sentences in the body",
        "numbers": "; ".join(number_style_violations(reply)),
        "sign_off": f"sign-off is {sign_off!r}",
        "no_banned_phrases": ", ".join(banned_phrases_in(reply)),
    }
    return [f"{rule}: {details[rule]}" for rule in RULES if not checks[rule]]


def load_style_guide() -> str:
    """The text of the Fernhollow support reply style guide (``STYLE_GUIDE_PATH``)."""
    if not STYLE_GUIDE_PATH.is_file():
        raise FileNotFoundError(f"style guide not found at {STYLE_GUIDE_PATH}: reinstall the package "
                                "(pip install -e .) so that ragft/data/style/ is included")
    return STYLE_GUIDE_PATH.read_text(encoding="utf-8")


# --- the house-style experiment: customer emails, styled replies, prompts ----------------------------------

FIRST_NAMES = ("Marta", "Jonas", "Priya", "Tomas", "Aoife", "Kenji", "Lena", "Oskar", "Sanne", "Mateo", "Ines",
               "Ruben", "Yuki", "Farid", "Grace", "Henrik", "Nadia", "Piet", "Amara", "Stefan")
SURNAMES = ("Jansen", "Okafor", "Lindqvist", "Moreau", "Brennan", "Tanaka", "Novak", "Ferreira", "de Vries",
            "Schmidt", "Kowalski", "Haddad", "Costa", "Byrne", "Nilsen")
EMAIL_TEMPLATES = (  # how customers write: the greeting, the question, the name in the signature
    "Hello,\n{question}\nThanks,\n{first} {last}",
    "Hi Fernhollow team,\n{question}\nBest regards,\n{first} {last}",
    "Dear Support,\n{question}\nKind regards,\n{first} {last}",
    "{question}\n{first}",
    "Good morning,\nquick question: {question}\nCheers,\n{first}",
    "Hi,\n{question} Thanks in advance.\n{first} {last}",
)


@dataclass(frozen=True)
class StyleItem:
    """One customer email with a known answer: what the house-style experiment asks every system.

    Taught in notebook 04c.
    """

    id: str
    email: str
    first_name: str
    question: str
    answers: tuple[str, ...]  # the reference answer and its aliases
    doc_id: str  # the document that holds the answer (intervals resample documents)
    fact_id: str


def customer_email(question: str, first: str, last: str, template: int) -> str:
    """A customer's email around ``question``, signed with their name, in one of ``EMAIL_TEMPLATES``."""
    return EMAIL_TEMPLATES[template % len(EMAIL_TEMPLATES)].format(question=question.strip(), first=first, last=last)


def style_items(questions: Sequence[Question], seed: int = 0) -> list[StyleItem]:
    """A ``StyleItem`` per question (``ragft.data.Question``), with a first name, surname and email template
    drawn with a fixed seed: the same questions always become the same emails."""
    import random

    rng = random.Random(seed)
    items = []
    for q in questions:
        first, last, template = rng.choice(FIRST_NAMES), rng.choice(SURNAMES), rng.randrange(len(EMAIL_TEMPLATES))
        items.append(StyleItem(q.id, customer_email(q.question, first, last, template), first, q.question,
                               (q.answer, *q.aliases), q.doc_ids[0], q.fact_ids[0]))
    return items


def styled_reply(first_name: str, statement: str) -> str:
    """The reply the house style asks for, built from a fact's statement: greeting, the answer, sign-off.

    Taught in notebook 04c.
    """
    return f"Hi {first_name},\n{statement.strip()}\n{SIGN_OFF}"


REPLY_INSTRUCTION = "Write Fernhollow Support's reply to this customer email."


def reply_prompt(email: str, contexts: Sequence[str] = (), guide: str | None = None,
                 examples: Sequence[tuple[str, str]] = ()) -> str:
    """The prompt for a support reply: the style guide (when given), worked examples (email, reply), the
    retrieved text, then the customer's email and the instruction.

    Taught in notebook 04c.
    """
    parts = []
    if guide:
        parts.append(guide.strip())
    for shot_email, shot_reply in examples:
        parts.append(f"Customer email:\n{shot_email}\n\nReply:\n{shot_reply}")
    parts += [c.strip() for c in contexts]
    parts.append(f"Customer email:\n{email.strip()}\n\n{REPLY_INSTRUCTION}")
    return "\n\n".join(parts)


def compliance(replies: Sequence[str], items: Sequence[StyleItem]) -> dict[str, list[int]]:
    """Per item, 1 or 0 for every rule, for ``all_rules`` and for ``content`` (the answer anywhere in the reply)."""
    if len(replies) != len(items):
        raise ValueError(f"{len(replies)} replies for {len(items)} items")
    out: dict[str, list[int]] = {rule: [] for rule in [*RULES, "all_rules", "content"]}
    for reply, item in zip(replies, items):
        checks = check_reply(reply, item.first_name, item.answers)
        checks["content"] = content_correct(reply, item.answers)
        for key in out:
            out[key].append(int(checks[key]))
    return out


# --- the stored results: rates with intervals, paired differences -----------------------------------------

STYLE_KEYS = (*RULES, "all_rules", "form_rules", "content")
FORM_RULES = tuple(rule for rule in RULES if rule != "answer_first")  # the style alone, whatever the answer


def style_outcomes(part: dict[str, Any], system: str, key: str = "all_rules") -> list[int]:
    """Per stored test email, 1 or 0 for ``key``: a rule, ``all_rules``, ``content``, or ``form_rules`` (the five
    rules that do not depend on knowing the answer: everything but answer first)."""
    if system not in part["systems"]:
        raise ValueError(f"no system {system!r}; stored: {', '.join(part['systems'])}")
    if key not in STYLE_KEYS:
        raise ValueError(f"key must be one of {STYLE_KEYS}, got {key!r}")
    stored = part["systems"][system]
    if key == "form_rules":
        return [int(all(kept)) for kept in zip(*(stored[rule] for rule in FORM_RULES))]
    return list(stored[key])


def style_rate(part: dict[str, Any], system: str, key: str = "all_rules") -> dict[str, Any]:
    """One system's rate of ``key`` (see ``style_outcomes``) on the stored test emails, with a 95 % interval
    that resamples documents (emails about one document share its section)."""
    return cluster_bootstrap(style_outcomes(part, system, key), [e["doc_id"] for e in part["test"]])


def style_difference(part: dict[str, Any], a: str, b: str, key: str = "all_rules") -> dict[str, Any]:
    """``a``'s rate of ``key`` minus ``b``'s on the same emails, with a document-clustered paired 95 % interval."""
    return cluster_bootstrap(style_outcomes(part, a, key), [e["doc_id"] for e in part["test"]],
                             style_outcomes(part, b, key))


def style_table(part: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per system: every rule's rate, all rules and content with their intervals, and the cost."""
    rows = []
    for system, stored in part["systems"].items():
        row: dict[str, Any] = {"system": system, "n": len(stored["all_rules"])}
        for key in STYLE_KEYS:
            r = style_rate(part, system, key)
            row[key] = round(r["mean"], 3)
            if key in ("all_rules", "form_rules", "content"):
                row[f"{key}_interval"] = (round(r["low"], 3), round(r["high"], 3))
        row.update(prompt_tokens=stored["prompt_tokens"], seconds_per_reply=stored["seconds_per_reply"],
                   training_seconds=stored.get("training_seconds", 0.0))
        rows.append(row)
    return rows


STYLE_ADAPTER_DIR = Path(__file__).resolve().parent / "adapters" / "style"


def load_style_adapter(model: Any, folder: str | Path = STYLE_ADAPTER_DIR) -> Any:
    """The house-style adapter that ships with ``ragft`` (made by ``python -m ragft.experiments style``)."""
    return load_adapter(model, folder, made_by="python -m ragft.experiments style")
