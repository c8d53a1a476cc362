"""Permissions for RAG: documents only some users may read, and retrieval that respects that.

The public knowledge base (``ragft/data/documents/``) stays as it is; restricted documents live
apart, in ``ragft/data/access/``:

- ``documents/*.md``: documents for employees (group ``internal``) and for two customers
  (``customer-oakridge``, ``customer-bellmead``), written so that one customer's contract looks
  like the other's, which is what makes a leak between them realistic;
- ``access.jsonl``: one ``{"doc_id": ..., "groups": [...]}`` line per restricted document. A document
  of the public knowledge base has no line: every document without one is in group ``public``;
- ``facts.jsonl`` and ``questions.jsonl``: facts stated in the restricted documents and one question
  per fact, in the format of the public ``facts.jsonl`` and ``questions/test.jsonl``;
- ``train.jsonl``: two more questions per fact, worded differently from its question in
  ``questions.jsonl``, so that a fine-tune is trained on one wording and tested on another;
- ``users.jsonl``: users and the groups they belong to.

``PermissionedRetriever`` searches one FAISS index over all chunks, with the filter applied before
the search (``mode="before"``), after it (``"after"``) or not at all (``"none"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import numpy as np

from ragft.chunking import chunk_by_heading
from ragft.data import Document, Fact, Question, data_dir, load_documents, normalize, numbered_jsonl, required_text
from ragft.evaluate import contains_answer
from ragft.finetune import Example
from ragft.retrieval import Hit, Retriever, normalize_question

PUBLIC = "public"
MODES = ("none", "before", "after")
TRAIN_PER_FACT = 2  # paraphrases per restricted fact in train.jsonl


@dataclass(frozen=True)
class AccessRule:
    """One line of ``access.jsonl``: a restricted document and the groups that may read it."""

    doc_id: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class User:
    """One line of ``users.jsonl``: a user and the groups they belong to."""

    id: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class AccessData:
    """Public and restricted documents, who may read each, and the facts, questions and users over them.

    ``questions`` holds the one test question per fact, ``train`` the paraphrases a fine-tune learns from.
    """

    documents: list[Document]
    groups: dict[str, tuple[str, ...]]
    facts: list[Fact]
    questions: list[Question]
    users: dict[str, tuple[str, ...]]
    train: list[Question] = field(default_factory=list)

    def readable(self, user: str) -> set[str]:
        """Ids of the documents ``user`` may read."""
        return {d.id for d in self.documents if allowed(_user_groups(self.users, user), self.groups[d.id])}


def access_dir() -> Path:
    """Folder holding the restricted documents and their permissions inside the installed package."""
    return data_dir() / "access"


def allowed(user_groups: Collection[str], doc_groups: Collection[str]) -> bool:
    """True if the user holds at least one of the document's groups; a document with no groups is read by nobody."""
    return not set(user_groups).isdisjoint(doc_groups)


def _groups(value: Any, where: str) -> tuple[str, ...]:
    """``value`` as a tuple of group names; a ValueError naming ``where`` unless it is a non-empty list of names."""
    if not isinstance(value, list) or not value or not all(isinstance(g, str) and g.strip() for g in value):
        raise ValueError(f"{where}: 'groups' must be a non-empty list of group names, such as [\"internal\"]")
    return tuple(value)


def _read_rules(path: Path) -> list[tuple[str, AccessRule]]:
    """``(where, rule)`` for each line of ``access.jsonl``; a malformed line is a ValueError naming it."""
    out = []
    for n, row in numbered_jsonl(path, AccessRule):
        where = f"{path}, line {n}"
        out.append((where, AccessRule(required_text(row["doc_id"], "doc_id", where), _groups(row["groups"], where))))
    return out


def _read_users(path: Path) -> list[tuple[str, User]]:
    """``(where, user)`` for each line of ``users.jsonl``; a malformed line is a ValueError naming it."""
    out = []
    for n, row in numbered_jsonl(path, User):
        where = f"{path}, line {n}"
        out.append((where, User(required_text(row["id"], "id", where), _groups(row["groups"], where))))
    return out


