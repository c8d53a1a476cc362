"""The worked computations in the chapters' solutions, and a check that each still prints what the page says.

A solution (```` ````{solution} label ```` in a chapter page) may hold worked computations: a fenced
```` ```python ```` block followed by a fenced ```` ```text ```` block with exactly what the code prints.
The blocks of one page run in order, in one fresh Python process (like the cells of a notebook), from
the repository root with ``HF_HUB_OFFLINE=1``. They compute from stored results and the package; none
loads a model, so a page's blocks run in seconds.

    python tools/solutions.py                    # run every page's worked computations and compare
    python tools/solutions.py book/scaling.md    # one page
    python tools/solutions.py --write            # put what the code prints into the text blocks

The number ledger (tools/ledger.py) counts what these blocks print as measured on their page: the
test (tests/test_solutions.py) makes sure the page still prints it.
"""
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["purpose", "architecture", "training_data", "use_cases", "head_to_head", "combining", "choosing",
            "reliability", "scaling"]
SEPARATOR = "<<<ragft-solution-block>>>"


@dataclass
class Worked:
    label: str  # the solution's label
    code: str
    output: str  # what the page says the code prints
    output_span: tuple[int, int]  # character offsets of the output's text in the page


def solutions(text: str) -> list[tuple[str, int, int]]:
    """(label, start, end) of every solution directive's body on a page."""
    found = []
    for m in re.finditer(r"^(`{3,})\{solution\} ([\w-]+)\n", text, re.M):
        fence = m.group(1)
        end = re.compile(rf"^{fence}\s*$", re.M).search(text, m.end())
        if end is None:
            raise ValueError(f"solution {m.group(2)} is never closed")
        found.append((m.group(2), m.end(), end.start()))
    return found


BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```\n\s*^```text\n(?P<out>.*?)^```\s*$", re.M | re.S)


def worked(text: str) -> list[Worked]:
    """Every worked computation of a page, in page order."""
    found = []
    for label, start, end in solutions(text):
        for m in BLOCK.finditer(text, start, end):
            found.append(Worked(label, m.group("code"), m.group("out").rstrip("\n"), m.span("out")))
    return found


def run(blocks: list[Worked], timeout: float = 120) -> list[str]:
    """What each block prints, the blocks run in order in one fresh process."""
    if not blocks:
        return []
    program = "import sys\n" + "".join(
        f"print({SEPARATOR!r})\nsys.stdout.flush()\nexec(compile({b.code!r}, {b.label!r}, 'exec'), globals())\n"
        for b in blocks)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"a worked computation failed:\n{proc.stderr[-3000:]}")
    parts = proc.stdout.split(SEPARATOR + "\n")[1:]
    return ["\n".join(ln.rstrip() for ln in p.rstrip("\n").splitlines()) for p in parts]


def check(page: Path, write: bool = False) -> list[str]:
    """The labels of the blocks whose printed output differs from the page (after ``write``, none)."""
    text = page.read_text()
    blocks = worked(text)
    printed = run(blocks)
    wrong = [b.label for b, out in zip(blocks, printed) if out != b.output]
    if write and wrong:
        for b, out in sorted(zip(blocks, printed), key=lambda x: -x[0].output_span[0]):
            s, e = b.output_span
            text = text[:s] + out + "\n" + text[e:]
        page.write_text(text)
    return wrong


def chapter_pages() -> list[Path]:
    return [ROOT / "book" / f"{c}.md" for c in CHAPTERS]


def main(args: list[str]) -> int:
    write = "--write" in args
    pages = [ROOT / a for a in args if not a.startswith("--")] or chapter_pages()
    status = 0
    for page in pages:
        blocks = worked(page.read_text())
        wrong = check(page, write)
        verb = "rewritten" if write else "differ"
        print(f"{page.relative_to(ROOT)}: {len(blocks)} worked computations"
              + (f", {len(wrong)} {verb}: {', '.join(wrong)}" if wrong else ", all print what the page says"))
        status |= bool(wrong) and not write
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
