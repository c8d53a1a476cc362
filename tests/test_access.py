"""Permissions for RAG (ragft.access): the restricted data, and filters before and after retrieval.

A small hashing bag-of-words embedder stands in for the real one, so these tests load no model.
"""
import re
import shutil
import zlib
from collections import Counter

import numpy as np
import pytest

from ragft.access import MODES, PUBLIC, PermissionedRetriever, access_dir, allowed, load_access, validate_access
from ragft.chunking import chunk_by_heading
from ragft.data import Document
from ragft.retrieval import Retriever


class HashingEmbedder:
    """Deterministic bag of words: each word adds 1 to one of ``dim`` buckets (crc32 of the word)."""

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def encode(self, texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


@pytest.fixture(scope="module")
def data():
    return load_access()


@pytest.fixture(scope="module")
def permissioned(data):
    return PermissionedRetriever.from_access(HashingEmbedder(), data)


def test_shipped_access_data_validates_and_has_the_planned_shape(data):
    assert validate_access() == []
    restricted = Counter(g for d, gs in data.groups.items() for g in gs if gs != (PUBLIC,))
    assert restricted == {"internal": 3, "customer-oakridge": 3, "customer-bellmead": 3}
    assert len(data.facts) >= 40 and len(data.questions) == len(data.facts)
    assert {q.fact_ids[0] for q in data.questions} == {f.id for f in data.facts}
    assert {"visitor", "oakridge-agronomist", "bellmead-manager", "employee"} <= set(data.users)
    assert data.users["visitor"] == (PUBLIC,)
    assert data.readable("visitor") == {d for d, gs in data.groups.items() if gs == (PUBLIC,)}


def test_training_questions_are_two_paraphrases_of_each_fact(data):
    from ragft.data import normalize

    test = {q.fact_ids[0]: q for q in data.questions}
    assert len(data.train) == 2 * len(data.facts)
    assert [q.id for q in data.train] == [f"ac-train-{f.id}-{i}" for f in data.facts for i in (1, 2)]
    for q in data.train:
        t = test[q.fact_ids[0]]
        assert (q.answer, q.aliases, q.fact_ids, q.doc_ids) == (t.answer, t.aliases, t.fact_ids, t.doc_ids)
        words, test_words = set(normalize(q.question).split()), set(normalize(t.question).split())
        assert len(words & test_words) / len(words | test_words) < 0.6, (q.id, "too close to", t.id)
    pairs = [(a, b) for a, b in zip(data.train[::2], data.train[1::2])]
    assert all(normalize(a.question) != normalize(b.question) for a, b in pairs)


def test_the_public_knowledge_base_is_untouched(data):
    from ragft.data import load_documents

    public = load_documents()
    assert [d.id for d in data.documents[:len(public)]] == [d.id for d in public]
    assert not {d.id for d in public} & {p.stem for p in (access_dir() / "documents").glob("*.md")}


def test_customer_documents_look_alike(data):
    docs = {d.id: d for d in data.documents}
    for kind in ("contract", "cases", "install"):
        headings = [re.findall(r"^## .*$", docs[f"{kind}-{c}"].text, re.M) for c in ("oakridge", "bellmead")]
        assert headings[0] == headings[1] and headings[0]


@pytest.mark.parametrize("user_groups, doc_groups, expected", [
    (["public"], ["public"], True),
    (["public"], ["internal"], False),
    (["public", "internal"], ["internal"], True),
    (["public", "customer-oakridge"], ["customer-bellmead"], False),
    (["public", "customer-oakridge"], ["customer-oakridge", "internal"], True),
    ([], ["public"], False),
    (["public"], [], False),  # a document with no groups is read by nobody
])
def test_allowed_truth_table(user_groups, doc_groups, expected):
    assert allowed(user_groups, doc_groups) is expected
    assert allowed(set(user_groups), tuple(doc_groups)) is expected


def test_before_never_returns_a_disallowed_chunk_and_always_returns_k(data, permissioned):
    questions = [q.question for q in data.questions]
    for user, groups in data.users.items():
        for hits in permissioned.search(questions, user, k=4, mode="before"):
            assert len(hits) == 4
            assert all(allowed(groups, permissioned.doc_groups(c.doc_id)) for c, _ in hits)
            assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_before_returns_the_best_allowed_chunks(data, permissioned):
    """The pre-filter gives the same ranking as searching everything and keeping the allowed chunks."""
    questions = [q.question for q in data.questions]
    everything = permissioned.search(questions, "visitor", k=len(permissioned.chunks), mode="after")
    before = permissioned.search(questions, "visitor", k=3, mode="before")
    for b, e in zip(before, everything):  # scores, not ids: a bag of words has exact ties
        assert [s for _, s in b] == pytest.approx([s for _, s in e[:3]], abs=1e-6)


def test_after_can_return_fewer_than_k_and_none_leaks(data, permissioned):
    questions = [q.question for q in data.questions]
    restricted = {d for d, gs in data.groups.items() if gs != (PUBLIC,)}
    none = permissioned.search(questions, "visitor", k=3, mode="none")
    after = permissioned.search(questions, "visitor", k=3, mode="after")
    assert sum(any(c.doc_id in restricted for c, _ in h) for h in none) > len(questions) / 2
    assert all(len(h) == 3 for h in none)
    assert all(c.doc_id not in restricted for h in after for c, _ in h)
    assert sum(len(h) < 3 for h in after) > len(questions) / 2
    assert any(h == [] for h in after)  # every one of the top 3 was restricted


def test_a_customer_never_gets_the_other_customers_documents_before(data, permissioned):
    bellmead = [q.question for q in data.questions if q.doc_ids[0].endswith("-bellmead")]
    none = permissioned.search(bellmead, "oakridge-agronomist", k=3, mode="none")
    before = permissioned.search(bellmead, "oakridge-agronomist", k=3, mode="before")
    assert any(c.doc_id.endswith("-bellmead") for h in none for c, _ in h)  # the look-alike documents compete
    assert not any(c.doc_id.endswith("-bellmead") for h in before for c, _ in h)


def test_a_user_who_may_read_everything_sees_no_filter(data, permissioned):
    questions = [q.question for q in data.questions]
    ids = {m: [[c.id for c, _ in h] for h in permissioned.search(questions, "support-agent", 3, m)] for m in MODES}
    assert ids["none"] == ids["before"] == ids["after"]


def _small(users=None):
    docs = [Document("pub", "Public Sheet", "# Public Sheet\n\n## Battery\n\nThe battery lasts long.\n"),
            Document("sec", "Secret Sheet", "# Secret Sheet\n\n## Battery\n\nThe secret battery lasts 31 months.\n"
                                            "\n## Radio\n\nThe secret radio sends at 14 dBm.\n")]
    retriever = Retriever(HashingEmbedder(), [c for d in docs for c in chunk_by_heading(d)])
    return PermissionedRetriever(retriever, {"sec": ("internal",)},
                                 users or {"visitor": ("public",), "employee": ("public", "internal")})


def test_single_question_and_k_larger_than_what_the_user_may_read():
    pr = _small()
    hits = pr.search("How long does the secret battery last?", "visitor", k=10, mode="before")
    assert [c.doc_id for c, _ in hits] == ["pub", "pub"]  # the two public chunks, not ten
    assert pr.search("How long does the secret battery last?", "visitor", k=1, mode="none")[0][0].doc_id == "sec"
    assert pr.search("How long does the secret battery last?", "employee", k=1)[0][0].doc_id == "sec"
    assert pr.search(["secret battery?"], "visitor", k=2, mode="after") == [[]]


def test_a_user_who_may_read_nothing_gets_empty_lists():
    pr = _small({"nobody": ("contractors",)})
    assert pr.search(["battery?", "radio?"], "nobody", k=3, mode="before") == [[], []]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"user": "mallory"}, ValueError, "unknown user 'mallory'.*visitor"),
    ({"mode": "sideways"}, ValueError, "unknown mode 'sideways'"),
    ({"questions": []}, ValueError, "no questions"),
    ({"questions": ["  "]}, ValueError, "empty"),
    ({"k": 0}, ValueError, "k must be"),
    ({"questions": 42}, TypeError, "string or a list"),
])
def test_bad_search_input_is_a_clear_error(kwargs, error, match):
    args = {"questions": ["battery?"], "user": "visitor", "k": 2, "mode": "before", **kwargs}
    with pytest.raises(error, match=match):
        _small().search(**args)