def _read_facts(path: Path) -> list[tuple[str, Fact]]:
    out = []
    for n, row in numbered_jsonl(path, Fact):
        where = f"{path}, line {n}"
        for key in ("id", "doc_id", "statement", "answer"):
            required_text(row[key], key, where)
        out.append((where, Fact(**row)))
    return out


def _read_questions(path: Path) -> list[tuple[str, Question]]:
    out = []
    for n, row in numbered_jsonl(path, Question):
        where = f"{path}, line {n}"
        row = dict(row)
        for key in ("fact_ids", "doc_ids", "aliases"):
            value = row.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}: {key!r} must be a list of strings")
            row[key] = tuple(value)
        out.append((where, Question(**row)))
    return out


def _read_all(root: str | Path | None, public_root: str | Path | None) -> dict[str, Any]:
    """Every file of the access data, rows still paired with the file and line they came from."""
    folder = access_dir() if root is None else Path(root)
    restricted = load_documents(folder)  # the same reader as the public knowledge base, on access/documents/
    return {"public": load_documents(public_root), "restricted": restricted,
            "rules": _read_rules(folder / "access.jsonl"), "facts": _read_facts(folder / "facts.jsonl"),
            "questions": _read_questions(folder / "questions.jsonl"), "train": _read_questions(folder / "train.jsonl"),
            "users": _read_users(folder / "users.jsonl")}


def load_access(root: str | Path | None = None, public_root: str | Path | None = None) -> AccessData:
    """The public knowledge base plus the restricted documents, their groups, facts, questions (test and train), users.

    ``root`` is the access folder (``ragft/data/access`` by default), ``public_root`` the folder of the
    public knowledge base (``ragft.data.load_documents``'s default). A malformed line, or a document or
    user listed twice, is a ``ValueError`` naming the file and the line; ``validate_access`` checks the rest.
    """
    raw = _read_all(root, public_root)
    groups = {d.id: (PUBLIC,) for d in raw["public"]}
    seen: set[str] = set()
    for where, rule in raw["rules"]:
        if rule.doc_id in seen:
            raise ValueError(f"{where}: document {rule.doc_id!r} is listed twice; give it one line with all its groups")
        seen.add(rule.doc_id)
        groups[rule.doc_id] = rule.groups
    users: dict[str, tuple[str, ...]] = {}
    for where, user in raw["users"]:
        if user.id in users:
            raise ValueError(f"{where}: user {user.id!r} is listed twice")
        users[user.id] = user.groups
    for d in raw["restricted"]:
        groups.setdefault(d.id, ())  # a restricted document without a line is read by nobody (validate_access says so)
    return AccessData(raw["public"] + raw["restricted"], groups, [f for _, f in raw["facts"]],
                      [q for _, q in raw["questions"]], users, [q for _, q in raw["train"]])


