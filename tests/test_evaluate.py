import pytest

from ragft.evaluate import accuracy, contains_answer


@pytest.mark.parametrize("prediction, answer, expected", [
    ("The stipend is EUR 280 per week.", "EUR 280", True),
    ("It costs eur 280.", "EUR 280", True),
    ("It costs EUR 2800.", "EUR 280", False),
    ("It costs EUR 280.50", "EUR 280", False),
    ("Wait 120 minutes.", "20 minutes", False),
    ("Update to firmware 4.2.1.", "4.2.1", True),
    ("Update to firmware 4.2.10.", "4.2.1", False),
    ("Run it for 3 days a week", "3 days a week", True),
])
def test_contains_answer_matches_whole_words(prediction, answer, expected):
    assert contains_answer(prediction, [answer]) is expected


def test_contains_answer_accepts_aliases_and_ignores_empty():
    assert contains_answer("about 6,500 square metres", ["6500 m2", "6,500 square metres"])
    assert not contains_answer("anything", [""])


def test_accuracy():
    assert accuracy(["EUR 280", "no idea"], [["EUR 280"], ["31 months"]]) == 0.5
    with pytest.raises(ValueError):
        accuracy([], [])


@pytest.mark.parametrize("reply, expected", [
    ("I don't know.", True), ("I do not know the answer", True), ("The text does not say.", True),
    ("", True), ("It lasts 31 months.", False), ("Not sure, maybe 3 months", False)])
def test_is_abstention(reply, expected):
    from ragft.evaluate import is_abstention

    assert is_abstention(reply) is expected
