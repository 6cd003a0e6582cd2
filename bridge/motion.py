"""The motion model the daemon shares with the resource (`lua_resource/shared/motion.lua`).

A track is what the resource last sent of a subject: its position and its velocity over the
ground at a time. Between two sends the subject is taken to go on at that velocity (dead
reckoning, as DIS entity state updates do), for at most `HORIZON` seconds; a subject slower
than `STOPPED` stands where it was sent. The resource sends again as soon as the truth is off
that prediction by `min_move`, so silence means "on the predicted track": the daemon predicts
a silent subject with these same functions. A test holds them equal to the Lua ones.
"""

from __future__ import annotations

import math
from typing import Protocol

STOPPED = 0.5
"""Metres per second below which a subject stands still."""
HORIZON = 30.0
"""Seconds a prediction runs on at most (the resource's heartbeat)."""
LOOKAHEAD = 1.0
"""Seconds ahead a change of velocity is judged by."""


class Kinematic(Protocol):
    """A position and a velocity over the ground (metres, metres per second)."""

    @property
    def x(self) -> float: ...
    @property
    def y(self) -> float: ...
    @property
    def vx(self) -> float: ...
    @property
    def vy(self) -> float: ...


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def velocity(
    vx: float | None, vy: float | None, speed: float | None, heading: float | None
) -> tuple[float, float] | None:
    """The velocity an item carries: vx/vy, else speed along heading, else None.

    `heading` is GTA's: degrees anticlockwise from north. Slower than `STOPPED` is (0, 0).
    """
    if vx is None or vy is None or not (_finite(vx) and _finite(vy)):
        if speed is None or heading is None or not (_finite(speed) and _finite(heading)):
            return None
        h = math.radians(heading)
        vx, vy = -speed * math.sin(h), speed * math.cos(h)
    if math.sqrt(vx * vx + vy * vy) < STOPPED:
        return 0.0, 0.0
    return vx, vy


def moving(vx: float, vy: float) -> bool:
    """Whether a velocity is a subject on the move (not standing still)."""
    return math.sqrt(vx * vx + vy * vy) >= STOPPED


def predict(track: Kinematic, dt: float) -> tuple[float, float]:
    """Where the track puts its subject `dt` seconds after it was sent."""
    s = min(max(dt, 0.0), HORIZON)
    return track.x + track.vx * s, track.y + track.vy * s


def off_track(track: Kinematic, dt: float, x: float, y: float, vx: float, vy: float) -> float:
    """Metres between the prediction and a subject at (x, y) moving at (vx, vy).

    Now or `LOOKAHEAD` seconds on, whichever is more: a stop, a start or a turn shows at once.
    """
    px, py = predict(track, dt)
    ex, ey = x - px, y - py
    ax = ex + (vx - track.vx) * LOOKAHEAD
    ay = ey + (vy - track.vy) * LOOKAHEAD
    return max(math.sqrt(ex * ex + ey * ey), math.sqrt(ax * ax + ay * ay))


def holds(
    track: Kinematic, dt: float, x: float, y: float, vx: float, vy: float, min_move: float
) -> bool:
    """Whether the track still holds: within `min_move`, and moving if and only if it is."""
    if moving(vx, vy) != moving(track.vx, track.vy):
        return False
    return off_track(track, dt, x, y, vx, vy) < min_move
