"""Fine-tuning the embedder on (question, section) pairs, chapter 6's other way of combining the approaches."""
from __future__ import annotations

from typing import Sequence

from ragft.chunking import Chunk
from ragft.data import Fact, load_facts
from ragft.env import show_progress
from ragft.evaluate import contains_answer


def gold_chunk(chunks: Sequence[Chunk], fact: Fact) -> Chunk:
    """The chunk of the fact's document that holds its answer (the one a retriever should find)."""
    for chunk in chunks:
        if chunk.doc_id == fact.doc_id and contains_answer(chunk.text, [fact.answer]):
            return chunk
    raise ValueError(f"no chunk of {fact.doc_id} contains the answer of {fact.id} ({fact.answer!r})")


def embedder_pairs(chunks: list, questions: list) -> dict[str, list[str]]:
    """One (training question, gold section) pair per fact: the first training wording of each fact.

    Taught in notebook 06.
    """
    facts = {f.id: f for f in load_facts()}
    first_wording = list({q.fact_ids[0]: q for q in reversed(questions)}.values())[::-1]
    return {"question": [q.question for q in first_wording],
            "section": [gold_chunk(chunks, facts[q.fact_ids[0]]).text for q in first_wording]}


def fine_tune_embedder(embedder, pairs, epochs=1, batch_size=16, lr=5e-5, seed=0):
    """Fine-tune a sentence-transformers embedder in place on (question, section) pairs; returns the trainer.

    Taught in notebook 06.
    """
    import tempfile

    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import PrinterCallback

    args = SentenceTransformerTrainingArguments(
        output_dir=tempfile.mkdtemp(), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, warmup_steps=2, batch_sampler=BatchSamplers.NO_DUPLICATES, seed=seed,
        save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=not show_progress(),
        dataloader_pin_memory=False)  # pinned memory is for GPUs
    # The trainer also drafts a model card for the Hugging Face Hub (with its own progress bar); we need none.
    embedder.model_card_data.set_widget_examples = lambda dataset: None
    trainer = SentenceTransformerTrainer(model=embedder, args=args, train_dataset=pairs,
                                         loss=MultipleNegativesRankingLoss(embedder))
    trainer.remove_callback(PrinterCallback)  # without a progress bar it would print the run's timings
    trainer.train()
    return trainer
