"""The v2 routes the official `sonorancad` FiveM resource calls at start and in its polls.

The stand-in serves them beside the dispatch-call routes (`bridge.standin.cad`), behind the
same gateway and key, so a test can run that resource's real Lua against the stand-in with
the daemon on one key: its `GET .../calls` every 60 s counts against the same window as the
daemon's reads. Served here: the API version and the server list it checks at start, its
heartbeat, the active units it polls every 60 s, and the community link check it makes for
each player. Bodies follow the shapes its v2 client
reads (`lua/sonoran/client.lua`, `core/sonoran_api.lua` of v4.0.104); where Sonoran's
documentation gives none (the version body), the simplest body that client accepts is used.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from bridge.standin.http import Answer, problem

ROUTES = ("get_version", "get_servers", "set_servers", "heartbeat", "get_units", "check_link")
"""Route names of this module, as `SeenRequest.route` shows them."""

_encode = msgspec.json.Encoder().encode


def match(method: str, parts: list[str]) -> tuple[str, str, list[int]] | None:
    """(route, allowed method, ids from the path) for a path split on "/"; None if not ours."""
    if parts == ["", "v2", "general", "version"]:
        return "get_version", "GET", []
    if parts == ["", "v2", "general", "links", "check"]:
        return "check_link", "POST", []
    if parts == ["", "v2", "general", "servers"]:
        return ("set_servers", "PUT", []) if method == "PUT" else ("get_servers", "GET", [])
    if (
        len(parts) == 6
        and parts[:4] == ["", "v2", "general", "servers"]
        and parts[4].isdigit()
        and parts[5] == "heartbeat"
    ):
        return "heartbeat", "POST", [int(parts[4])]
    if (
        len(parts) == 6
        and parts[:4] == ["", "v2", "emergency", "servers"]
        and parts[4].isdigit()
        and parts[5] == "units"
    ):
        return "get_units", "GET", [int(parts[4])]
    return None


class Integration:
    """What these routes answer: the units logged in on each server, the server list."""

    def __init__(self) -> None:
        self.api_version = "4.0.0"
        self.units: dict[int, list[dict[str, Any]]] = {}
        """Logged-in units by server id, as `GET .../units` lists them."""
        self.servers: list[dict[str, Any]] = []
        """What the last `PUT /v2/general/servers` stored."""
        self.heartbeats: list[tuple[int, Any]] = []
        """(server id, player count) of every heartbeat."""
        self.links: dict[str, str] = {}
        """Player identifier -> community user id, for the players linked to a CAD account
        (a link check of any other identifier answers `linked: false`)."""

    def login(self, server_id: int, unit: dict[str, Any]) -> None:
        """A unit logs in (replaces the unit with the same `id`)."""
        units = [u for u in self.units.get(server_id, []) if u.get("id") != unit.get("id")]
        self.units[server_id] = [*units, copy.deepcopy(unit)]

    def logout(self, server_id: int, ident_id: int) -> None:
        """A unit logs out: the next `GET .../units` no longer lists it."""
        units = self.units.get(server_id, [])
        self.units[server_id] = [u for u in units if u.get("id") != ident_id]

    def answer(self, route: str, ids: list[int], body: bytes, path: str) -> Answer:
        """The API's answer to an admitted request of one of `ROUTES`."""
        if route == "get_version":
            return Answer(200, _encode({"version": self.api_version}))
        if route == "get_servers":
            return Answer(200, _encode({"servers": self.servers}))
        try:
            fields = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError as exc:
            return problem(400, f"Request body is not valid JSON: {exc}", path)
        if route == "set_servers":
            servers = fields.get("servers") if isinstance(fields, dict) else None
            if not isinstance(servers, list):
                return problem(400, "servers must be a list", path)
            self.servers = servers
            return Answer(200, _encode({"servers": servers}))
        if route == "check_link":
            values = fields.values() if isinstance(fields, dict) else []
            linked = [self.links[v] for v in values if isinstance(v, str) and v in self.links]
            if not linked:
                return Answer(200, _encode({"linked": False}))
            return Answer(200, _encode({"linked": True, "communityUserId": linked[0]}))
        if route == "heartbeat":
            count = fields.get("playerCount") if isinstance(fields, dict) else None
            self.heartbeats.append((ids[0], count))
            return Answer(200, _encode({"ok": True}))
        return Answer(200, _encode({"units": self.units.get(ids[0], [])}))
