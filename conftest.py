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

# Per test run, never across runs, work that two notebooks or tests do alike is done once:
# - adapters trained by ragft.finetune.fit_lora are cached by their inputs, so a notebook may reuse
#   an adapter that an earlier notebook trained, and every run trains from scratch at least once;
# - greedy replies (ragft.models.generate): a call made with the same weights, prompts and settings;
# - embeddings (ragft.models.embed): the book's 230 sections are embedded by a dozen notebooks and tests.
# Set a variable yourself to override its folder.
import tempfile  # noqa: E402

for _variable, _prefix in (("RAGFT_ADAPTER_CACHE", "ragft-adapters-"), ("RAGFT_REPLY_CACHE", "ragft-replies-"),
                           ("RAGFT_EMBED_CACHE", "ragft-embeddings-")):
    if _variable not in os.environ:
        os.environ[_variable] = tempfile.mkdtemp(prefix=_prefix)

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
