"""Shared test setup: offline, quiet, and the two models loaded once per session."""
import os

# Set before any kernel or model starts: nothing may come from a hub, nothing may draw a bar.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The suite runs on pytest-xdist workers (pytest.ini: "-n 2 --dist loadfile", so that a notebook's
# cells stay together, in order, on one worker). Each worker, and every notebook kernel it starts,
# gets an equal share of the cores, so that two workers never fight over the same ones.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("RAGFT_THREADS", _share)
    os.environ.setdefault("OMP_NUM_THREADS", _share)

# Adapters trained by ragft.finetune.fit_lora are cached by their inputs. Within one test run a
# notebook may reuse an adapter that an earlier notebook trained; across runs nothing is kept, so
# every run trains from scratch at least once. (Set RAGFT_ADAPTER_CACHE yourself to override.)
if "RAGFT_ADAPTER_CACHE" not in os.environ:
    import tempfile

    os.environ["RAGFT_ADAPTER_CACHE"] = tempfile.mkdtemp(prefix="ragft-adapters-")

# Greedy replies are kept the same way, per run: a call that two notebooks make with the same
# weights, prompts and settings is computed once (ragft.models.generate, "RAGFT_REPLY_CACHE").
if "RAGFT_REPLY_CACHE" not in os.environ:
    import tempfile

    os.environ["RAGFT_REPLY_CACHE"] = tempfile.mkdtemp(prefix="ragft-replies-")
# ... and so are embeddings (ragft.models.embed, "RAGFT_EMBED_CACHE"): the book's 230 sections are
# embedded by a dozen notebooks and tests, once per run.
if "RAGFT_EMBED_CACHE" not in os.environ:
    import tempfile

    os.environ["RAGFT_EMBED_CACHE"] = tempfile.mkdtemp(prefix="ragft-embeddings-")

import pytest  # noqa: E402

# On a new machine, matplotlib's first import builds its font cache and says so on stderr. Build
# it here, once, so that no notebook kernel prints that message into an output nbval checks.
import matplotlib.font_manager  # noqa: E402,F401


@pytest.fixture(scope="session")
def embedder():
    from ragft.models import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def generator():
    from ragft.models import load_generator

    return load_generator()
