"""One route's health on its own: spells of 429s and failures, and the alerts their end raises."""

from __future__ import annotations

from bridge.budget import Backoff
from bridge.routes import RouteHealth


def test_a_spell_counts_its_answers_from_its_first_and_ends_with_its_alert() -> None:
    route = RouteHealth("get_calls", Backoff(1.0, 60.0))
    route.refusing = True
    route.in_spell("failed requests", 10.0)
    route.in_spell("failed requests", 12.0)
    route.in_spell("429s", 20.0)
    assert route.fault_backoff.delay() == 1.0 and route.fault_backoff.delay() == 2.0
    ended = route.answered(40.0)
    assert ended == [
        ("rate_limit_resolved", "get_calls: the CAD answers again after 1 429s in 20 s"),
        ("cad_resolved", "get_calls: the CAD answers again after 2 failed requests in 30 s"),
    ]
    assert not route.refusing and route.spells == {}
    assert route.fault_backoff.delay() == 1.0  # started again
    assert route.answered(41.0) == []
