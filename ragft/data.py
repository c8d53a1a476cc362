"""The running example: Fernhollow Instruments' knowledge base, question sets and ticket task.

Everything here is plain files shipped inside the package (``ragft/data/``), loaded into
small dataclasses. ``validate`` checks that the files agree with each other, and
``find_leaks`` checks that no test question is a near-copy of a training question.
"""
from __future__ import annotations

import codecs
import json
import os
import re
import unicodedata
from dataclasses import MISSING, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

QUESTION_SPLITS = ("train", "test", "test_plain", "unanswerable", "validation_unanswerable", "updates")
OPTIONAL_SPLITS = ("test_plain", "validation_unanswerable")  # a data folder of your own may leave these out
UNANSWERABLE_SPLITS = ("unanswerable", "validation_unanswerable")  # no answer in the knowledge base
TICKET_SPLITS = ("train", "test")
TICKET_FIELDS = ("category", "priority", "product")
TICKET_VALUES = {
    "category": ("billing", "shipping", "hardware_fault", "connectivity", "account_access", "feature_request"),
    "priority": ("low", "normal", "high", "urgent"),
    "product": ("Rootline R2", "Dewpoint Mini", "Canopy Gateway CG-4", "Irrigo V3", "Fieldbook", "Relay API", "none"),
}


@dataclass(frozen=True)
class Document:
    """One Markdown document of the knowledge base."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Fact:
    """One atomic fact, stated in exactly one document, with a short answer span."""

    id: str
    doc_id: str
    statement: str
    answer: str


@dataclass(frozen=True)
class Question:
    """A question with its reference answer and the facts and documents that answer it."""

    id: str
    question: str
    answer: str | None
    fact_ids: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    old_answer: str | None = None
    old_text: str | None = None
    new_text: str | None = None

    @property
    def answers(self) -> tuple[str, ...]:
        """The reference answer and its accepted aliases (empty when unanswerable)."""
        return () if self.answer is None else (self.answer, *self.aliases)


@dataclass(frozen=True)
class Conversation:
    """A scripted chat: the first question stands alone, later ones lean on the turns before."""

    id: str
    turns: tuple[Question, ...]


@dataclass(frozen=True)
class Ticket:
    """A support ticket and the JSON record a triage model should produce for it."""

    id: str
    text: str
    label: dict[str, str] = field(default_factory=dict)
    template: str = ""  # the hand-written template it was made from: tickets of one template are not independent


def data_dir() -> Path:
    """Folder holding the running example inside the installed package."""
    return Path(str(resources.files("ragft") / "data"))


def _root(root: str | Path | None) -> Path:
    return data_dir() if root is None else Path(root)


def _allowed_fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A dataclass's field names, and those of them without a default (required in a JSONL row)."""
    names = tuple(f.name for f in fields(cls))
    required = tuple(f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)
    return names, required


