import pytest

from ragft.stats import format_rate, paired_bootstrap, rate, wilson_interval


def test_wilson_interval_matches_known_values_and_stays_in_0_1():
    low, high = wilson_interval(30, 60)
    assert (round(low, 3), round(high, 3)) == (0.377, 0.623)
    assert wilson_interval(0, 10)[0] == 0.0 and 0.25 < wilson_interval(0, 10)[1] < 0.35
    assert wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_rate_and_its_printed_form():
    r = rate([1, 0, 1, 1])
    assert r["rate"] == 0.75 and r["n"] == 4 and r["low"] < 0.75 < r["high"]
    assert format_rate([True] * 45 + [False] * 15) == "0.750 [0.628, 0.842] (n=60)"


def test_paired_bootstrap_finds_a_clear_difference_and_not_noise():
    a, b = [1] * 50 + [0] * 10, [1] * 20 + [0] * 40
    clear = paired_bootstrap(a, b)
    assert clear["diff"] == 0.5 and clear["low"] > 0 and clear["finding"]
    same = paired_bootstrap([1, 0] * 30, [0, 1] * 30)
    assert same["diff"] == 0 and same["low"] < 0 < same["high"] and not same["finding"]
    assert paired_bootstrap(a, b) == clear  # seeded
    with pytest.raises(ValueError):
        paired_bootstrap([1], [1, 0])
