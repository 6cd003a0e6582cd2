"""What the game resource sends the daemon, second by second, for a recorded truth.

`ShippedFeed` is the resource's own sampling: `shared/motion.lua` and `shared/sampler.lua`
loaded under lupa and driven with readings like the natives give (position, GetEntityVelocity,
GetEntityHeading), with the defaults `shared/settings.lua` ships. `ThresholdFeed` is the
resource before dead reckoning (send after `min_move` metres, or on the heartbeat), its speed
and heading left out, which is what the daemon before it used: the "before" of the benchmark.
The feed depends on the movement only, so every policy of a workload replays the same one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lupa import lua54

if TYPE_CHECKING:
    from bench.sim import Truth

RESOURCE = Path(__file__).resolve().parents[1] / "lua_resource"


@dataclass(frozen=True, slots=True)
class Report:
    """One positions item as it arrives at the daemon: subject index, position, velocity."""

    index: int
    x: float
    y: float
    z: float
    vx: float | None = None
    vy: float | None = None
    speed: float | None = None
    heading: float | None = None


Reports = list[list[Report]]
"""Per simulated second, the items sent that second."""


class Feed(Protocol):
    """A sampling of the truth into reports."""

    name: str

    def reports(self, truth: Truth) -> Reports: ...


def shipped_settings() -> dict[str, float]:
    """The defaults `shared/settings.lua` ships (no convars set)."""
    lua = lua54.LuaRuntime()
    settings = lua.globals().load((RESOURCE / "shared" / "settings.lua").read_text())()
    read, _warnings = settings.read(lambda _name, default: default)
    return {
        "interval_ms": float(read.interval_ms),
        "min_move": float(read.min_move),
        "heartbeat_ms": float(read.heartbeat_ms),
    }


class ShippedFeed:
    """The resource's real sampler under lupa, with its shipped defaults (or `min_move`)."""

    def __init__(self, min_move: float | None = None) -> None:
        self.settings = shipped_settings()
        if min_move is not None:
            self.settings["min_move"] = min_move
        if self.settings["interval_ms"] % 1000:
            raise ValueError("the replay samples whole seconds: interval_ms must be n * 1000")
        self.name = f"shipped sampler, min_move {self.settings['min_move']:g} m"

    def reports(self, truth: Truth) -> Reports:
        """Drive the Lua sampler through the truth, one reading per subject per interval."""
        lua = lua54.LuaRuntime(unpack_returned_tuples=True)
        lua.globals().package.path = f"{RESOURCE}/?.lua"  # "shared.sampler": shared/sampler.lua
        sampler_module: Any = lua.eval("require")("shared.sampler")[0]
        options = {
            "min_move": self.settings["min_move"],
            "heartbeat_ms": self.settings["heartbeat_ms"],
        }
        sampler = sampler_module.new(lua.table_from(options))
        pick = lua.eval(
            """
            function(sampler, now, subjects, xs, ys, zs, vxs, vys, vzs, headings)
                local readings = {}
                for i, subject in ipairs(subjects) do
                    local vx, vy, vz = vxs[i], vys[i], vzs[i]
                    readings[subject] = {
                        x = xs[i], y = ys[i], z = zs[i], heading = headings[i], vx = vx, vy = vy,
                        speed = math.sqrt(vx * vx + vy * vy + vz * vz),
                    }
                end
                local items = sampler:pick(now, subjects, readings)
                local out = {}
                for n, item in ipairs(items) do
                    out[n] = { item.subject, item.x, item.y, item.z, item.vx, item.vy,
                               item.speed, item.heading }
                end
                return out
            end
            """
        )
        subjects = lua.table_from(truth.subjects)
        index = {subject: i for i, subject in enumerate(truth.subjects)}
        step = int(self.settings["interval_ms"] // 1000)
        out: Reports = []
        for second in range(truth.seconds):
            if second % step:
                out.append([])
                continue
            xyz, vel, heading = truth.xyz[second], truth.velocity[second], truth.heading[second]
            items = pick(
                sampler, second * 1000, subjects,
                lua.table_from([p[0] for p in xyz]), lua.table_from([p[1] for p in xyz]),
                lua.table_from([p[2] for p in xyz]), lua.table_from([v[0] for v in vel]),
                lua.table_from([v[1] for v in vel]), lua.table_from([v[2] for v in vel]),
                lua.table_from(heading),
            )  # fmt: skip
            sent = []
            for n in range(1, len(items) + 1):
                item = items[n]
                sent.append(
                    Report(
                        index[item[1]],
                        item[2],
                        item[3],
                        item[4],
                        item[5],
                        item[6],
                        item[7],
                        item[8],
                    )
                )
            out.append(sent)
        return out


class ThresholdFeed:
    """The resource before dead reckoning: after `min_move` metres, or on the heartbeat."""

    def __init__(
        self, min_move: float = 5.0, heartbeat: float = 30.0, *, velocity: bool = False
    ) -> None:
        self.min_move = min_move
        self.heartbeat = heartbeat
        self.velocity = velocity
        self.name = f"threshold {min_move:g} m, " + ("with velocity" if velocity else "no velocity")

    def reports(self, truth: Truth) -> Reports:
        """Each second, the subjects that moved `min_move` since last sent, or are due."""
        last = [(-math.inf, math.inf, math.inf, math.inf)] * len(truth.subjects)
        out: Reports = []
        for second in range(truth.seconds):
            sent = []
            for i, (x, y, z) in enumerate(truth.xyz[second]):
                at, lx, ly, lz = last[i]
                moved = math.dist((x, y, z), (lx, ly, lz)) if at > -math.inf else math.inf
                if moved >= self.min_move or second - at >= self.heartbeat:
                    if self.velocity:
                        vx, vy, _ = truth.velocity[second][i]
                        sent.append(Report(i, x, y, z, vx=vx, vy=vy))
                    else:
                        sent.append(Report(i, x, y, z))
                    last[i] = (float(second), x, y, z)
            out.append(sent)
        return out
