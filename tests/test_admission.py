"""bridge.admission: who may connect, on an injected clock; refusals summed up per interval."""

from __future__ import annotations

from bridge.admission import Admission, Limits, Refusals


def test_the_oldest_unauthenticated_connection_gives_way_to_a_newcomer() -> None:
    admission = Admission(Limits(max_connections=100, max_unauthenticated=3))
    for conn in range(3):
        assert admission.arrive(conn, "127.0.0.1", 0.0) == ("accept", None)
    admission.authenticated(1)
    assert admission.arrive(10, "127.0.0.1", 0.1) == ("accept", None)
    assert admission.arrive(11, "127.0.0.1", 0.2) == ("accept", 0)
    assert admission.arrive(12, "127.0.0.1", 0.3) == ("accept", 2)
    assert (admission.open, admission.unauthenticated) == (4, 3)
    admission.authenticated(2)  # evicted already: it never counts as authenticated
    admission.left(1)
    assert (admission.open, admission.unauthenticated) == (3, 3)


def test_bare_sockets_give_way_before_connections_that_sent_their_upgrade() -> None:
    admission = Admission(Limits(max_connections=100, max_unauthenticated=3))
    for conn in range(3):
        admission.arrive(conn, "127.0.0.1", 0.0)
    admission.upgraded(0)  # the game server's: oldest, but saying hello
    assert admission.arrive(3, "127.0.0.1", 0.1) == ("accept", 1)
    assert admission.arrive(4, "127.0.0.1", 0.2) == ("accept", 2)
    assert admission.arrive(5, "127.0.0.1", 0.3) == ("accept", 3)
    admission.upgraded(4)
    admission.upgraded(5)
    assert admission.arrive(6, "127.0.0.1", 0.4) == ("accept", 0)  # all upgraded: the oldest
    admission.upgraded(99)  # gone already: nothing to mark


def test_past_max_connections_a_newcomer_is_refused() -> None:
    admission = Admission(Limits(max_connections=3, max_unauthenticated=3))
    for conn in range(3):
        admission.arrive(conn, "10.0.0.1", 0.0)
        admission.authenticated(conn)
    assert admission.arrive(3, "10.0.0.2", 0.0) == ("over_capacity", None)
    admission.left(0)
    assert admission.arrive(4, "10.0.0.2", 0.0) == ("accept", None)


def test_new_connections_are_rate_limited_per_address_but_not_from_loopback() -> None:
    admission = Admission(Limits(max_connections=10_000, max_unauthenticated=10_000,
                                 new_per_second=5.0))  # fmt: skip
    verdicts = [admission.arrive(c, "203.0.113.9", 0.0)[0] for c in range(12)]
    assert verdicts.count("accept") == 10 and verdicts[-1] == "over_rate"  # a burst of 2 x 5
    assert admission.arrive(100, "198.51.100.7", 0.0)[0] == "accept"  # another address
    assert admission.arrive(101, "203.0.113.9", 0.1)[0] == "over_rate"
    assert admission.arrive(102, "203.0.113.9", 0.2)[0] == "accept"  # 5 a second come back
    assert all(admission.arrive(200 + c, "::1", 0.0)[0] == "accept" for c in range(50))
    assert all(admission.arrive(300 + c, "127.0.0.1", 0.0)[0] == "accept" for c in range(50))


def test_refusals_are_logged_while_few_then_summed_up_once_per_interval() -> None:
    refusals = Refusals(interval=10.0, logged_per_interval=3)
    own_lines = [refusals.refused("unauthorized", t * 0.01) for t in range(1000)]
    assert own_lines.count(True) == 3 and own_lines[:3] == [True] * 3
    assert refusals.summary(9.9) is None
    assert refusals.summary(10.0) == {"unauthorized": 1000}
    assert refusals.summary(20.0) is None
    assert refusals.refused("no_hello", 30.0)
    assert refusals.summary(40.0) is None  # that one had a line of its own
    assert [refusals.refused("over_rate", 41.0) for _ in range(4)] == [True] * 3 + [False]
    assert refusals.summary(51.0) == {"over_rate": 4}
