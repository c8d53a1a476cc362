"""Rewrite the part of a book page (or of any text) between two HTML-comment markers, or check that it is current."""
from pathlib import Path


def replace_between(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with ``block`` on its own lines between the markers ``begin`` and ``end``."""
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{block}\n{end}{tail}"


def rewrite_between(page: Path, begin: str, end: str, block: str, check: bool, rewritten: str) -> int:
    """Put ``block`` between the markers of ``page``; with ``check``, only report whether it is already there.

    Returns an exit status: 1 when checking finds the page out of date, else 0."""
    text = page.read_text()
    new = replace_between(text, begin, end, block)
    name = f"book/{page.name}"
    if check:
        print(f"{name} is " + ("up to date" if new == text else "out of date"))
        return 0 if new == text else 1
    page.write_text(new)
    print(f"{name}: {rewritten}")
    return 0
