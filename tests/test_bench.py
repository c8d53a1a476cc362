import pytest

from ragft import bench


def test_percentiles_are_in_milliseconds():
    out = bench._percentiles([0.001] * 19 + [0.1])
    assert out["p50_ms"] == pytest.approx(1.0) and out["p95_ms"] > 1.0


def test_bench_refuses_nonsense_arguments(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--questions", "0"])
    assert "at least 1" in capsys.readouterr().err