def validate_access(root: str | Path | None = None, public_root: str | Path | None = None) -> list[str]:
    """Check that the access files agree with each other and with the documents; return the problems (empty if none).

    Besides what ``ragft.data.validate`` checks (ids unique and known, every answer in its document),
    every question must be about a restricted document, and none of its accepted answers may occur
    in a document readable by other groups: then a reply that contains the answer can only have come
    from the restricted document, which is what makes it a leak. ``train.jsonl`` must hold
    ``TRAIN_PER_FACT`` questions per fact, checked like the questions, with their fact's answer, and
    none worded like a test question (after ``normalize``).
    """
    raw = _read_all(root, public_root)
    problems: list[str] = []
    public = {d.id: d for d in raw["public"]}
    restricted = {d.id: d for d in raw["restricted"]}
    for doc_id in restricted.keys() & public.keys():
        problems.append(f"document {doc_id}: the id is used in the public knowledge base too; rename one")
    groups: dict[str, tuple[str, ...]] = {d: (PUBLIC,) for d in public}
    for where, rule in raw["rules"]:
        if rule.doc_id not in restricted:
            problems.append(f"{where}: unknown restricted document {rule.doc_id!r} (no {rule.doc_id}.md in documents/)")
        elif rule.doc_id in groups and rule.doc_id not in public:
            problems.append(f"{where}: document {rule.doc_id!r} is listed twice")
        if PUBLIC in rule.groups:
            problems.append(f"{where}: a public document belongs in the public knowledge base, not in access/")
        if len(set(rule.groups)) != len(rule.groups):
            problems.append(f"{where}: a group is listed twice")
        groups.setdefault(rule.doc_id, rule.groups)
    for doc_id in restricted:
        if doc_id not in groups or doc_id in public:
            problems.append(f"document {doc_id}: no line in access.jsonl says who may read it")
    known_groups = {g for gs in groups.values() for g in gs}
    users: set[str] = set()
    for where, user in raw["users"]:
        if user.id in users:
            problems.append(f"{where}: user {user.id!r} is listed twice")
        users.add(user.id)
        for g in user.groups:
            if g not in known_groups:
                problems.append(f"{where}: unknown group {g!r}; the groups are: {', '.join(sorted(known_groups))}")
    docs = {**public, **restricted}
    norm = {d: normalize(doc.text) for d, doc in docs.items()}
    facts: dict[str, Fact] = {}
    for where, f in raw["facts"]:
        if f.id in facts:
            problems.append(f"{where}: duplicate fact id {f.id}")
        facts[f.id] = f
        if f.doc_id not in restricted:
            problems.append(f"{where}: fact {f.id} is in {f.doc_id!r}, which is not a restricted document")
        elif normalize(f.answer) not in norm[f.doc_id]:
            problems.append(f"{where}: fact {f.id}: answer {f.answer!r} not found in {f.doc_id}")
    seen: set[str] = set()
    for where, q in raw["questions"] + raw["train"]:
        if q.id in seen:
            problems.append(f"{where}: duplicate question id {q.id}")
        seen.add(q.id)
        problems += _check_question(where, q, facts, public, restricted, norm)
    for where, q in raw["questions"]:
        if not q.answer or not q.fact_ids or any(d not in docs for d in q.doc_ids):
            continue
        owners = {groups.get(d, ()) for d in q.doc_ids}
        for other, doc in docs.items():
            if other in q.doc_ids or groups.get(other, ()) in owners:
                continue
            for a in q.answers:
                if contains_answer(doc.text, [a]):
                    problems.append(f"{where}: {q.id}: answer {a!r} also occurs in {other} "
                                    f"(groups {', '.join(groups.get(other, ()))}), so a reply with it proves no leak")
    problems += _check_train(raw["train"], raw["questions"], facts)
    return problems


def _check_question(where: str, q: Question, facts: Mapping[str, Fact], public: Mapping[str, Document],
                    restricted: Mapping[str, Document], norm: Mapping[str, str]) -> list[str]:
    """The problems of one row of ``questions.jsonl`` or ``train.jsonl``: ids known, answer in its document."""
    problems = []
    if not q.question.strip():
        problems.append(f"{where}: {q.id} has an empty question")
    if not q.answer or not q.fact_ids or not q.doc_ids:
        return problems + [f"{where}: {q.id} needs an answer, at least one fact id and at least one doc id"]
    for fid in q.fact_ids:
        if fid not in facts:
            problems.append(f"{where}: {q.id}: unknown fact {fid}")
        elif facts[fid].doc_id not in q.doc_ids:
            problems.append(f"{where}: {q.id}: fact {fid} lives in {facts[fid].doc_id}, not in doc_ids")
        elif facts[fid].doc_id not in restricted:
            problems.append(f"{where}: {q.id}: fact {fid} is not in a restricted document")
    for d in q.doc_ids:
        if d in public:
            problems.append(f"{where}: {q.id}: {d} is public; the questions here are about restricted documents")
        elif d not in restricted:
            problems.append(f"{where}: {q.id}: unknown document {d}")
    texts = [norm[d] for d in q.doc_ids if d in restricted]
    if texts and not any(normalize(a) in t for a in q.answers for t in texts):
        problems.append(f"{where}: {q.id}: answer {q.answer!r} not found in {', '.join(q.doc_ids)}")
    return problems


