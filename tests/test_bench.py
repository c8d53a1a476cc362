import types

import pytest

from ragft import bench


def test_percentiles_are_in_milliseconds():
    out = bench._percentiles([0.001] * 19 + [0.1])
    # 1 ms nineteen times and 100 ms once: the 95th percentile lies at rank 0.95 * 19 = 18.05,
    # 5 % of the way from 1 ms to 100 ms: 1 + 0.05 * 99 = 5.95 ms
    assert out == {"p50_ms": 1.0, "p95_ms": 5.95}
    assert bench._percentiles([0.002, 0.004]) == {"p50_ms": 3.0, "p95_ms": 3.9}


def test_best_of_keeps_the_fastest_run(monkeypatch):
    clock = iter([0.0, 3.0, 10.0, 11.5, 20.0, 22.0])  # runs of 3 s, 1.5 s and 2 s
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    calls = []
    assert bench._best_of(3, lambda: calls.append(1)) == 1.5 and len(calls) == 3


def test_bench_refuses_nonsense_arguments(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--questions", "0"])
    assert "at least 1" in capsys.readouterr().err
