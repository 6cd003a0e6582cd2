"""One route's health on its own: spells of 429s and failures, and the alerts their end raises."""

from __future__ import annotations

from bridge.actions import Alert, AlertKind
from bridge.budget import Backoff, Budget
from bridge.outcomes import AuthFailed, Rejected, Transient, Updated
from bridge.routes import Health, RouteHealth


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


def test_the_key_refused_blocks_every_route_and_alerts_once_until_an_answer_comes() -> None:
    health = Health(Backoff(6.0, 60.0), Backoff(15.0, 300.0), (1.0, 60.0))
    update, reads = Budget(10, 60.0), Budget(5, 60.0)
    route = health.route("update_call")
    refused = AuthFailed(401, "invalid key")
    first = health.fold(route, update, [update, reads], refused, 10.0)
    assert first == [Alert(AlertKind.AUTH_FAILED, "HTTP 401: invalid key")]
    assert update.blocked_until() == reads.blocked_until() == 25.0
    assert health.fold(route, update, [update, reads], refused, 25.0) == []  # one alert a spell
    assert update.blocked_until() == 55.0  # doubled
    back = health.fold(route, update, [update, reads], Updated(call={}, meta=None), 60.0)
    assert back == [Alert(AlertKind.AUTH_RESOLVED, "the CAD accepts the API key again")]
    assert not health.auth_failing and health.auth_backoff.delay() == 15.0


def test_a_refused_update_is_no_news_of_the_route() -> None:
    health = Health(Backoff(6.0, 60.0), Backoff(15.0, 300.0), (1.0, 60.0))
    budget = Budget(10, 60.0)
    route = health.route("update_call")
    assert health.fold(route, budget, [budget], Transient("reset", True), 1.0) == []
    assert health.fold(route, budget, [budget], Rejected(422, "bad"), 2.0) == []
    assert "failed requests" in route.spells  # the spell goes on
    assert health.route("update_call") is route and health.route("get_calls") is not route
