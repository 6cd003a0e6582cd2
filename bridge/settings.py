"""The tracking knobs of the config, as the planner and its pieces read them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    """The tracking knobs of the config, as the planner needs them."""

    min_move: float = 10.0
    default_radius: float = 50.0
    max_stale: float = 180.0
    lead: bool = True
    """Push where a steady mover will be a while after the push, not where it was."""
    lead_share: float = 0.35
    """The lead as a share of the call's expected wait (0.5 is ideal only on straight roads)."""
    lead_cap: float = 15.0
    """Seconds ahead the pushed position may be projected at most (roads turn)."""
    grow_radius: bool = False
    """Widen a mover's radius to how far it may stray from the pushed point before its next push."""
    trails: bool = True
    """Pin a mover where others who passed where it is went on (`bridge.trails`), when three
    or more did; the lead rules otherwise."""
    fetch_interval: float = 15.0
    """Seconds between two GETs of a server's calls while some call's metaData is unknown, and
    the least time between the two reads that must both lack a call before it counts as gone."""
    close_check: float = 0.0
    """Seconds between two reads of a server's list while it has calls followed, so a call
    closed with no event (through the API; sonorancad relays only the first of several closed
    at once) is seen within about this long plus the GET budget's wait; 0: never (the config's
    default is 30 s)."""
    meta_max_age: float = 15.0
    """Seconds after which the known metaData of a call about to be pushed is read afresh from
    the CAD's list first (when a read may go then), so a dispatcher's edit that no relay brought
    is not reverted by the push; 0: never."""
    read_ahead: float = 1.0
    """Seconds before the next push's slot its read may begin, so the push need not wait for
    the read's answer (the GET budget is its own)."""
    relay_lag: float = 2.0
    """Seconds after a PATCH's answer within which a relayed edit may still be one that PATCH
    overwrote (sonorancad hears of an edit through the CAD's push events): it is pushed back."""
    meta_wait: float = 10.0
    """Seconds a push of old metaData waits at most for a read held back by a failed one."""
    server_pause: float = 60.0
    """Seconds a game server's requests pause after the CAD answered 404 for its list of calls
    (it does not know the server id), doubling while it keeps answering so."""
    server_pause_cap: float = 600.0
    reject_backoff_windows: float = 1.0
    """Windows a call the CAD refused waits before its next push, doubling on each refusal..."""
    reject_backoff_cap_windows: float = 8.0
    """...up to this many: a call refused for good costs one request every eight windows."""
    rate_backoff: float = 6.0
    """Seconds the first 429 without a Retry-After pauses its route, doubling on each more..."""
    rate_backoff_cap: float = 60.0
    """...up to this many; an answer that comes through starts again."""
    fault_backoff: float = 1.0
    """Seconds the first transport failure or 5xx pauses its route, doubling on each more..."""
    fault_backoff_cap: float = 60.0
    auth_backoff: float = 15.0
    """Seconds the first 401/403 pauses every route, doubling while the key stays refused..."""
    auth_backoff_cap: float = 300.0
    max_calls: int = 500
    """Calls one game server may have followed at once (`tracking.max_calls_per_server`)."""
