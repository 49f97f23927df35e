"""The component-level pager: corroboration across metrics, one incident per fault, notices."""

from __future__ import annotations

import json
import random

from anomalies.detector import Decision, Detector
from anomalies.pager import ComponentPager, PagerConfig

METRICS = [f"m{i:02d}" for i in range(1, 7)]


def decision(anomalous: bool, ratio: float | None = None) -> Decision:
    r = ratio if ratio is not None else (1.5 if anomalous else 0.2)
    return Decision(r / (1 + r), 5 * r, anomalous, anomalous, False, False, 1.0, 0.5, 1.5, False, r)


def feed(pager: ComponentPager, rows: list[set[str]], start: float = 0.0, strong: dict[str, float] | None = None):
    out = []
    for i, anomalous in enumerate(rows):
        out.append(
            pager.update(
                start + 300.0 * i,
                {m: decision(m in anomalous, (strong or {}).get(m) if m in anomalous else None) for m in METRICS},
            )
        )
    return out


def test_one_metric_alone_is_a_notice_not_a_page() -> None:
    rows = [set()] * 5 + [{"m01"}] * 3 + [set()] * 5 + [{"m02"}, {"m03"}] + [set()] * 5
    decisions = feed(ComponentPager(), rows)
    assert not any(d.page or d.incident_open for d in decisions)
    assert [d.level for d in decisions[5:8]] == ["notice"] * 3


def test_metrics_that_move_together_page_once() -> None:
    rows = [set()] * 5 + [{"m01"}, {"m01", "m02"}, {"m03"}, {"m01", "m04"}, {"m05"}] + [set()] * 5
    decisions = feed(ComponentPager(), rows)
    assert [i for i, d in enumerate(decisions) if d.page] == [7]  # m01, m02, m03 within three timestamps
    assert decisions[7].members == ["m01", "m02", "m03"]
    assert decisions[8].joined == ["m04"] and not decisions[8].page  # joins the open incident: no new page
    assert decisions[9].joined == ["m05"]
    assert decisions[11].closed and not decisions[11].incident_open  # two calm timestamps
    assert all(d.level == "page" for d in decisions[7:10])


def test_metrics_too_far_apart_do_not_corroborate() -> None:
    rows = [set()] * 5 + [{"m01"}, set(), set(), {"m02"}, set(), set(), {"m03"}] + [set()] * 3
    assert not any(d.page for d in feed(ComponentPager(), rows))
    assert any(d.page for d in feed(ComponentPager(PagerConfig(within=7)), rows))


def test_a_flapping_fault_is_one_incident_and_a_new_one_after_calm_pages_again() -> None:
    trio = {"m01", "m02", "m03"}
    rows = [set()] * 3 + [trio, {"m01"}, set(), {"m02"}, set(), {"m04"}] + [set()] * 4 + [trio] + [set()] * 3
    decisions = feed(ComponentPager(), rows)
    assert [i for i, d in enumerate(decisions) if d.page] == [3, 13]
    assert all(d.incident_open for d in decisions[3:9])  # a gap of one calm timestamp does not close it


def test_a_very_strong_single_metric_pages_when_asked_to() -> None:
    rows = [set()] * 3 + [{"m01"}] + [set()] * 3
    assert not any(d.page for d in feed(ComponentPager(), rows, strong={"m01": 20.0}))
    decisions = feed(ComponentPager(PagerConfig(strong=10.0)), rows, strong={"m01": 20.0})
    assert decisions[3].page
    assert not any(d.page for d in feed(ComponentPager(PagerConfig(strong=10.0)), rows, strong={"m01": 5.0}))


def test_a_component_with_fewer_metrics_than_the_quorum_needs_all_of_them() -> None:
    pager = ComponentPager()
    out = [pager.update(float(i), {"latency": decision(i == 3)}) for i in range(6)]
    assert [i for i, d in enumerate(out) if d.page] == [3]
    pair = ComponentPager()
    got = [pair.update(float(i), {"a": decision(i == 3), "b": decision(i == 4)}) for i in range(6)]
    assert [i for i, d in enumerate(got) if d.page] == [4]


def test_a_repeated_timestamp_joins_but_does_not_advance_time() -> None:
    pager = ComponentPager()
    trio = {m: decision(m in {"m01", "m02", "m03"}) for m in METRICS}
    calm = {m: decision(False) for m in METRICS}
    assert pager.update(0.0, trio).page
    assert pager.update(300.0, calm).incident_open
    assert pager.update(300.0, calm).incident_open  # the same timestamp again: still one calm step
    assert not pager.update(600.0, calm).incident_open


def test_state_survives_a_restart() -> None:
    rng = random.Random(3)
    rows = [{m for m in METRICS if rng.random() < 0.15} for _ in range(400)]
    straight = feed(ComponentPager(), rows)
    first = ComponentPager()
    feed(first, rows[:200])
    resumed = ComponentPager(state=json.loads(json.dumps(first.state())))
    rest = feed(resumed, rows[200:], start=300.0 * 200)
    assert [(d.page, d.incident_open) for d in rest] == [(d.page, d.incident_open) for d in straight[200:]]


def test_it_reads_real_detector_decisions() -> None:
    rng = random.Random(5)
    detectors = {m: Detector() for m in METRICS}
    pager = ComponentPager()
    pages = []
    for i in range(600):
        fault = 500 <= i < 510
        values = {m: rng.gauss(100, 5) + (80 if fault and m in {"m01", "m02", "m04"} else 0) for m in METRICS}
        decisions = {m: detectors[m].update(1.7e9 + 300.0 * i, v) for m, v in values.items()}
        if pager.update(1.7e9 + 300.0 * i, decisions).page:
            pages.append(i)
    assert pages == [500]


def test_bad_settings_are_named() -> None:
    assert PagerConfig().problems() == []
    assert len(PagerConfig(corroborate=0, within=0, strong=0.5).problems()) == 3