def _check_fields(row: Any, allowed: Sequence[str], required: Sequence[str], where: str) -> None:
    """A ValueError saying ``where``, unless ``row`` is an object with only ``allowed`` and all ``required`` keys."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object {{...}}, got {type(row).__name__}")
    unknown = [k for k in row if k not in allowed]
    missing = [k for k in required if k not in row]
    if unknown or missing:
        problem = "; ".join(([f"unknown field(s) {', '.join(map(repr, unknown))}"] if unknown else [])
                            + ([f"missing field(s) {', '.join(map(repr, missing))}"] if missing else []))
        raise ValueError(f"{where}: {problem}; the allowed fields are: {', '.join(allowed)}")


def _read_jsonl(path: Path, cls: type | None = None) -> list[dict[str, Any]]:
    """The rows of a JSONL file; with ``cls``, each checked to hold only (and all required) fields of that dataclass."""
    return [row for _, row in numbered_jsonl(path, cls)]



def required_text(value: Any, key: str, where: str) -> str:
    """``value`` when it is a non-empty string; a ValueError naming ``where`` and ``key`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key!r} must be a non-empty string")
    return value

def numbered_jsonl(path: Path, cls: type | None = None) -> list[tuple[int, Any]]:
    """``(line number, row)`` for each non-blank line; errors name the file and the line.

    A line that is not UTF-8, not valid JSON or, with ``cls``, not an object with only (and all the
    required) fields of that dataclass is a ``ValueError``.
    """
    allowed, required = _allowed_fields(cls) if cls is not None else ((), ())
    rows = []
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            where = f"{path}, line {n}"
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{where}: not UTF-8 (byte 0x{raw[e.start]:02x} at position {e.start}); "
                                 "re-save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
            if cls is not None:
                _check_fields(row, allowed, required, where)
            rows.append((n, row))
    return rows


def _check_split(split: str, valid: Sequence[str]) -> None:
    if split not in valid:
        raise ValueError(f"unknown split {split!r}; valid splits are: {', '.join(valid)}")


def load_documents(root: str | Path | None = None) -> list[Document]:
    """All knowledge-base documents, sorted by id (the file name without ``.md``)."""
    folder = _root(root) / "documents"
    docs = []
    for path in sorted(folder.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        title = first.lstrip("#").strip() if first.startswith("#") else path.stem
        docs.append(Document(id=path.stem, title=title, text=text))
    if not docs:
        raise FileNotFoundError(f"no .md documents found in {folder}")
    return docs


def load_facts(root: str | Path | None = None) -> list[Fact]:
    """All atomic facts of the knowledge base."""
    return [Fact(**row) for row in _read_jsonl(_root(root) / "facts.jsonl", Fact)]


def load_questions(split: str, root: str | Path | None = None) -> list[Question]:
    """One question split: ``train``, ``test`` (the head-to-head's wording), ``test_plain`` (the same facts
    asked as users type them), ``unanswerable`` (scored only), ``validation_unanswerable`` (questions the
    knowledge base does not answer either, for choosing confidence gates) or ``updates``."""
    _check_split(split, QUESTION_SPLITS)
    out = []
    for row in _read_jsonl(_root(root) / "questions" / f"{split}.jsonl", Question):
        row = dict(row)
        for key in ("fact_ids", "doc_ids", "aliases"):
            row[key] = tuple(row.get(key) or ())
        out.append(Question(**row))
    return out


def sample_questions(split: str, n: int, seed: int = 0, root: str | Path | None = None) -> list[Question]:
    """A fixed random sample of ``n`` questions from a split: the same ``seed`` gives the same sample."""
    import random

    questions = load_questions(split, root)
    if not 0 < n <= len(questions):
        raise ValueError(f"n must be between 1 and {len(questions)} for split {split!r}, got {n}")
    return random.Random(seed).sample(questions, n)


CONVERSATION_FIELDS = ("id", "turns")
TURN_FIELDS = ("question", "answer", "fact_ids", "doc_ids")


def load_conversations(root: str | Path | None = None) -> list[Conversation]:
    """The scripted multi-turn conversations over the knowledge base (``questions/conversations.jsonl``)."""
    path = _root(root) / "questions" / "conversations.jsonl"
    out = []
    for line, row in numbered_jsonl(path):
        where = f"{path}, line {line}"
        _check_fields(row, CONVERSATION_FIELDS, CONVERSATION_FIELDS, where)
        if not isinstance(row["turns"], list) or not row["turns"]:
            raise ValueError(f"{where}: 'turns' must be a non-empty list of turns")
        for t, turn in enumerate(row["turns"], 1):
            _check_fields(turn, TURN_FIELDS, ("question", "answer"), f"{where}, turn {t}")
        turns = tuple(
            Question(id=f"{row['id']}/{n}", question=t["question"], answer=t["answer"],
                     fact_ids=tuple(t.get("fact_ids", ())), doc_ids=tuple(t.get("doc_ids", ())))
            for n, t in enumerate(row["turns"], 1))
        out.append(Conversation(row["id"], turns))
    return out


TEXT_SUFFIXES = (".md", ".txt")
MAX_FILE_BYTES = 10_000_000  # 10 MB of text is about 1.5 million words; bigger files are usually logs or dumps
# Byte-order marks and their codecs; UTF-32 comes first, because its little-endian mark starts like UTF-16's.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class NotText(ValueError):
    """A file that cannot be read as text; the message says why and what to do."""


def read_text(path: str | Path, max_bytes: int = MAX_FILE_BYTES, encoding: str | None = None) -> str:
    """A text file's text, cleaned (``clean_text``); ``NotText`` says why a file cannot be used.

    UTF-8 is read with or without a byte-order mark, UTF-16 and UTF-32 by their byte-order mark.
    A file with NUL bytes and no such mark is binary. ``encoding`` (for example ``"cp1252"``) is
    tried for a file that is not UTF-8; without it such a file is refused.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise NotText(f"{size:,} bytes, over the limit of {max_bytes:,}; split it into smaller files, "
                      f"or raise the limit: load_folder(folder, max_bytes={size})")
    raw = path.read_bytes()
    codec = next((name for bom, name in BOMS if raw.startswith(bom)), None)
    if codec is not None and codec != "utf-8-sig":
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as e:
            raise NotText(f"starts with a {codec.upper()} byte-order mark but is not valid {codec.upper()} "
                          f"({e.reason} at position {e.start}); re-save it as UTF-8") from None
        if re.search(r"[\x00-\x08\x0e-\x1f]", text):  # what binary data decoded as UTF-16 looks like
            raise NotText(f"binary content (control characters after reading it as {codec.upper()})")
    elif b"\x00" in raw:
        raise NotText("binary content (NUL bytes)")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            if encoding is None:
                raise NotText(f"not UTF-8 (byte 0x{raw[e.start]:02x} at position {e.start}); "
                              "re-save it as UTF-8") from None
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as e2:
                raise NotText(f"neither UTF-8 nor {encoding} (byte 0x{raw[e2.start]:02x} at position {e2.start}); "
                              "re-save it as UTF-8") from None
    text = clean_text(text)
    if not text:
        raise NotText("empty")
    return text


def _display_name(name: str) -> str:
    """A file name fit to print and to use as an id: undecodable bytes replaced, Unicode in NFC form."""
    return unicodedata.normalize("NFC", os.fsencode(name).decode("utf-8", "replace"))


def _walk(folder: Path, top: Path) -> list[tuple[Path, str | None]]:
    """``(path, None)`` for each regular file under ``folder``, sorted, and ``(path, reason)`` for what is left out."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        return [(folder, f"the folder cannot be read ({e.strerror or e}); check its permissions")]
    out: list[tuple[Path, str | None]] = []
    for entry in entries:
        if entry.name.startswith("."):
            kind = "hidden folder" if entry.is_dir() else "hidden file"
            out.append((entry, f"{kind} (the name starts with a dot); rename it without the dot to include it"))
        elif entry.is_dir() and entry.is_symlink():
            out.append((entry, "a link to a folder (links to folders are not followed); "
                               "point load_folder at that folder itself"))
        elif entry.is_dir():
            out += _walk(entry, top)
        elif entry.is_file():
            out.append((entry, None))
        else:
            out.append((entry, "not a regular file (a broken link, a pipe or a device)"))
    return out


def load_folder(folder: str | Path, suffixes: Sequence[str] = TEXT_SUFFIXES, max_bytes: int = MAX_FILE_BYTES,
                encoding: str | None = None) -> tuple[list[Document], list[str]]:
    """Your own documents: every ``.md``/``.txt`` file under ``folder``, and one message per file skipped.

    Files that are empty, binary (NUL bytes without a UTF-16/32 byte-order mark), not UTF-8 (unless
    ``encoding`` reads them), over ``max_bytes``, unreadable or hidden (a name that starts with a dot)
    are skipped, never fatal; the second return value says which, why and what to do. The document
    id is the path relative to ``folder`` without its suffix (with it, if two files would share an id).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder: point load_folder at a folder of .md/.txt files")
    suffixes = tuple(s.lower() for s in ([suffixes] if isinstance(suffixes, str) else suffixes))
    if not suffixes or not all(s.startswith(".") for s in suffixes):
        raise ValueError(f"suffixes must start with a dot, as in {TEXT_SUFFIXES}; got {suffixes}")
    if encoding is not None:
        codecs.lookup(encoding)  # an unknown encoding is a LookupError now, not a skip per file
    docs, skipped, ids = [], [], set()
    for path, reason in _walk(folder, folder):
        name = _display_name(path.relative_to(folder).as_posix())
        if reason is not None:
            skipped.append(f"{name}{'/' if path.is_dir() else ''}: skipped, {reason}")
            continue
        if path.suffix.lower() not in suffixes:
            hint = f"; rename it ({path.name} -> {path.name}.txt) if it is text" if not path.suffix else ""
            skipped.append(f"{name}: skipped, not a {'/'.join(suffixes)} file{hint}")
            continue
        try:
            text = read_text(path, max_bytes, encoding)
        except NotText as e:
            skipped.append(f"{name}: skipped, {e}")
            continue
        except OSError as e:
            skipped.append(f"{name}: skipped, it cannot be read ({e.strerror or e}); check its permissions")
            continue
        first = text.splitlines()[0]
        stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        title = first.lstrip("#").strip() if first.startswith("#") else ""
        title = title or stem.replace("-", " ").replace("_", " ").strip() or stem
        doc_id = name.rsplit(".", 1)[0]
        doc_id = name if doc_id in ids else doc_id  # notes.md and notes.txt: the second keeps its suffix
        ids.add(doc_id)
        docs.append(Document(id=doc_id, title=title, text=text))
    return docs, skipped


def clean_text(text: str) -> str:
    """Text ready to chunk: Unix newlines, no HTML comments or control characters, no trailing spaces, no runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def remove_boilerplate(docs: Sequence[Document], min_share: float = 0.5) -> list[Document]:
    """The documents without the lines that repeat in more than ``min_share`` of them (menus, footers)."""
    from collections import Counter

    if not docs:
        raise ValueError("no documents")
    counts = Counter(line.strip() for d in docs for line in set(d.text.splitlines()) if line.strip())
    repeated = {line for line, n in counts.items() if n > min_share * len(docs)}
    out = []
    for d in docs:
        kept = "\n".join(line for line in d.text.splitlines() if line.strip() not in repeated)
        out.append(Document(d.id, d.title, clean_text(kept)))
    return out


def load_tickets(split: str, root: str | Path | None = None) -> list[Ticket]:
    """One split of the ticket-triage task: ``train`` or ``test``."""
    _check_split(split, TICKET_SPLITS)
    return [Ticket(**row) for row in _read_jsonl(_root(root) / "tickets" / f"{split}.jsonl", Ticket)]


def normalize(text: str) -> str:
    """Lower-case, turn punctuation (except inside numbers and versions) into spaces, collapse whitespace."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"(?<![0-9a-z])[.,;:!?()\[\]\"*`_]|[.,;:!?()\[\]\"*`_](?![0-9a-z])", " ", text)
    return " ".join(text.split())


