"""Reproducibility helpers: one seed for every library, and a version printout."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import random

BOOK_PACKAGES = ("torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "numpy", "ragft")


def set_seed(seed: int = 0) -> None:
    """Seed Python's ``random``, NumPy, PyTorch and transformers, so reruns give the same numbers."""
    import numpy as np
    import torch
    import transformers

    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    transformers.set_seed(seed)
    torch.set_printoptions(precision=4)


def show_progress() -> bool:
    """Whether to draw progress bars: yes, unless ``TQDM_DISABLE`` is set (the tests set it)."""
    return os.environ.get("TQDM_DISABLE", "").lower() not in ("1", "true", "yes")


def versions(packages: tuple[str, ...] = BOOK_PACKAGES) -> dict[str, str]:
    """Installed versions of the book's key packages (``"not installed"`` where missing)."""
    out = {"python": platform.python_version().rsplit(".", 1)[0]}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def print_versions() -> None:
    """Print the versions of Python and the book's key packages, one per line."""
    for name, version in versions().items():
        print(f"{name:<22} {version}")


def write_json_atomically(path, results) -> None:
    """Write ``results`` as compact JSON to ``path`` through a temporary file, so that a run killed
    mid-write never leaves a truncated results file (the resumable experiments store every unit so)."""
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, separators=(",", ":")) + "\n")
    os.replace(tmp, path)
