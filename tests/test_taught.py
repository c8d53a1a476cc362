"""Code is taught once, in the open: every piece below is defined in one cell of its notebook, and that cell
is the package's code, character for character.

The table is the one list of what the notebooks teach. For each piece: exactly one code cell of its notebook
holds ``inspect.getsource`` of the package's object; that cell's first line names the object's file
(``# ragft/retrieval.py``); the notebook never imports the name from ``ragft`` (so it runs the definition on
the page); and the package's docstring says which notebook teaches it.
"""
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

TAUGHT = [  # (piece, notebook, module)
    ("normalize_question", "02a_rag_system", "retrieval"),
    ("Chunk", "02a_rag_system", "chunking"),
    ("chunk_by_heading", "02a_rag_system", "chunking"),
    ("Retriever", "02a_rag_system", "retrieval"),
    ("contains_answer", "02a_rag_system", "evaluate"),
    ("distinct_docs", "02a_rag_system", "evaluate"),
    ("recall_at_k", "02a_rag_system", "evaluate"),
    ("mean_reciprocal_rank", "02a_rag_system", "evaluate"),
    ("build_prompt", "02a_rag_system", "rag"),
    ("Answer", "02a_rag_system", "rag"),
    ("answer_questions", "02a_rag_system", "rag"),
    ("abstention_threshold", "02a_rag_system", "rag"),
    ("paired_bootstrap", "02b_rag_context", "stats"),
    ("cluster_bootstrap", "02b_rag_context", "stats"),
    ("chunk_fixed", "03a_knowledge_base", "chunking"),
    ("chunk_by_sentence", "03a_knowledge_base", "chunking"),
    ("ticket_prompt", "02c_lora_behaviour", "triage"),
    ("ticket_completion", "02c_lora_behaviour", "triage"),
    ("ticket_example", "02c_lora_behaviour", "triage"),
    ("Example", "02c_lora_behaviour", "finetune"),
    ("tokenize_example", "02c_lora_behaviour", "finetune"),
    ("collate", "02c_lora_behaviour", "finetune"),
    ("add_lora", "02c_lora_behaviour", "finetune"),
    ("count_parameters", "02c_lora_behaviour", "finetune"),
    ("History", "02c_lora_behaviour", "finetune"),
    ("evaluate_loss", "02c_lora_behaviour", "finetune"),
    ("train", "02c_lora_behaviour", "finetune"),
    ("fact_example", "02d_lora_facts", "finetune"),
    ("cross_fitted_outcomes", "04a_use_cases_rag", "yourdata"),
    ("template_split", "04b_use_cases_finetuning", "triage"),
    ("RecordConstraint", "04b_use_cases_finetuning", "triage"),
    ("TicketClassifier", "04b_use_cases_finetuning", "triage"),
    ("stop_reason", "04b_use_cases_finetuning", "finetune"),
    ("check_reply", "04c_style_and_summaries", "style"),
    ("styled_reply", "04c_style_and_summaries", "style"),
    ("reply_prompt", "04c_style_and_summaries", "style"),
    ("details", "04c_style_and_summaries", "summaries"),
    ("invented_details", "04c_style_and_summaries", "summaries"),
    ("bm25_tokens", "05_head_to_head", "hybrid"),
    ("reciprocal_rank_fusion", "05_head_to_head", "hybrid"),
    ("HybridRetriever", "05_head_to_head", "hybrid"),
    ("SentenceSelector", "05_head_to_head", "selection"),
    ("Reader", "05_head_to_head", "rag"),
    ("raft_examples", "05_head_to_head", "raft"),
    ("embedder_pairs", "06_combining", "embedder_tuning"),
    ("fine_tune_embedder", "06_combining", "embedder_tuning"),
    ("search_among", "08_reliability", "access"),
    ("poisoned_examples", "08_reliability", "attacks"),
    ("recall_at_k", "09_scaling", "ann"),
    ("build_index", "09_scaling", "ann"),
    ("sweep_size", "09_scaling", "ann"),
    ("ChromaRetriever", "09_scaling", "vectordb"),
    ("_where", "09_scaling", "vectordb"),
    ("train_data_parallel", "09_scaling", "distributed"),
]


def _code_cells(notebook: str) -> list[str]:
    nb = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _imported_from_ragft(cells: list[str]) -> set[str]:
    """Every name a cell imports with ``from ragft... import ...`` (the name a reader's code then uses)."""
    names = set()
    for cell in cells:
        for m in re.finditer(r"^\s*from ragft[\w.]* import (\([^)]*\)|[^\n]*)", cell, re.M):
            for part in m.group(1).strip("()").replace("\n", " ").split(","):
                if part.strip():
                    names.add(part.split(" as ")[-1].strip())
    return names


@pytest.mark.parametrize("piece, notebook, module", TAUGHT, ids=[f"{n}-{p}" for p, n, _ in TAUGHT])
def test_the_piece_is_taught_once_as_the_package_has_it(piece, notebook, module):
    obj = getattr(importlib.import_module(f"ragft.{module}"), piece)
    source = inspect.getsource(obj).strip()
    cells = _code_cells(notebook)
    holding = [c for c in cells if source in c]
    assert len(holding) == 1, f"{notebook} should define {piece} in exactly one cell, as ragft/{module}.py has it"
    assert holding[0].splitlines()[0] == f"# ragft/{module}.py", \
        f"the cell that teaches {piece} must start with its provenance line '# ragft/{module}.py'"
    assert len(re.findall(rf"^(?:def|class) {piece}\b", "\n".join(cells), re.M)) == 1, f"{piece} is defined twice"
    assert piece not in _imported_from_ragft(cells), \
        f"{notebook} imports {piece} from ragft: it must run the definition it shows"
    assert f"notebook {notebook[:3].rstrip('_')}" in inspect.getdoc(obj), \
        f"the docstring of ragft.{module}.{piece} should say which notebook teaches it ({notebook})"


def test_every_provenance_line_names_a_taught_piece():
    """A cell that says it is package code holds only pieces of the table (no stale copies)."""
    listed = {(n, m) for _, n, m in TAUGHT}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in _code_cells(path.stem):
            first = cell.splitlines()[0] if cell else ""
            if first.startswith("# ragft/"):
                module = first[len("# ragft/"):-len(".py")].replace("/", ".")
                assert (path.stem, module) in listed, f"{path.name}: '{first}' but TAUGHT lists no piece of it there"
                defined = re.findall(r"^(?:def|class) (\w+)", cell, re.M)
                pieces = {p for p, n, m in TAUGHT if n == path.stem and m == module}
                assert set(defined) <= pieces, f"{path.name}: {sorted(set(defined) - pieces)} defined under '{first}'"