def apply_update(doc: Document, update: Question) -> Document:
    """The document after an update from ``updates.jsonl``: its ``old_text`` replaced by ``new_text``."""
    if update.old_text is None or update.new_text is None:
        raise ValueError(f"{update.id} is not an update (it has no old_text/new_text)")
    count = doc.text.count(update.old_text)
    if count != 1:
        raise ValueError(f"{update.id}: old_text occurs {count} times in {doc.id}, expected exactly once")
    return Document(doc.id, doc.title, doc.text.replace(update.old_text, update.new_text))


def validate(root: str | Path | None = None) -> list[str]:
    """Check that facts, documents and questions agree; return a list of problems (empty if none)."""
    problems: list[str] = []
    docs = {d.id: d for d in load_documents(root)}
    norm_docs = {k: normalize(d.text) for k, d in docs.items()}
    facts = load_facts(root)
    fact_by_id = {}
    for f in facts:
        if f.id in fact_by_id:
            problems.append(f"fact {f.id}: duplicate id")
        fact_by_id[f.id] = f
        if f.doc_id not in docs:
            problems.append(f"fact {f.id}: unknown document {f.doc_id}")
        elif normalize(f.answer) not in norm_docs[f.doc_id]:
            problems.append(f"fact {f.id}: answer {f.answer!r} not found in {f.doc_id}")
    seen_ids: set[str] = set()
    for split in QUESTION_SPLITS:
        if split in OPTIONAL_SPLITS and not (_root(root) / "questions" / f"{split}.jsonl").is_file():
            continue
        for q in load_questions(split, root):
            where = f"{split} {q.id}"
            if q.id in seen_ids:
                problems.append(f"{where}: duplicate id")
            seen_ids.add(q.id)
            if not q.question.strip():
                problems.append(f"{where}: empty question")
            for fid in q.fact_ids:
                if fid not in fact_by_id:
                    problems.append(f"{where}: unknown fact {fid}")
                elif fact_by_id[fid].doc_id not in q.doc_ids:
                    problems.append(f"{where}: fact {fid} lives in {fact_by_id[fid].doc_id}, not in doc_ids")
            for did in q.doc_ids:
                if did not in docs:
                    problems.append(f"{where}: unknown document {did}")
            if split in UNANSWERABLE_SPLITS:
                if q.answer is not None or q.fact_ids or q.doc_ids:
                    problems.append(f"{where}: unanswerable questions have answer null and no fact/doc ids")
                continue
            if not q.answer or not q.fact_ids:
                problems.append(f"{where}: needs an answer and at least one fact id")
                continue
            if split == "updates":
                problems += _check_update(q, docs)
                continue
            texts = [norm_docs[d] for d in q.doc_ids if d in norm_docs]
            if not any(normalize(a) in t for a in q.answers for t in texts):
                problems.append(f"{where}: answer {q.answer!r} not found in {', '.join(q.doc_ids)}")
    has_conversations = (_root(root) / "questions" / "conversations.jsonl").is_file()
    for conv in load_conversations(root) if has_conversations else []:
        for q in conv.turns:
            texts = [norm_docs[d] for d in q.doc_ids if d in norm_docs]
            if len(texts) != len(q.doc_ids) or not texts:
                problems.append(f"conversation {q.id}: unknown or missing document ids {q.doc_ids}")
            elif not any(normalize(q.answer or "") in t for t in texts):
                problems.append(f"conversation {q.id}: answer {q.answer!r} not found in {', '.join(q.doc_ids)}")
            for fid in q.fact_ids:
                if fid not in fact_by_id:
                    problems.append(f"conversation {q.id}: unknown fact {fid}")
    return problems


