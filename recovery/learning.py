"""Which repair first: pure Python. A policy's steps are tried in the order that has worked best for this kind
of fault on this kind of component; the policy's own order is the prior, so a step leads only once its track
record clearly beats the steps written above it.

Each healing step scores the smoothed share of its tries that helped::

    score = (helped + STRENGTH * prior) / (tries + STRENGTH)

with ``prior`` falling from ``PRIOR_TOP`` by ``PRIOR_STEP`` per place in the policy. With no record the
policy's order stands; a restart that helped 1 time in 5 scores 0.29 against a scale-up's 0.75 after
4 of 4. Escalation steps keep their places (telling a person is never "learned" away); a step demoted on the
component goes after every other healing step; a pinned policy keeps its order (demotions still apply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

STRENGTH = 4.0
PRIOR_TOP = 0.6
PRIOR_STEP = 0.1
PRIOR_FLOOR = 0.2
ESCALATION = "alert_escalation"


@dataclass(frozen=True)
class Record:
    """How one repair has done in one context (``scope``: "type web", "tag payments")."""

    tries: int
    helped: int
    scope: str = ""

    @property
    def rate(self) -> float | None:
        return self.helped / self.tries if self.tries else None


def prior(place: int) -> float:
    return max(PRIOR_FLOOR, PRIOR_TOP - PRIOR_STEP * place)


def score(record: Record | None, place: int) -> float:
    tries, helped = (record.tries, record.helped) if record else (0, 0)
    return (helped + STRENGTH * prior(place)) / (tries + STRENGTH)


@dataclass(frozen=True)
class Order:
    """The order to try a policy's steps in (indices into them), and why it differs from the policy's."""

    indices: list[int]
    note: str


def chain_order(
    steps: Sequence[str],
    records: Mapping[str, Record],
    *,
    demoted: Mapping[str, str] | None = None,
    pinned: bool = False,
) -> Order:
    """``steps`` are the action types in the policy's order; ``records`` each type's track record here;
    ``demoted`` the types demoted on this component (and why)."""
    demoted = demoted or {}
    healing = [i for i, kind in enumerate(steps) if kind != ESCALATION]
    ranked: list[tuple[tuple[bool, float, int], int]] = []
    for place, index in enumerate(healing):
        kind = steps[index]
        learned = 0.0 if pinned else -score(records.get(kind), place)
        ranked.append(((kind in demoted, learned, place), index))
    order = [index for _, index in sorted(ranked)]
    slots = iter(order)
    indices = [index if steps[index] == ESCALATION else next(slots) for index in range(len(steps))]
    notes = []
    if healing and indices[healing[0]] != healing[0] and steps[healing[0]] not in demoted:
        first, written = steps[indices[healing[0]]], steps[healing[0]]
        notes.append(f"starting with {first}: {_said(first, records)} (the policy's first, {written}: "
                     f"{_said(written, records)})")  # fmt: skip
    for kind, why in demoted.items():
        if kind in (steps[i] for i in healing):
            notes.append(f"{kind} is demoted here ({why}): tried last")
    return Order(indices, "; ".join(notes))


def _said(kind: str, records: Mapping[str, Record]) -> str:
    record = records.get(kind)
    if record is None or not record.tries:
        return "no record yet"
    where = f" on {record.scope}" if record.scope else ""
    return f"helped {record.helped} of {record.tries} times{where}"


def next_position(order: Sequence[int], step: int) -> int:
    """The position after ``step`` in ``order`` (the policy's order when the chain kept none)."""
    return order.index(step) + 1 if step in order else step + 1
