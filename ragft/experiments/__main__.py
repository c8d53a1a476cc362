"""``python -m ragft.experiments NAME``: run one experiment and store its results under ``ragft/results/``."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ragft.adapter_cache import adapter_cache_dir, clear_adapter_cache
from ragft.experiments import (context, embedder, exercises, gates, head_to_head, learning_curves, purpose, scale, security,
                               style, triage, wording)
from ragft.experiments.results import record_run_seconds

EXPERIMENTS = ["learning-curves", "purpose", "head-to-head", "embedder", "context", "security", "triage", "scale",
               "exercises", "wording", "gates", "style"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ragft.experiments",
                                     description="Run one of the book's scripted experiments and store its results.")
    parser.add_argument("experiment", choices=EXPERIMENTS + ["clear-adapter-cache"],
                        help="an experiment to run, or clear-adapter-cache to delete the adapters fit_lora cached")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON (default: ragft/results/)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="head-to-head only: the training seeds to run (default 0 1 2; stored ones are skipped)")
    parser.add_argument("--parts", nargs="+", default=None,
                        help="security, scale and exercises only: the parts to run (security: access finetune injection "
                             "backdoor; scale: index synthetic training throughput database; exercises: overfetch history "
                             "embedder latency chunks; wording: adapters distances plain; style: style summaries; default all)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test on a few facts or tickets (needs --out; it leaves the stored results alone)")
    args = parser.parse_args(argv)
    if args.experiment == "clear-adapter-cache":
        print(f"deleted {clear_adapter_cache()} cached adapters from {adapter_cache_dir()}")
        return
    if args.experiment in ("learning-curves", "purpose", "embedder", "context", "security", "scale",
                           "exercises", "wording", "gates") and args.quick:
        raise SystemExit(f"{args.experiment} has no --quick variant: it runs in minutes (use --out to keep the stored file)")
    if args.quick and args.out is None:
        raise SystemExit("--quick needs --out, so that it does not overwrite the stored results")
    started = time.perf_counter()
    # a resumable experiment keeps what its file holds: then the time recorded is that of the resumed part only
    resumable = {"head-to-head": head_to_head.STORED, "security": security.STORED, "scale": scale.STORED,
                 "triage": triage.STORED, "exercises": exercises.STORED, "wording": wording.STORED,
                 "style": style.STORED}
    target = args.out or resumable.get(args.experiment)
    resumed = args.experiment in resumable and target is not None and Path(target).is_file()
    if args.experiment == "learning-curves":
        out = args.out or learning_curves.STORED
        learning_curves.learning_curves(out)
    elif args.experiment == "purpose":
        out = args.out or purpose.STORED
        purpose.purpose(out)
    elif args.experiment == "embedder":
        out = args.out or embedder.STORED
        embedder.embedder(out)
    elif args.experiment == "context":
        out = args.out or context.STORED
        context.context_sweep(out)
    elif args.experiment == "security":
        out = args.out or security.STORED
        security.run(out, parts=tuple(args.parts) if args.parts else security.PARTS)
    elif args.experiment == "scale":
        out = args.out or scale.STORED
        scale.run(out, parts=tuple(args.parts) if args.parts else scale.PARTS)
    elif args.experiment == "exercises":
        out = args.out or exercises.STORED
        exercises.run(out, parts=tuple(args.parts) if args.parts else exercises.PARTS)
    elif args.experiment == "wording":
        out = args.out or wording.STORED
        wording.run(out, parts=tuple(args.parts) if args.parts else wording.PARTS)
    elif args.experiment == "style":
        out = args.out or style.STORED
        style.run(out, parts=tuple(args.parts) if args.parts else style.PARTS, quick=args.quick)
    elif args.experiment == "gates":
        out = args.out or gates.STORED
        gates.run(out)
    elif args.experiment == "triage":
        out = args.out or triage.STORED
        triage.run(out, adapter_out=out.parent / "triage-adapter" if args.quick else triage.ADAPTER_DIR,
                   quick=args.quick)
    else:
        out = args.out or head_to_head.STORED
        seeds = tuple(args.seeds) if args.seeds else (0,) if args.quick else head_to_head.SEEDS
        if seeds[0] != head_to_head.SEEDS[0]:
            raise SystemExit(f"--seeds must start with {head_to_head.SEEDS[0]}, the seed whose adapters ship")
        head_to_head.run(out, seeds=seeds, quick=args.quick,
                         adapter_out=out.parent / "adapters" if args.quick else head_to_head.ADAPTER_DIR)
    label = "gates" if args.experiment == "gates" else ("quick " if args.quick else "") + ("resumed " if resumed else "") + (
        "parts " + " ".join(args.parts) if args.parts else "seeds " + " ".join(map(str, args.seeds)) if args.seeds
        else "all")
    record_run_seconds(out, label, time.perf_counter() - started)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