def _check_update(q: Question, docs: dict[str, Document]) -> list[str]:
    where = f"updates {q.id}"
    if not (q.old_answer and q.old_text and q.new_text) or len(q.doc_ids) != 1:
        return [f"{where}: needs old_answer, old_text, new_text and exactly one doc id"]
    doc = docs.get(q.doc_ids[0])
    if doc is None:
        return []
    problems = []
    try:
        new_doc = apply_update(doc, q)
    except ValueError as e:
        return [f"{where}: {e}"]
    if normalize(q.old_answer) not in normalize(q.old_text):
        problems.append(f"{where}: old_answer not in old_text")
    if normalize(q.answer or "") not in normalize(q.new_text):
        problems.append(f"{where}: new answer not in new_text")
    if normalize(q.answer or "") in normalize(doc.text):
        problems.append(f"{where}: new answer already in the document before the update")
    if normalize(q.old_answer) in normalize(new_doc.text):
        problems.append(f"{where}: old answer still in the document after the update")
    return problems


def find_leaks(
    train: Iterable[str], test: Iterable[str], embedder: Any, threshold: float = 0.95
) -> list[tuple[str, str, float]]:
    """Pairs (test, closest train, cosine) where a test question is a near-copy of a train question."""
    train, test = list(train), list(test)
    a = embedder.encode(test, normalize_embeddings=True, show_progress_bar=False)
    b = embedder.encode(train, normalize_embeddings=True, show_progress_bar=False)
    sims = a @ b.T
    best = sims.argmax(axis=1)
    return [
        (test[i], train[j], round(float(sims[i, j]), 3))
        for i, j in enumerate(best)
        if normalize(test[i]) == normalize(train[j]) or sims[i, j] >= threshold
    ]