def _check_train(train: Sequence[tuple[str, Question]], questions: Sequence[tuple[str, Question]],
                 facts: Mapping[str, Fact]) -> list[str]:
    """``TRAIN_PER_FACT`` training questions per fact, with its fact's answer, none a copy of a test question."""
    problems = []
    test_wording = {normalize(q.question): q.id for _, q in questions}
    test_answer = {fid: q.answer for _, q in questions for fid in q.fact_ids}
    count = {fid: 0 for fid in facts}
    for where, q in train:
        same = test_wording.get(normalize(q.question))
        if same is not None:
            problems.append(f"{where}: {q.id} is worded like {same} of questions.jsonl; a training question "
                            "must be a paraphrase, or the test measures memorised wording")
        for fid in q.fact_ids:
            if fid in count:
                count[fid] += 1
            if fid in test_answer and q.answer and q.answer != test_answer[fid]:
                problems.append(f"{where}: {q.id}: answer {q.answer!r} differs from the test question's "
                                f"{test_answer[fid]!r} for fact {fid}")
    for fid, n in count.items():
        if n != TRAIN_PER_FACT:
            problems.append(f"train.jsonl: fact {fid} has {n} training question(s), expected {TRAIN_PER_FACT}")
    return problems


def _user_groups(users: Mapping[str, Sequence[str]], user: str) -> tuple[str, ...]:
    """The groups of ``user``; an unknown user is a ValueError that lists the known ones."""
    if not isinstance(user, str) or user not in users:
        raise ValueError(f"unknown user {user!r}; the users are: {', '.join(sorted(users))}")
    return tuple(users[user])


def search_among(index, vectors, rows, k):
    """The best ``k`` of ``rows`` for each query vector: FAISS scores only the rows the selector lets through.

    Taught in notebook 08.
    """
    import faiss

    selector = faiss.IDSelectorBatch(rows)
    params = faiss.SearchParameters(sel=selector)
    return index.search(vectors, min(k, len(rows)), params=params)