def test_a_retriever_without_an_index_is_refused():
    with pytest.raises(TypeError, match="ragft.retrieval.Retriever"):
        PermissionedRetriever(object(), {}, {"visitor": ("public",)})


@pytest.fixture
def copy(tmp_path):
    folder = tmp_path / "access"
    shutil.copytree(access_dir(), folder)
    return folder


def _edit_line(path, n, new):
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[n - 1] = new
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("file, row, match", [
    ("users.jsonl", '{"id": "x"}', r"users.jsonl, line 2: missing field\(s\) 'groups'"),
    ("users.jsonl", '{"id": "x", "groups": "public"}', r"users.jsonl, line 2: 'groups' must be a non-empty list"),
    ("users.jsonl", '{"id": "visitor", "groups": ["public"]}', r"users.jsonl, line 2: user 'visitor' is listed twice"),
    ("access.jsonl", '{"doc_id": "cases-oakridge", "groups": []}', r"access.jsonl, line 2: 'groups' must be"),
    ("access.jsonl", '{"doc_id": "cases-bellmead", "groups": ["x"]}', r"access.jsonl, line 2: .*listed twice"),
    ("facts.jsonl", "{not json", r"facts.jsonl, line 2: not valid JSON"),
    ("questions.jsonl", '{"id": "q", "question": "?", "answer": "a", "doc_ids": "cases-oakridge"}',
     r"questions.jsonl, line 2: 'doc_ids' must be a list"),
    ("train.jsonl", '{"id": "q", "question": "?", "answer": "a", "fact_ids": "A001"}',
     r"train.jsonl, line 2: 'fact_ids' must be a list"),
    ("train.jsonl", '{"id": "q", "question": "?"}', r"train.jsonl, line 2: missing field\(s\) 'answer'"),
])
def test_a_bad_row_names_the_file_and_the_line(copy, file, row, match):
    _edit_line(copy / file, 2, row)
    with pytest.raises(ValueError, match=match):
        load_access(copy)


