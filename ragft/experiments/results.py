"""The stored results: every file under ``ragft/results/`` is loaded and written here, and nowhere else.

Each experiment writes one JSON file, named after it (``head_to_head.json`` for ``python -m ragft.experiments
head-to-head``); the notebooks compute their tables from these files with ``load_stored(name)``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import ragft
import ragft.env

RESULTS_DIR = Path(__file__).parent.parent / "results"
ADAPTERS_DIR = Path(__file__).parent.parent / "adapters"
COMMANDS = {  # stored file -> the experiment that writes it
    "context": "context", "embedder": "embedder", "exercises": "exercises", "head_to_head": "head-to-head",
    "learning_curves": "learning-curves", "purpose": "purpose", "scale": "scale", "security": "security",
    "triage": "triage", "wording": "wording", "style": "style",
}


def stored_path(name: str) -> Path:
    """Where the stored results of ``name`` live (``ragft/results/<name>.json``)."""
    if name not in COMMANDS:
        raise ValueError(f"no stored results called {name!r}; the stored ones are: {', '.join(sorted(COMMANDS))}")
    return RESULTS_DIR / f"{name}.json"


def load_stored(name: str, path: str | Path | None = None) -> dict[str, Any]:
    """The stored results of one experiment, from ``ragft/results/<name>.json`` (or from ``path``)."""
    path = Path(path) if path is not None else stored_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run python -m ragft.experiments {COMMANDS.get(name, name)}")
    return json.loads(path.read_text())


def save_stored(path: str | Path, results: Any, indent: int | None = None) -> None:
    """Write ``results`` as JSON to ``path`` through a temporary file, so that a run killed mid-write never
    leaves a truncated file (the resumable experiments store every finished unit so). ``indent=None`` writes
    compact JSON, ``indent=1`` one value per line; each experiment keeps the format it has always had."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=indent) if indent is not None else json.dumps(results, separators=(",", ":"))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def load_partial(path: str | Path) -> dict[str, Any]:
    """What a resumable experiment has stored at ``path`` so far (``{}`` when it has not started)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def record_run_seconds(path: str | Path, label: str, seconds: float) -> None:
    """Add how long one command took (wall clock) to the stored file, under ``run_seconds[label]``:
    ``label`` is "all" for a full run, or the parts or seeds a partial run did (a resumable run adds one
    entry per command). The book quotes a script's run time from here, never from memory."""
    path = Path(path)
    results = load_partial(path)
    if not results:
        return
    runs = results.get("run_seconds")
    results["run_seconds"] = {**(runs if isinstance(runs, dict) else {}), label: round(seconds, 1)}
    text = path.read_text()
    save_stored(path, results, indent=1 if text.startswith("{\n") else None)


def check_parts(parts: Any, known: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming any of ``parts`` that is not one of an experiment's ``known`` parts."""
    unknown = set(parts) - set(known)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {known}")


def store_parts(out: str | Path, results: dict[str, Any], parts: Any, known: tuple[str, ...],
                steps: dict[str, Any], before_each: Any = None) -> dict[str, Any]:
    """Run each of ``parts`` (in the order of ``known``) with its function in ``steps``, time it as
    ``unit_seconds``, and store ``results`` after every part, so that a stopped run keeps what it finished."""
    for part in known:
        if part not in parts:
            continue
        if before_each is not None:
            before_each()
        started = time.perf_counter()
        results[part] = steps[part]()
        results[part]["unit_seconds"] = round(time.perf_counter() - started, 1)
        results.update(versions=ragft.versions(), machine=ragft.env.machine())
        save_stored(out, results, indent=1)
    return results

