"""Reproducibility helpers: one seed for every library, and a version printout."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import random

BOOK_PACKAGES = ("torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "numpy", "ragft")
# The stored outputs were made with 2 torch threads. A matrix product split over another number of
# threads adds its terms in another order, which can move the last digits of a loss or tip a greedy
# choice at a near tie; so the book pins the count (RAGFT_THREADS overrides it, say on a bigger machine).
BOOK_THREADS = 2
ENV_THREADS = "RAGFT_THREADS"


def pin_threads() -> int:
    """Set torch's thread count to the book's (``$RAGFT_THREADS`` if set); returns it."""
    import torch

    value = os.environ.get(ENV_THREADS, str(BOOK_THREADS))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV_THREADS} must be a whole number of threads, 1 or more; got {value!r}")
    torch.set_num_threads(int(value))
    return int(value)


def machine() -> dict[str, object]:
    """What a stored result was computed on: processor, CPU count and torch threads."""
    import torch

    return {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads()}


def set_seed(seed: int = 0) -> None:
    """Seed Python's ``random``, NumPy, PyTorch and transformers, so reruns give the same numbers;
    and pin torch's thread count to the book's (``pin_threads``)."""
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
    pin_threads()


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
