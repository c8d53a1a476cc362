"""The book's LoRA training on more than one process or device, through ``accelerate`` (chapter 9).

Data parallelism: every process holds a copy of the model, reads its own slice of each batch, and the
processes average their gradients before every optimiser step, so all copies stay equal. The same
function runs on one CPU process, on several CPU processes (the ``gloo`` backend) and on one or more
GPUs (``nccl``, with bfloat16 mixed precision where the GPU has it); only the launcher changes:

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m ragft.distributed --out run.json

(``accelerate launch --multi_gpu --num_processes 2 -m ragft.distributed ...`` on a GPU machine does the
same). ``launch`` below starts it from Python and returns what rank 0 stored.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ragft.data import load_tickets
from ragft.env import pin_threads
from ragft.finetune import add_lora, collate, tokenize_example
from ragft.models import load_generator
from ragft.triage import TICKET_SYSTEM, ticket_example


def ticket_data(tokenizer: Any, n: int) -> list[dict[str, list[int]]]:
    """The first ``n`` ticket-triage training examples, tokenized as chapter 2 teaches."""
    return [tokenize_example(tokenizer, ticket_example(t), TICKET_SYSTEM) for t in load_tickets("train")[:n]]


def train_data_parallel(steps: int = 20, batch_size: int = 8, lr: float = 1e-3, seed: int = 0) -> dict[str, Any]:
    """LoRA training with accelerate; every process runs this. ``batch_size`` is the global batch.

    Taught in notebook 09.
    """
    import torch
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader

    gpu = torch.cuda.is_available()
    # split_batches: each batch of the loader is the global batch, cut into one slice per process
    accelerator = Accelerator(cpu=not gpu, dataloader_config=DataLoaderConfiguration(split_batches=True),
                              mixed_precision="bf16" if gpu and torch.cuda.is_bf16_supported() else "no")
    if batch_size % accelerator.num_processes:
        raise ValueError(f"batch_size {batch_size} must divide evenly among {accelerator.num_processes} processes")
    set_seed(seed)  # the same seed everywhere: every process starts from the same LoRA weights
    model, tokenizer = load_generator()
    model = add_lora(model)
    data = ticket_data(tokenizer, steps * batch_size)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
                        collate_fn=lambda b: collate(b, tokenizer.pad_token_id))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    model.train()
    losses, seconds, tokens, examples = [], [], [], []
    while len(losses) < steps:  # as many passes over the data as the steps need
        for batch in loader:
            started = time.perf_counter()
            with accelerator.autocast():
                loss = model(**batch).loss
            accelerator.backward(loss)  # the gradients are averaged across processes here
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(accelerator.reduce(loss.detach(), "mean")))
            seconds.append(time.perf_counter() - started)
            tokens.append(int(accelerator.reduce(batch["attention_mask"].sum(), "sum")))  # in the global batch
            examples.append(int(accelerator.reduce(torch.tensor(len(batch["input_ids"]), device=accelerator.device), "sum")))
            if len(losses) == steps:
                break
    # proof that the copies stayed equal: every process sums its LoRA weights, rank 0 compares the sums
    total = sum(float(p.detach().float().sum()) for p in accelerator.unwrap_model(model).parameters() if p.requires_grad)
    sums = accelerator.gather(torch.tensor([total], device=accelerator.device)).tolist()
    return {"processes": accelerator.num_processes, "device": str(accelerator.device),
            "backend": accelerator.state.backend or "none", "mixed_precision": accelerator.mixed_precision,
            "threads_per_process": torch.get_num_threads(), "steps": len(losses), "global_batch": batch_size,
            "loss": [round(x, 4) for x in losses], "seconds_per_step": seconds, "tokens_per_step": tokens,
            "examples_per_step": examples,
            "weight_sums": sums, "is_main": accelerator.is_main_process}


def launch(processes: int = 2, steps: int = 20, batch_size: int = 8, threads: int | None = None,
           timeout: float = 900) -> dict[str, Any]:
    """Start ``processes`` training processes with torch's launcher; return rank 0's results.

    ``threads`` per process defaults to the CPU count divided among the processes, so that one and two
    processes use the same cores. Raises ``RuntimeError`` with the processes' output if the run fails.
    """
    if processes < 1 or steps < 1:
        raise ValueError("need at least one process and one step")
    threads = threads or max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "RAGFT_THREADS": str(threads),
           "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "ragft.distributed", "--steps", str(steps), "--batch-size", str(batch_size), "--out", str(out)]
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - started
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"the {processes}-process run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        result = json.loads(out.read_text())
    result["wall_seconds"] = round(wall, 1)
    return result


def main(argv: list[str] | None = None) -> None:
    """Entry point of each process the launcher starts; rank 0 writes the results to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    pin_threads()  # RAGFT_THREADS, which launch sets to the cores each process may use
    result = train_data_parallel(args.steps, args.batch_size, args.lr)
    if result.pop("is_main"):
        args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
