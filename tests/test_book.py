"""The website builds with zero warnings (as the README's book command does) and has its pages."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    proc = subprocess.run([jb, "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
                          capture_output=True, text=True, timeout=600)
    return proc, out / "_build" / "html"


def test_book_builds_with_zero_warnings(site):
    proc, _ = site
    log = proc.stdout + proc.stderr
    warnings = [ln for ln in log.splitlines() if "WARNING" in ln or "ERROR" in ln]
    assert proc.returncode == 0 and not warnings, "\n".join(warnings) or log[-3000:]


def test_site_has_every_page_and_the_notebook_outputs(site):
    _, html = site
    assert (html / "index.html").exists()
    for page in ["book/intro", "book/environment", "book/references", "book/purpose", "book/training_data",
                 "book/use_cases", "notebooks/00_quick_tour", "notebooks/01_purpose", "notebooks/03a_knowledge_base",
                 "notebooks/04a_use_cases_rag", "book/head_to_head", "book/combining", "book/choosing",
                 "notebooks/05_head_to_head", "notebooks/06_combining", "notebooks/07_choosing", "book/glossary",
                 "book/course"]:
        assert (html / f"{page}.html").exists(), page
    tour = (html / "notebooks" / "00_quick_tour.html").read_text()
    assert "cell_output" in tour and "Fernhollow" in tour
    refs = (html / "book" / "references.html").read_text()
    assert "retrieval-augmented generation for knowledge-intensive" in refs.lower()
