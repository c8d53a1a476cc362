"""How sure a measured rate is: a 95 % interval for a share, and a paired bootstrap for a difference.

A rate measured on n items is printed with its interval; a difference between two systems measured on the
same items is called a finding only when its paired interval excludes 0.
"""
from __future__ import annotations

import math
import random
from typing import Sequence

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a share ``successes / n`` (95 % by default); sound for small n and 0 or n."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need n >= 1 and 0 <= successes <= n, got {successes} of {n}")
    if successes == 0 or successes == n:  # the closed forms, without rounding error at the ends
        bound = n / (n + z * z)
        return (0.0, 1 - bound) if successes == 0 else (bound, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(outcomes: Sequence[bool | int]) -> dict[str, float]:
    """A share of true outcomes with its n and its 95 % Wilson interval."""
    n, k = len(outcomes), sum(bool(o) for o in outcomes)
    low, high = wilson_interval(k, n)
    return {"rate": k / n, "n": n, "low": low, "high": high}


def bootstrap_rate(values: Sequence[float], n_boot: int = 10_000, seed: int = 0) -> dict[str, float]:
    """The mean of per-item scores in [0, 1] with its n and a 95 % percentile bootstrap interval.

    For a share averaged over several training seeds: each question scores the fraction of seeds that
    answered it correctly, and questions are resampled, so the interval covers the choice of questions
    (the seeds' spread is reported beside it).
    """
    if not values or any(not 0 <= v <= 1 for v in values):
        raise ValueError("need a non-empty list of scores between 0 and 1")
    n, rng = len(values), random.Random(seed)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    return {"rate": sum(values) / n, "n": n, "low": means[int(0.025 * n_boot)],
            "high": means[int(0.975 * n_boot) - 1]}


def paired_bootstrap(a: Sequence[bool | float], b: Sequence[bool | float], n_boot: int = 10_000,
                     seed: int = 0) -> dict[str, float]:
    """Mean of ``a`` minus mean of ``b`` over the same items, with a 95 % percentile bootstrap interval.

    Items are resampled together (the same ticket or question for both systems), so the interval
    reflects how the two systems differ item by item, not only how each varies.

    Taught in notebook 02b.
    """
    if len(a) != len(b) or not a:
        raise ValueError("a and b must be non-empty and measured on the same items")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    n, rng = len(diffs), random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    low, high = means[int(0.025 * n_boot)], means[int(0.975 * n_boot) - 1]
    return {"diff": sum(diffs) / n, "low": low, "high": high, "finding": low > 0 or high < 0}


def cluster_bootstrap(a: Sequence[bool | float], clusters: Sequence[str], b: Sequence[bool | float] | None = None,
                      n_boot: int = 10_000, seed: int = 0) -> dict[str, float]:
    """The mean of ``a`` (or of ``a - b``, item by item) with a 95 % interval that resamples whole clusters.

    Questions about the same document, or tickets made from the same template, are not independent: a
    system that reads one document well gets all its questions right. Resampling items as if they were
    independent then gives too narrow an interval. Here each bootstrap sample draws clusters with
    replacement and keeps all of their items, so the interval covers the choice of documents (templates).

    Taught in notebook 02b.
    """
    if len(a) != len(clusters) or not a or (b is not None and len(b) != len(a)):
        raise ValueError("a, b and clusters must be non-empty and of the same length (one entry per item)")
    values = [float(x) - (float(b[i]) if b is not None else 0.0) for i, x in enumerate(a)]
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for value, cluster in zip(values, clusters):
        sums[cluster] = sums.get(cluster, 0.0) + value
        counts[cluster] = counts.get(cluster, 0) + 1
    groups, rng = [(sums[c], counts[c]) for c in sums], random.Random(seed)
    k = len(groups)
    means = []
    for _ in range(n_boot):  # draw k clusters with replacement; the mean over all their items
        drawn = [groups[rng.randrange(k)] for _ in range(k)]
        means.append(sum(total for total, _ in drawn) / sum(n for _, n in drawn))
    means.sort()
    low, high = means[int(0.025 * n_boot)], means[int(0.975 * n_boot) - 1]
    return {"mean": sum(values) / len(values), "low": low, "high": high, "n": len(values), "clusters": k,
            "finding": low > 0 or high < 0}


def format_rate(outcomes: Sequence[bool | int]) -> str:
    """'0.717 [0.593, 0.815] (n=60)': a rate as the book prints it."""
    r = rate(outcomes)
    return f"{r['rate']:.3f} [{r['low']:.3f}, {r['high']:.3f}] (n={r['n']})"


def percentiles(ms: Sequence[float], digits: int) -> dict[str, float]:
    """The median and 95th percentile of latencies in milliseconds (numpy's linear interpolation), rounded
    to ``digits`` decimals: ``{"p50_ms": ..., "p95_ms": ...}``. Every latency the book reports uses this."""
    import numpy as np

    values = np.asarray(ms, dtype=float)
    if values.size == 0:
        raise ValueError("no latencies: time at least one call")
    return {"p50_ms": round(float(np.percentile(values, 50)), digits),
            "p95_ms": round(float(np.percentile(values, 95)), digits)}
