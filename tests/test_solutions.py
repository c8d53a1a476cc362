"""Solutions worked to the number: each solution gives the numbers a reader should get, and every worked
computation in a solution still prints what its page says (tools/solutions.py)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import ledger  # noqa: E402
import solutions  # noqa: E402

PAGES = solutions.chapter_pages()


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_worked_computations_print_what_the_page_says(page):
    wrong = solutions.check(page)
    assert not wrong, f"{page.name}: {wrong} print something else now; run python tools/solutions.py --write and " \
                      "read the solution's prose again"


def test_every_solution_gives_a_number():
    empty = []
    for page in PAGES:
        text = page.read_text()
        for label, start, end in solutions.solutions(text):
            body = text[start:end]
            if not (ledger.quotes(body, f"book/{page.name}") or solutions.BLOCK.search(body)):
                empty.append(label)
    assert not empty, f"solutions without a measured number: {empty}"


PLANTED = '''
````{solution} planted
:class: dropdown

```python
print(f"{6 * 7} questions")
```

```text
41 questions
```
````
'''


def test_a_wrong_printed_number_is_caught(tmp_path):
    page = tmp_path / "planted.md"
    page.write_text(PLANTED)
    assert [b.output for b in solutions.worked(PLANTED)] == ["41 questions"]
    assert solutions.check(page) == ["planted"]
    solutions.check(page, write=True)
    assert "42 questions" in page.read_text() and solutions.check(page) == []
