"""Re-run notebooks top to bottom in a fresh kernel and save their outputs (what nbval checks).

Usage: python tools/execute_notebook.py notebooks/00_quick_tour.ipynb [more.ipynb ...]
Runs offline and without progress bars, from the notebooks/ folder, as the tests do.
"""
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TQDM_DISABLE="1", TOKENIZERS_PARALLELISM="false")

for name in sys.argv[1:]:
    path = Path(name)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    print(f"{path}: ran in {time.perf_counter() - start:.0f} s")
