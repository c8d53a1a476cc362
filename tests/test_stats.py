import pytest

from ragft.stats import Z95, bootstrap_rate, format_rate, paired_bootstrap, rate, wilson_interval


def test_wilson_interval_matches_known_values_and_stays_in_0_1():
    low, high = wilson_interval(30, 60)
    assert (round(low, 3), round(high, 3)) == (0.377, 0.623)
    # 0 of 10: the interval starts at 0 and ends at z^2 / (n + z^2) = 3.8415 / 13.8415
    assert wilson_interval(0, 10)[0] == 0.0 and round(wilson_interval(0, 10)[1], 4) == 0.2775
    assert wilson_interval(10, 10)[1] == 1.0 and round(wilson_interval(10, 10)[0], 4) == 0.7225
    assert (round(wilson_interval(3, 4)[0], 4), round(wilson_interval(3, 4)[1], 4)) == (0.3006, 0.9544)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


@pytest.mark.parametrize("k, n", [(0, 10), (1, 10), (3, 7), (30, 60), (59, 60)])
def test_wilson_interval_is_symmetric_contains_the_share_and_narrows_with_z(k, n):
    low, high = wilson_interval(k, n)
    mirrored = wilson_interval(n - k, n)  # failures instead of successes: the interval mirrored at 0.5
    assert low == pytest.approx(1 - mirrored[1]) and high == pytest.approx(1 - mirrored[0])
    assert 0 <= low <= k / n <= high <= 1
    narrow = wilson_interval(k, n, z=Z95 / 2)
    assert low <= narrow[0] and narrow[1] <= high and (narrow[0], narrow[1]) != (low, high)


def test_rate_and_its_printed_form():
    r = rate([1, 0, 1, 1])
    assert r["rate"] == 0.75 and r["n"] == 4
    assert (round(r["low"], 4), round(r["high"], 4)) == (0.3006, 0.9544)  # the Wilson interval of 3 of 4
    assert format_rate([True] * 45 + [False] * 15) == "0.750 [0.628, 0.842] (n=60)"


def test_paired_bootstrap_finds_a_clear_difference_and_not_noise():
    a, b = [1] * 50 + [0] * 10, [1] * 20 + [0] * 40
    clear = paired_bootstrap(a, b)
    assert clear["diff"] == 0.5 and clear["low"] > 0 and clear["finding"]
    assert clear["low"] <= clear["diff"] <= clear["high"]
    same = paired_bootstrap([1, 0] * 30, [0, 1] * 30)
    assert same["diff"] == 0 and same["low"] < 0 < same["high"] and not same["finding"]
    assert paired_bootstrap(a, b, seed=0) == clear  # the default seed is 0
    with pytest.raises(ValueError):
        paired_bootstrap([1], [1, 0])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


def test_paired_bootstrap_of_identical_differences_has_no_spread():
    # every item differs by exactly 1: every resample has mean 1
    assert paired_bootstrap([1] * 5, [0] * 5) == {"diff": 1.0, "low": 1.0, "high": 1.0, "finding": True}
    assert paired_bootstrap([1, 1], [1, 1]) == {"diff": 0.0, "low": 0.0, "high": 0.0, "finding": False}


def test_paired_bootstrap_resamples_pairs_not_each_side_alone():
    # b is a copy of a: paired, every difference is 0, so there is no spread at all;
    # resampling the two lists separately would give a wide interval around 0
    a = [1, 0, 0, 1, 1, 0, 1, 0] * 5
    assert paired_bootstrap(a, list(a)) == {"diff": 0.0, "low": 0.0, "high": 0.0, "finding": False}


def test_paired_bootstrap_depends_on_its_seed():
    a, b = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1], [0, 0, 1, 0, 1, 0, 0, 0, 1, 0]
    runs = {seed: paired_bootstrap(a, b, n_boot=200, seed=seed) for seed in range(5)}
    assert all(r["diff"] == pytest.approx(0.3) for r in runs.values())
    assert len({(r["low"], r["high"]) for r in runs.values()}) > 1
    assert paired_bootstrap(a, b, n_boot=200, seed=3) == runs[3]


def test_bootstrap_rate_contains_its_mean_and_has_no_spread_for_equal_scores():
    scores = [1, 2 / 3, 0, 1 / 3, 1, 1, 0, 2 / 3, 1 / 3, 1]
    r = bootstrap_rate(scores)
    assert r["rate"] == pytest.approx(0.6) and r["n"] == 10
    assert 0 <= r["low"] < r["rate"] < r["high"] <= 1
    assert bootstrap_rate([0.5] * 7) == {"rate": 0.5, "n": 7, "low": 0.5, "high": 0.5}
    by_seed = {seed: bootstrap_rate(scores, n_boot=200, seed=seed) for seed in range(5)}
    assert len({(b["low"], b["high"]) for b in by_seed.values()}) > 1  # the seed drives the resampling
    for bad in ([], [1.5], [-0.1, 0.5]):
        with pytest.raises(ValueError, match="between 0 and 1"):
            bootstrap_rate(bad)
