"""The metaData merge: the bridge owns x, y, z and radius; every other key goes back unchanged."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

OWNED_KEYS = ("x", "y", "z", "radius")


def format_number(value: float) -> str:
    """Render a coordinate as the CAD stores it: a string with at most two decimals."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def merged(known: Mapping[str, Any], x: float, y: float, z: float, radius: float) -> dict[str, Any]:
    """The metaData to send: `known` with the owned keys replaced, all other keys as they were."""
    body = dict(known)
    body["x"] = format_number(x)
    body["y"] = format_number(y)
    body["z"] = format_number(z)
    body["radius"] = format_number(radius)
    return body


def unowned(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The keys the bridge does not own, as they are."""
    return {k: v for k, v in meta.items() if k not in OWNED_KEYS}


def ordered(answered: Mapping[str, Any], relayed: Mapping[str, Any]) -> dict[str, Any]:
    """The copy to keep after a PATCH answer when the game server relayed one during it.

    The relay is newer than the request: its keys the bridge does not own stand (a
    dispatcher's edit the PATCH may have overwritten); the answer gives the owned ones.
    """
    body = unowned(relayed)
    body.update({k: answered[k] for k in OWNED_KEYS if k in answered})
    return body


def drawn_at(meta: Mapping[str, Any]) -> tuple[float, float] | None:
    """Where the CAD draws the call, read from its metaData; None when x/y are absent or junk."""
    try:
        x = float(meta["x"])
        y = float(meta["y"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return x, y
