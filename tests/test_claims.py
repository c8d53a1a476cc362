"""The claims page: one numbered list of the articles' claims, each verdict computed from the stored results by
``ragft.claims.judge`` and never typed; every "claim N" in the book links to it and states its computed verdict."""
import copy
import json
import re
import sys
from pathlib import Path

import pytest

from ragft.claims import CLAIMS, NOT_SUPPORTED, OPPOSITE, PARTLY, SUPPORTED, UNTESTED, combine, direction, judge
from ragft.experiments.results import load_stored

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import claims_page  # noqa: E402

VERDICTS = (PARTLY, NOT_SUPPORTED, SUPPORTED, OPPOSITE, UNTESTED)  # longest first, for matching prose


@pytest.fixture(scope="module")
def stored():
    return {name: load_stored(name) for name in ("head_to_head", "triage", "learning_curves", "security", "wording",
                                                "style")}


@pytest.fixture(scope="module")
def verdicts(stored):
    return {j.claim.number: j.verdict for j in judge(*stored.values())}


def test_the_rule_for_a_difference():
    assert direction({"low": 0.01, "high": 0.2}) == SUPPORTED
    assert direction({"low": -0.2, "high": -0.01}) == OPPOSITE
    assert direction({"low": -0.01, "high": 0.2}) == NOT_SUPPORTED
    assert direction({"low": -0.2, "high": -0.01}, claimed=-1) == SUPPORTED
    assert direction({"low": 0.01, "high": 0.2}, claimed=-1) == OPPOSITE
    assert combine([SUPPORTED, SUPPORTED]) == SUPPORTED
    assert combine([SUPPORTED, NOT_SUPPORTED]) == PARTLY
    assert combine([OPPOSITE, OPPOSITE]) == OPPOSITE
    assert combine([NOT_SUPPORTED, OPPOSITE]) == NOT_SUPPORTED


def test_twelve_claims_numbered_once(verdicts):
    assert [c.number for c in CLAIMS] == list(range(1, 13))
    assert all((ROOT / "book" / f"{c.chapter}.md").is_file() for c in CLAIMS)
    assert set(verdicts.values()) <= set(VERDICTS)


def test_a_verdict_follows_the_stored_numbers(stored):
    """Make RAFT answer exactly what rag answered: 'combining beats either alone' must lose its support."""
    h2h = copy.deepcopy(stored["head_to_head"])
    for seed in h2h["seeds"]:
        for system in ("raft", "rag+finetuned"):
            h2h["units"][f"{system} seed {seed}"]["test"] = copy.deepcopy(h2h["units"]["rag"]["test"])
    claim8 = {j.claim.number: j for j in judge(h2h, *list(stored.values())[1:])}[8]
    assert claim8.verdict == PARTLY  # still above the closed-book fine-tune, no longer above rag


def test_the_claims_page_is_computed():
    assert claims_page.main(check=True) == 0, "run python tools/claims_page.py"


def pages():
    return [p for p in sorted((ROOT / "book").glob("*.md")) if p.name != "claims.md"] + [ROOT / "README.md"]


def test_every_claim_named_in_the_book_links_to_the_claims_page():
    bare = re.compile(r"(?<![`<\w-])[Cc]laims? \d{1,2}(?![\d>])(?![^`]*>`)")
    linked = re.compile(r"\{ref\}`[Cc]laim (\d{1,2}) <claim-(\d{1,2})>`")
    for path in pages():
        text = path.read_text()
        assert not bare.findall(text), f"{path.name}: claim named without a link to the claims page"
        for shown, target in linked.findall(text):
            assert shown == target, f"{path.name}: 'claim {shown}' links to claim-{target}"


def test_verdicts_stated_in_prose_are_the_computed_ones(verdicts):
    within = r"(?:(?!\n\s*\n|\n- )[\s\S])"  # inside the same list item or paragraph
    stated = re.compile(r"<claim-(\d{1,2})>`" + within + r"{0,250}?(?:\*\* -|\bis (?:only )?|That is "
                        + within + r"{0,40}?)\s*\*?(partly\*?\s+supported|not\s+supported|supported|opposite)")
    adjacent = re.compile(r"<claim-(\d{1,2})>`\s+\*?(partly\*?\s+supported|not\s+supported|supported|opposite)")
    found = 0
    for path in pages():
        text = path.read_text()
        for number, words in stated.findall(text) + adjacent.findall(text):
            found += 1
            said = " ".join(words.replace("*", "").split())
            assert said == verdicts[int(number)], f"{path.name}: claim {number} said {said}"
    assert found >= 8  # the check reads the verdicts the chapters state


def test_notebook_07_prints_the_computed_verdicts(verdicts):
    nb = json.loads((ROOT / "notebooks" / "07_choosing.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "judge(" in code
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    for number, verdict in verdicts.items():
        assert re.search(rf"Claim {number}: .*?verdict:\s+{verdict}\b", printed, re.S), number
