"""Re-run notebooks top to bottom in a fresh kernel and save their outputs (what nbval checks).

Usage: python tools/execute_notebook.py notebooks/00_quick_tour.ipynb [more.ipynb ...]
Runs offline and without progress bars, from the notebooks/ folder, as the tests do. Each
notebook gets an empty adapter cache of its own (unless RAGFT_ADAPTER_CACHE is set), so it trains
what it needs as a reader running it alone would, and the cell timings nbclient stores in the
notebook (what book/notebooks.md reports) are those of a notebook run alone.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TQDM_DISABLE="1", TOKENIZERS_PARALLELISM="false")

for name in sys.argv[1:]:
    fresh = False
    path = Path(name)
    nb = nbformat.read(path, as_version=4)
    if "RAGFT_ADAPTER_CACHE" not in os.environ:
        os.environ["RAGFT_ADAPTER_CACHE"] = tempfile.mkdtemp(prefix="ragft-adapters-")
        fresh = True
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    if fresh:
        del os.environ["RAGFT_ADAPTER_CACHE"]
    print(f"{path}: ran in {time.perf_counter() - start:.0f} s")
