"""The number ledger (tools/ledger.py): every measurement a book page, the README or a notebook's Markdown quotes
comes from a stored result or a checked notebook output of that page's chapter, within the rounding the sentence
uses.

The second half puts back, one at a time, the false sentences the book once had (and a number edited in a
table) and checks that the ledger fails on each.
"""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import ledger  # noqa: E402


@pytest.fixture(scope="module")
def book_ledger():
    return ledger.Ledger()


def test_every_quoted_measurement_is_backed(book_ledger):
    missing = ledger.unbacked(ledger.PAGES, book_ledger)
    checked = ledger.count()
    print(f"\nledger: {checked} quoted measurements on {len(ledger.PAGES)} pages checked; "
          f"{len(ledger.ALLOWED)} allowed as not measurements; {len(missing)} unbacked")
    assert not missing, "quoted, but measured nowhere:\n" + "\n".join(map(str, missing))
    assert checked > 1000  # the check reads the pages (a parser that found nothing would pass vacuously)


def test_every_allowed_quote_is_on_its_page():
    for page, raw, why in ledger.ALLOWED:
        text = ledger.page_text(ROOT / page)
        found = ledger.quotes(text, page) + ledger.rule_problems(text, page)
        assert why and any(q.raw == raw for q in found), (page, raw)


def put_back(page: str, old: str, new: str) -> str:
    text = (ROOT / page).read_text()
    assert old in text, f"the test's premise moved: {old!r} is no longer in {page}"
    return text.replace(old, new, 1)


def flags(book_ledger, page: str, text: str, raw: str) -> bool:
    return any(raw in q.raw for q in book_ledger.unbacked(page, text))


PLANTED = [  # (page, a true sentence as it stands, the false one it replaced, what must be flagged)
    ("book/glossary.md", "take 353 KB", "take 345 KB", "345 KB"),  # the index size in KiB, labelled KB
    ("book/choosing.md", "0.906 of its answers", "0.697 of its answers", "0.697"),  # printed by no notebook
    ("README.md", "(about 7 minutes on two cores)", "(about 8 minutes on two cores)", "8 minutes"),  # embedder
    ("book/course.md", "the minutes it takes on a laptop CPU",
     "the minutes it takes on a laptop CPU. All fourteen take about 30 minutes", "fourteen"),
    ("book/course.md", "the minutes it takes on a laptop CPU",
     "the minutes it takes on a laptop CPU. All fifteen notebooks take about 30 minutes", "30 minutes"),
    ("book/intro.md", "52 documents", "more than 40 documents", "40 documents"),
    ("book/scaling.md", "RAG works with the 52 documents of chapter 5", "RAG works with 50 documents (chapter 5)",
     "50 documents"),
    ("book/scaling.md", "1.30\n  times faster", "no faster", "no faster"),
    ("book/head_to_head.md", "closed-book fine-tune", "closed-book fine-tune trained until validation stopped improving",
     "stopped improving"),
    ("book/combining.md", "chapter 5", "this chapter's first edition", "first edition"),
    ("book/head_to_head.md", "/ 0.359 [0.308", "/ 0.396 [0.308", "0.396"),  # a number edited in a table
]


@pytest.mark.parametrize("page, true, false, raw", PLANTED, ids=[p[3] for p in PLANTED])
def test_a_false_sentence_put_back_fails(book_ledger, page, true, false, raw):
    assert not flags(book_ledger, page, (ROOT / page).read_text(), raw)
    assert flags(book_ledger, page, put_back(page, true, false), raw)


def test_quotes_read_units_precision_and_skip_what_is_not_a_measurement():
    text = ("acc 0.243 and 24 % of replies, 1.30x faster, 776 s, about 7 minutes, 353 KB, a 95 % interval, "
            "Python 3.11, 3.12 and 3.13, `k=0.5`, 255 questions\n```\n0.999\n```\n")
    found = {q.raw: q for q in ledger.quotes(text, "t")}
    assert set(found) == {"0.243", "24 %", "1.30x", "776 s", "7 minutes", "353 KB"}
    assert found["24 %"].kind == "share" and found["24 %"].value == pytest.approx(0.24)
    assert found["7 minutes"].kind == "time" and found["7 minutes"].value == 420 and found["7 minutes"].loose
    assert found["353 KB"].value == 353_000 and found["0.243"].step == pytest.approx(0.001)


def test_a_pool_backs_by_rounding_and_unit():
    pool = ledger.Pool({"number": {0.2431}, "time": {419.0}, "size": {353_280.0}, "share": {0.2431}})

    def backed(text):
        return pool.backs(ledger.quotes(text, "t")[0])

    assert backed("0.243") and backed("0.24") and backed("24 %") and not backed("0.244")
    assert backed("about 7 minutes") and not backed("about 8 minutes") and not backed("7 s")
    assert backed("353 KB") and not backed("345 KB")