class PermissionedRetriever:
    """A ``ragft.retrieval.Retriever`` over public and restricted chunks that searches only what a user may read.

    There is one FAISS index holding every chunk once. For ``mode="before"`` the chunks the user may
    read are passed to the search as a ``faiss.IDSelectorBatch`` inside ``faiss.SearchParameters``, so
    FAISS scores only those rows and returns the best ``k`` of them. Why not one index per group?
    A user usually belongs to several groups (``public`` plus a customer, say), so per-group indexes
    mean searching several indexes per question and merging their rankings, or keeping one index
    per combination of groups, each with its own copy of the shared (public) vectors; and every
    edited document or changed permission has to be re-embedded or copied into each index that
    holds it. With a selector the permissions are data read at query time: changing who may read
    what needs no re-indexing. On an exact (flat) index the selector costs little; on approximate
    indexes (IVF, HNSW) a very narrow filter can cost speed or recall, which is where partitioned
    indexes start to pay off.

    ``mode="after"`` searches the top ``k`` over everything and drops what the user may not read
    (possibly fewer than ``k`` remain); ``mode="none"`` does not filter. ``groups`` maps document ids
    to the groups that may read them; a document without an entry is public, as in ``access.jsonl``.
    """

    def __init__(self, retriever: Retriever, groups: Mapping[str, Sequence[str]], users: Mapping[str, Sequence[str]]) -> None:
        if not all(hasattr(retriever, a) for a in ("index", "chunks", "embed", "search")):
            raise TypeError("retriever must be a ragft.retrieval.Retriever (it needs .index, .chunks, .embed and .search)")
        if not users:
            raise ValueError("no users: pass a mapping from user id to groups, such as load_access().users")
        self.retriever, self.chunks = retriever, retriever.chunks
        self.groups = {d: tuple(g) for d, g in groups.items()}
        self.users = {u: tuple(g) for u, g in users.items()}
        self._rows: dict[frozenset[str], np.ndarray] = {}

    @classmethod
    def from_access(cls, embedder: Any, data: AccessData | None = None, **chunk_options: Any) -> "PermissionedRetriever":
        """Chunk every document of ``data`` (``load_access()`` by default) by heading, embed all into one index."""
        data = load_access() if data is None else data
        chunks = [c for d in data.documents for c in chunk_by_heading(d, **chunk_options)]
        return cls(Retriever(embedder, chunks), data.groups, data.users)

    def doc_groups(self, doc_id: str) -> tuple[str, ...]:
        """The groups that may read a document (``("public",)`` for one without an entry)."""
        return self.groups.get(doc_id, (PUBLIC,))

    def allowed_rows(self, user: str) -> np.ndarray:
        """Index rows (int64, ascending) of the chunks ``user`` may read."""
        key = frozenset(_user_groups(self.users, user))
        if key not in self._rows:
            self._rows[key] = np.array([i for i, c in enumerate(self.chunks) if allowed(key, self.doc_groups(c.doc_id))],
                                       dtype=np.int64)
        return self._rows[key]

    def search(self, questions: str | Sequence[str], user: str, k: int = 3, mode: str = "before") -> list[Hit] | list[list[Hit]]:
        """Top-``k`` ``(chunk, cosine)`` pairs for one question, or a list of them for several, as ``user`` may see them.

        ``"before"`` returns ``min(k, chunks the user may read)`` pairs; ``"after"`` can return fewer
        than ``k``, even none; ``"none"`` returns what ``Retriever.search`` returns. Unlike
        ``Retriever.search``, an empty list of questions is an error: a permission check on nothing
        is more likely a bug than a request.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a whole number >= 1, got {k!r}")
        user_groups = _user_groups(self.users, user)
        single = isinstance(questions, str)
        if not single and not isinstance(questions, Sequence):
            raise TypeError("questions must be a string or a list of strings")
        qs = [questions] if single else list(questions)
        if not qs:
            raise ValueError("no questions: pass a question, or a non-empty list of questions")
        if mode == "before":
            rows = self.allowed_rows(user)
            qs = [normalize_question(q) for q in qs]
            if rows.size == 0:
                hits: list[list[Hit]] = [[] for _ in qs]
            else:
                scores, ids = search_among(self.retriever.index, self.retriever.embed(qs), rows, k)
                hits = [[(self.chunks[i], float(s)) for s, i in zip(rs, ri) if i >= 0] for rs, ri in zip(scores, ids)]
        else:
            hits = self.retriever.search(qs, k=k)  # the book's retriever, over every chunk
            if mode == "after":
                hits = [[(c, s) for c, s in h if allowed(user_groups, self.doc_groups(c.doc_id))] for h in hits]
        return hits[0] if single else hits


DELETED_GROUP = "customer-bellmead"  # "Bellmead ended its contract: delete its data"


def leaked(reply: str, question: Question) -> bool:
    """A leak: the reply states the restricted answer (or an alias) of a question the user may not read."""
    return contains_answer(reply, question.answers)


def unauthorised_pairs(data: AccessData) -> list[tuple[Question, str]]:
    """(restricted question, user) for every user who may not read the document that answers the question."""
    return [(q, u) for q in data.questions for u in sorted(data.users) if q.doc_ids[0] not in data.readable(u)]


def authorised_pairs(data: AccessData) -> list[tuple[Question, str]]:
    """(restricted question, user) for every user who may read its document."""
    return [(q, u) for q in data.questions for u in sorted(data.users) if q.doc_ids[0] in data.readable(u)]


def restricted_examples(data: AccessData, groups: Sequence[str] | None = None) -> list[Example]:
    """Chapter 2's closed-book examples (training wording -> the fact's statement) for the restricted facts
    of ``groups`` (every restricted group when ``None``)."""
    facts = {f.id: f for f in data.facts}
    keep = [q for q in data.train
            if groups is None or any(g in data.groups[facts[q.fact_ids[0]].doc_id] for g in groups)]
    return [Example(q.question, facts[q.fact_ids[0]].statement) for q in keep]
