"""Shared test setup: offline, quiet, and the two models loaded once per session."""
import os

# Set before any kernel or model starts: nothing may come from a hub, nothing may draw a bar.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
