"""Where to push a chosen call: the point, the radius, the metaData body and the postal.

Pure functions of the chosen candidate, the time, the tracking settings and the postal index:
no state is read or changed here. The planner asks `place` once a slot goes to a call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bridge import habits, motion, trails
from bridge import meta as metadata
from bridge.outcomes import MetaData
from bridge.postal import PostalIndex
from bridge.scheduler import Candidate
from bridge.tracker import Call, Fix

MOVING = 1.0
"""Metres per second above which a subject counts as moving."""
LEAD_MIN_SPEED = 2.0
TURNING = 0.35
"""Radians the heading changed at the last estimated fix above which a subject is turning: no
lead."""
SILENT = 10.0
"""Seconds without a fix after which an estimated velocity is no basis for a lead (a reported
one holds for `motion.HORIZON`: the resource would have sent, had the subject left its track)."""
BRAKING = 3.0
"""Metres per second squared of slowing above which a reported subject is braking."""
BRAKING_FOR = 3.0
"""Seconds a braking subject is taken to brake on: a resource still silent after that has seen
it hold its new track (a braking subject breaks it every period)."""

MAX_RADIUS = 1_000.0


class Knobs(Protocol):
    """The tracking settings placing a push reads (`bridge.planner.Settings` has them)."""

    @property
    def lead(self) -> bool: ...
    @property
    def lead_share(self) -> float: ...
    @property
    def lead_cap(self) -> float: ...
    @property
    def default_radius(self) -> float: ...
    @property
    def grow_radius(self) -> bool: ...
    @property
    def trails(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a push draws its call, and what it sends."""

    x: float
    y: float
    z: float
    radius: float
    meta: MetaData
    """The whole metaData body of the PATCH (keys the bridge does not own as they were)."""
    postal: str | None
    """The postal of the point, sent with the PATCH; None when it is unchanged or not ours."""


def lead_seconds(chosen: Candidate, now: float, knobs: Knobs) -> float:
    """How far ahead to project a steady mover: a share of its expected wait, capped, and no
    further than the subject's habit of turning lets it be expected to go on straight
    (`habits.persistence` over the wait, of the straight run it is expected to have left, once
    its fixes have shown a few).

    Zero for a slow, turning or silent subject: projecting it would overshoot.
    """
    fix = chosen.fix
    quiet = now - fix.t
    if fix.speed < LEAD_MIN_SPEED:
        return 0.0
    if not fix.reported:
        if fix.turn > TURNING or quiet > SILENT:
            return 0.0
        return min(knobs.lead_cap, chosen.wait * knobs.lead_share)
    # A reported turn needs no test: the resource sends the new heading as it turns. A
    # subject braking is about to turn or stop, where a lead would overshoot.
    if braking(fix, now):
        return 0.0
    if quiet > motion.HORIZON:
        return 0.0  # past the heartbeat: the link, not the subject, went quiet
    ahead = min(knobs.lead_cap, chosen.wait * knobs.lead_share)
    run = fix.habit.straight_ahead(*motion.predict(fix, quiet))
    if run is not None:
        # A subject that turns often is expected not far along its heading over the hold.
        ahead = min(ahead, habits.persistence(run, fix.speed, chosen.wait))
    return ahead


def braking(fix: Fix, now: float) -> bool:
    """Whether the subject is braking at `now`, for a turn or a stop: its reported speed fell
    by `BRAKING` or more in a sampling period, and the resource has not been quiet for
    `BRAKING_FOR` since (a braking subject breaks its track every period)."""
    return (
        fix.reported
        and fix.speed >= LEAD_MIN_SPEED
        and fix.accel < -BRAKING
        and now - fix.t < BRAKING_FOR
    )


def place(
    chosen: Candidate,
    now: float,
    knobs: Knobs,
    postals: PostalIndex | None,
    paths: trails.Trails | None = None,
) -> Placement:
    """Where the push of the chosen call goes at `now`, and the body it sends."""
    call, fix = chosen.call, chosen.fix
    ahead = lead_seconds(chosen, now, knobs) if knobs.lead else 0.0
    if fix.reported:
        # Where the resource's own prediction puts the subject now (one model), and on at
        # its velocity from there: the lead is a forecast, the prediction is knowledge.
        x, y = motion.predict(fix, now - fix.t)
        gone = followed(chosen, x, y, ahead, knobs, paths)
        x, y = gone if gone is not None else (x + fix.vx * ahead, y + fix.vy * ahead)
    else:
        x, y = fix.x + fix.vx * ahead, fix.y + fix.vy * ahead
    radius = call.radius if call.radius is not None else knobs.default_radius
    if knobs.grow_radius and fix.speed > MOVING:
        # On a straight road the subject passes the pushed point and runs on to the next
        # push: the farther of the two ends is how far it may be from the drawn point.
        stray = fix.speed * max(ahead, chosen.wait - ahead)
        radius = max(radius, min(MAX_RADIUS, stray))
    assert call.meta is not None
    body = metadata.merged(call.meta, x, y, fix.z, radius)
    postal = postal_for(call, x, y, postals)
    if call.emergency and postals is not None and not call.cad_postal:
        # A 911 call keeps its postal in its metaData (its list item has none on top): a
        # key the bridge owns for it, so a relayed copy's older code is not sent back.
        body["postal"] = postals.nearest(x, y)
    return Placement(x, y, fix.z, radius, body, postal)


def followed(
    chosen: Candidate,
    x: float,
    y: float,
    ahead: float,
    knobs: Knobs,
    paths: trails.Trails | None,
) -> tuple[float, float] | None:
    """Where to pin a mover at (x, y) that others have driven past going its way: the median
    of where they went over its expected wait (`trails.Trails.ahead`); None where too few
    have, or for a subject the lead rules do not lead `ahead` (slow, braking, silent, or the
    lead off)."""
    if paths is None or not knobs.trails or ahead <= 0.0:
        return None
    call, fix = chosen.call, chosen.fix
    futures = paths.ahead(call.server_id, call.subject, x, y, fix.vx, fix.vy, chosen.wait)
    return trails.median(futures) if futures else None


def postal_for(call: Call, x: float, y: float, postals: PostalIndex | None) -> str | None:
    """The postal to send with a push to (x, y): None without a postal file, for a call whose
    postal Sonoran's own track primary keeps, or when the CAD holds that code already."""
    if postals is None or call.cad_postal:
        return None
    code = postals.nearest(x, y)
    known = call.postal
    if call.emergency and known is None and call.meta is not None:
        held = call.meta.get("postal")
        known = held if isinstance(held, str) else None
    return None if code == known else code
