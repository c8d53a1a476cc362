"""The list of book/claims.md, computed: every claim of ``ragft.claims.CLAIMS`` with its chapter, the measured
numbers and the verdict that ``ragft.claims.judge`` computes from the stored results. Nothing in it is typed.

    python tools/claims_page.py          # rewrite the list between the markers
    python tools/claims_page.py --check  # exit 1 if the page is out of date
"""
import sys
from pathlib import Path

from markers import rewrite_between
from ragft.claims import judge
from ragft.experiments.results import load_stored

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "claims.md"
BEGIN, END = "<!-- begin claims: tools/claims_page.py -->", "<!-- end claims -->"


def judgements():
    return judge(load_stored("head_to_head"), load_stored("triage"), load_stored("learning_curves"),
                 load_stored("security"), load_stored("wording"), load_stored("style"))


def summary(found) -> str:
    """One table: claim, chapter, verdict."""
    lines = ["| claim | tested in | verdict |", "|---|---|---|"]
    for j in found:
        lines.append(f"| {{ref}}`{j.claim.number} <claim-{j.claim.number}>`. {j.claim.text} | "
                     f"{{doc}}`{j.claim.chapter}` | **{j.verdict}** |")
    return "\n".join(lines)


def details(found) -> str:
    parts = []
    for j in found:
        parts.append(f"(claim-{j.claim.number})=\n## Claim {j.claim.number}\n\n{j.claim.text}\n\n"
                     f"- Tested in: {{doc}}`{j.claim.chapter}`\n- Measured: {j.measured}\n"
                     f"- Verdict: **{j.verdict}**" + (f"\n- Rule: {j.rule}" if j.rule else ""))
    return "\n\n".join(parts)


def block() -> str:
    found = judgements()
    return f"{summary(found)}\n\n{details(found)}"


def main(check: bool) -> int:
    return rewrite_between(PAGE, BEGIN, END, block(), check, "claims rewritten")


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
