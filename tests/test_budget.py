"""One reader budget: every answered question in the book is generated with at most ``ANSWER_TOKENS`` new
tokens, and that budget cuts almost no answer short (chapter 2's stored budget check)."""
import inspect

from ragft.experiments import security
from ragft.experiments.results import load_stored
from ragft.headtohead import MAX_NEW_TOKENS
from ragft.models import ANSWER_TOKENS
from ragft.rag import answer_questions

MAX_CUT = 0.05  # at most this share of the test questions may turn right with twice the budget (measured: 0.035)


def test_one_budget_for_every_answered_question():
    assert inspect.signature(answer_questions).parameters["max_new_tokens"].default == ANSWER_TOKENS
    assert MAX_NEW_TOKENS == ANSWER_TOKENS and security.MAX_NEW_TOKENS == ANSWER_TOKENS
    assert load_stored("context")["max_new_tokens"] == ANSWER_TOKENS


def test_the_budget_cuts_almost_no_answer():
    check = load_stored("context")["budget_check"]
    assert check["budget"] == ANSWER_TOKENS and check["factor"] >= 2
    reasked, turned = len(check["reasked"]), sum(check["turned_right"])
    rate = turned / check["questions"]
    print(f"\nbudget {check['budget']} tokens: {reasked} of {check['questions']} replies were wrong and used the whole "
          f"budget; with {check['factor'] * check['budget']} tokens {turned} turned right: {rate:.3f} of the "
          f"questions were cut in mid-answer (allowed: {MAX_CUT})")
    assert rate <= MAX_CUT


def test_chapter_2_and_the_later_chapters_agree_on_dense_rag():
    """The same system (dense retrieval, one section, plain layout, the same budget) in chapter 2's sweep and in
    chapter 9's pipeline: the same share of the 255 test questions answered."""
    sweep = next(c for c in load_stored("context")["configs"] if c["k"] == 1 and c["layout"] == "plain")
    pipeline = load_stored("scale")["database"]["correct_faiss"]
    assert len(sweep["correct"]) == len(pipeline) == 255
    assert round(sum(sweep["correct"]) / 255, 3) == round(sum(pipeline) / 255, 3)
