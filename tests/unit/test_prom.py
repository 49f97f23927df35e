import numpy as np

from health.prom import extract, quantile_from_buckets

SCRAPE_1 = """
# TYPE http_requests_total counter
http_requests_total{code="200"} 100
http_requests_total{code="500"} 10
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 50
http_request_duration_seconds_bucket{le="0.5"} 100
http_request_duration_seconds_bucket{le="1"} 110
http_request_duration_seconds_bucket{le="+Inf"} 110
http_request_duration_seconds_sum 30
http_request_duration_seconds_count 110
# TYPE process_cpu_percent gauge
process_cpu_percent 42.5
"""
SCRAPE_2 = (
    SCRAPE_1.replace('code="200"} 100', 'code="200"} 190')
    .replace('code="500"} 10', 'code="500"} 20')
    .replace('le="0.1"} 50', 'le="0.1"} 60')
    .replace('le="0.5"} 100', 'le="0.5"} 150')
    .replace('le="1"} 110', 'le="1"} 210')
    .replace('le="+Inf"} 110', 'le="+Inf"} 210')
)
MAPPINGS = [
    {"metric": "http_requests_total", "field": "throughput_rps", "kind": "rate"},
    {"metric": "http_request_duration_seconds", "field": "latency_p95_ms", "kind": "quantile", "q": 0.95,
     "scale": 1000},
    {"metric": "process_cpu_percent", "field": "cpu_percent", "kind": "gauge"},
]  # fmt: skip


def test_quantile_interpolates_inside_the_bucket_like_promql() -> None:
    assert quantile_from_buckets(0.5, {"1": 50, "2": 100, "+Inf": 100}) == 1.0
    assert quantile_from_buckets(0.75, {"1": 50, "2": 100, "+Inf": 100}) == 1.5
    assert quantile_from_buckets(0.5, {"+Inf": 0}) is None


def test_counters_become_rates_and_histograms_percentiles_across_two_scrapes() -> None:
    first, state = extract(SCRAPE_1, MAPPINGS, {}, now=1000.0)
    assert first == {"cpu_percent": 42.5}  # rates need a previous scrape
    second, _ = extract(SCRAPE_2, MAPPINGS, state, now=1010.0)
    assert second["throughput_rps"] == 10.0  # 100 more requests in 10 s
    assert second["cpu_percent"] == 42.5
    # The increase is cumulative 10 (≤0.1), 50 (≤0.5), 100 (≤1): the 95th of 100 lies in (0.5, 1].
    assert np.isclose(second["latency_p95_ms"], (0.5 + 0.5 * (95 - 50) / 50) * 1000)


def test_error_ratio_is_labelled_errors_over_all_requests() -> None:
    mappings = [{"metric": "http_requests_total", "field": "error_rate", "kind": "ratio",
                 "labels": {"code": "500"}, "denominator": "http_requests_total"}]  # fmt: skip
    _, state = extract(SCRAPE_1, mappings, {}, now=0.0)
    values, _ = extract(SCRAPE_2, mappings, state, now=10.0)
    assert values["error_rate"] == 0.1  # 10 more 500s out of 100 more requests


def test_a_counter_reset_skips_one_scrape_instead_of_going_negative() -> None:
    _, state = extract(SCRAPE_2, MAPPINGS[:1], {}, now=0.0)
    values, _ = extract(SCRAPE_1, MAPPINGS[:1], state, now=10.0)
    assert "throughput_rps" not in values
