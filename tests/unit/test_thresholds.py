from health import thresholds
from health.thresholds import damp, evaluate, thresholds_for, validate_thresholds

API = thresholds_for("api", None)


def test_each_threshold_moves_the_status_one_level() -> None:
    assert evaluate({"latency_p95_ms": 499.9}, API)[0] == "healthy"
    assert evaluate({"latency_p95_ms": 500}, API)[0] == "degraded"
    assert evaluate({"latency_p95_ms": 1500}, API)[0] == "unhealthy"
    assert evaluate({"latency_p95_ms": 5000}, API)[0] == "critical"
    assert evaluate({"error_rate": 0.019}, API)[0] == "healthy"
    assert evaluate({"error_rate": 0.02}, API)[0] == "degraded"
    assert evaluate({"error_rate": 0.10}, API)[0] == "unhealthy"
    assert evaluate({"error_rate": 0.25}, API)[0] == "critical"


def test_availability_is_worse_when_lower() -> None:
    assert evaluate({"availability": 1.0}, API)[0] == "healthy"
    assert evaluate({"availability": 0.995}, API)[0] == "degraded"
    assert evaluate({"availability": 0.95}, API)[0] == "unhealthy"
    assert evaluate({"availability": 0.5}, API)[0] == "critical"


def test_the_worst_metric_decides_and_is_named() -> None:
    status, reasons = evaluate({"latency_p95_ms": 600, "error_rate": 0.3, "availability": None}, API)
    assert status == "critical"
    assert reasons == ["error_rate=0.3"]


def test_overrides_replace_only_the_named_metric() -> None:
    merged = thresholds_for("database", {"latency_p95_ms": [10, 20, 30]})
    assert merged["latency_p95_ms"] == [10.0, 20.0, 30.0]
    assert merged["error_rate"] == thresholds.DEFAULT_THRESHOLDS["database"]["error_rate"]


def test_bad_overrides_are_explained() -> None:
    assert validate_thresholds({"latency_p95_ms": [300, 200, 100]}) == [
        "latency_p95_ms: the three bounds must be ascending"
    ]
    assert validate_thresholds({"availability": [0.8, 0.9, 0.99]}) == [
        "availability: the three bounds must be descending"
    ]
    assert "unknown metric" in validate_thresholds({"bogus": [1, 2, 3]})[0]
    assert "three numbers" in validate_thresholds({"error_rate": [0.1, 0.2]})[0]
    assert validate_thresholds({"error_rate": [0.05, 0.1, 0.2]}) == []


def test_one_bad_window_does_not_turn_a_component_worse() -> None:
    assert damp("healthy", ["critical", "healthy", "healthy"], bad_n=2, window_m=3, recover_k=2) == "healthy"


def test_two_bad_windows_of_three_do() -> None:
    assert damp("healthy", ["critical", "healthy", "unhealthy"], bad_n=2, window_m=3, recover_k=2) == "unhealthy"
    assert damp("healthy", ["critical", "critical", "healthy"], bad_n=2, window_m=3, recover_k=2) == "critical"


def test_recovery_needs_k_good_windows_in_a_row() -> None:
    assert damp("critical", ["healthy", "critical", "critical"], bad_n=2, window_m=3, recover_k=2) == "critical"
    assert damp("critical", ["healthy", "healthy", "critical"], bad_n=2, window_m=3, recover_k=2) == "healthy"
    assert damp("critical", ["healthy", "degraded", "critical"], bad_n=2, window_m=3, recover_k=2) == "degraded"


def test_a_flapping_metric_holds_one_status() -> None:
    status = "healthy"
    history: list[str] = []
    seen = set()
    for i in range(30):
        history.insert(0, "critical" if i % 2 else "healthy")
        status = damp(status, history, bad_n=2, window_m=3, recover_k=2)
        seen.add(status)
    # Alternating windows turn it bad once and it stays bad: no flapping between the two.
    assert seen == {"healthy", "critical"}
    assert status == "critical"


def test_from_unknown_or_stale_the_newest_window_decides() -> None:
    assert damp("unknown", ["degraded"], bad_n=2, window_m=3, recover_k=2) == "degraded"
    assert damp("stale", ["healthy", "critical"], bad_n=2, window_m=3, recover_k=2) == "healthy"