def test_validate_access_reports_disagreements(copy):
    _edit_line(copy / "users.jsonl", 1, '{"id": "visitor", "groups": ["public", "vip"]}')
    (copy / "documents" / "internal-extra.md").write_text("# Extra\n\n## Part\n\nText.\n", encoding="utf-8")
    facts = (copy / "facts.jsonl").read_text(encoding="utf-8").replace('"answer": "INC-2024-117"', '"answer": "INC-9"')
    (copy / "facts.jsonl").write_text(facts, encoding="utf-8")
    with (copy / "questions.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"id": "ac-X", "question": "Who leads the company?", "answer": "Ida Ravensholt", '
                '"fact_ids": ["A001"], "doc_ids": ["company-leadership"]}\n')
        f.write('{"id": "ac-Y", "question": "Which band?", "answer": "B4", "aliases": ["EUR 149"], '
                '"fact_ids": ["A010"], "doc_ids": ["internal-salary-bands"]}\n')
    problems = "\n".join(validate_access(copy))
    assert "users.jsonl, line 1: unknown group 'vip'" in problems
    assert "document internal-extra: no line in access.jsonl" in problems
    assert "fact A001: answer 'INC-9' not found" in problems
    assert "ac-X: fact A001 lives in internal-postmortem-fieldbook-outage, not in doc_ids" in problems
    assert "ac-X: company-leadership is public" in problems
    assert "ac-Y: answer 'EUR 149' also occurs in pricing-hardware" in problems


def test_validate_access_checks_the_training_questions(copy):
    lines = (copy / "train.jsonl").read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("Under which incident tracker number is the 14 November 2024 Fieldbook outage filed?",
                                "What incident number was given to the Fieldbook outage in November 2024?")
    lines[2] = lines[2].replace('"fact_ids": ["A002"]', '"fact_ids": ["A999"]')
    lines[12] = lines[12].replace('"answer": "187"', '"answer": "9999"')
    del lines[7]  # the second question of A004 (the lines after it move up by one)
    (copy / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = "\n".join(validate_access(copy))
    assert "train.jsonl, line 1: ac-train-A001-1 is worded like ac-A001" in problems
    assert "train.jsonl, line 3: ac-train-A002-1: unknown fact A999" in problems
    assert "train.jsonl: fact A002 has 1 training question(s), expected 2" in problems
    assert "train.jsonl, line 12: ac-train-A007-1: answer '9999' not found" in problems
    assert "ac-train-A007-1: answer '9999' differs from the test question's '187'" in problems
    assert "train.jsonl: fact A004 has 1 training question(s), expected 2" in problems
    assert not any("ac-A0" in p for p in validate_access(copy) if "train.jsonl" not in p)


def test_a_training_question_id_may_not_repeat_a_test_question_id(copy):
    with (copy / "train.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"id": "ac-A001", "question": "Tracker number of the Fieldbook outage?", "answer": "INC-2024-117", '
                '"fact_ids": ["A001"], "doc_ids": ["internal-postmortem-fieldbook-outage"]}\n')
    problems = validate_access(copy)
    assert any("train.jsonl, line 141: duplicate question id ac-A001" in p for p in problems)
    assert "train.jsonl: fact A001 has 3 training question(s), expected 2" in problems
