"""Wire protocol v1 between the FiveM resource and the daemon: JSON text frames tagged by `type`."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
MAX_BATCH = 2048
MAX_TRACKS = 4096
LIMITS = {
    "call_id": 2**53,
    "subject": 64,
    "radius": 10_000,
    "horizontal": 20_000,
    "vertical": 5_000,
    "heading": 360,
    "speed": 1_000,
}
"""The value limits of protocol v1, written once: messages.lua and transport.js are tested
against these (tests/test_protocol_limits.py)."""

CallId = Annotated[int, Meta(ge=1, le=LIMITS["call_id"])]
ServerId = Annotated[int, Meta(ge=1, le=2**31)]
Subject = Annotated[str, Meta(min_length=1, max_length=LIMITS["subject"])]
Radius = Annotated[float, Meta(ge=0, le=LIMITS["radius"])]
Horizontal = Annotated[float, Meta(ge=-LIMITS["horizontal"], le=LIMITS["horizontal"])]
Vertical = Annotated[float, Meta(ge=-LIMITS["vertical"], le=LIMITS["vertical"])]
Heading = Annotated[float, Meta(ge=0, le=LIMITS["heading"])]
Speed = Annotated[float, Meta(ge=0, le=LIMITS["speed"])]
Velocity = Annotated[float, Meta(ge=-LIMITS["speed"], le=LIMITS["speed"])]
Kind = Literal["dispatch", "emergency"]
"""What list a call id comes from: the CAD's dispatch calls (`ActiveCalls`) or its 911 calls
(`EmergencyCalls`). A call is (server id, kind, call id): dispatch call 501 and 911 call 501 are
two calls (nothing in the CAD's docs says their ids cannot collide)."""
DISPATCH: Kind = "dispatch"
EMERGENCY: Kind = "emergency"
MetaMap = Annotated[dict[Annotated[str, Meta(max_length=256)], Any], Meta(max_length=256)]
"""A call's metaData as the CAD holds it: any JSON value, carried verbatim (the CAD's own
answers may hold numbers, lists or objects; the official SDK's `Record<string, string>` is
what it writes, not all it may read back)."""


class Inbound(Struct, tag_field="type", forbid_unknown_fields=False, frozen=True):
    """Base of the messages the resource sends; unknown optional fields are ignored."""


class Hello(Inbound, tag="hello", frozen=True, kw_only=True):
    """First frame of a connection: who is speaking and with which shared token."""

    protocol: int
    token: Annotated[str, Meta(max_length=512)]
    server_id: ServerId | None = None
    """The CAD server this game server is; the daemon's `cad.server_id` when left out."""
    resource_version: Annotated[str, Meta(max_length=64)] = ""


class TrackSpec(Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """One call the game server wants followed."""

    call_id: CallId
    subject: Subject
    kind: Kind = DISPATCH
    radius: Radius | None = None
    meta: MetaMap | None = None
    cad_postal: bool = False
    """Sonoran's own track primary keeps this call's postal: the daemon sends none for it."""


class Track(Inbound, TrackSpec, tag="track", frozen=True):
    """Start following `subject` with call `call_id`."""


class Untrack(Inbound, tag="untrack", frozen=True, kw_only=True):
    """Stop following a call."""

    call_id: CallId
    kind: Kind = DISPATCH


class Position(Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """Where one subject is now, in GTA map metres."""

    subject: Subject
    x: Horizontal
    y: Horizontal
    z: Vertical
    heading: Heading | None = None
    """Degrees the subject faces, GTA's way: anticlockwise from north."""
    speed: Speed | None = None
    vx: Velocity | None = None
    """Metres per second east, over the ground: with `vy`, the velocity the resource predicts by."""
    vy: Velocity | None = None


class Positions(Inbound, tag="positions", frozen=True, kw_only=True):
    """A batch of subject positions."""

    items: Annotated[list[Position], Meta(max_length=MAX_BATCH)]


class Sync(Inbound, tag="sync", frozen=True, kw_only=True):
    """The complete set of calls this game server wants followed; replaces the previous set."""

    tracks: Annotated[list[TrackSpec], Meta(max_length=MAX_TRACKS)]


class CallMeta(Inbound, tag="call_meta", frozen=True, kw_only=True):
    """The call's metaData as the CAD now holds it."""

    call_id: CallId
    meta: MetaMap
    kind: Kind = DISPATCH


class CallMetaStale(Inbound, tag="call_meta_stale", frozen=True, kw_only=True):
    """The CAD changed the call's metaData, and the resource cannot relay it faithfully (an
    empty Lua table may have been `{}` or `[]`; a value it cannot encode): the daemon's copy is
    stale, and is read afresh from the CAD before the call's next push."""

    call_id: CallId
    kind: Kind = DISPATCH


class CallClosed(Inbound, tag="call_closed", frozen=True, kw_only=True):
    """The CAD closed the call: stop following it."""

    call_id: CallId
    kind: Kind = DISPATCH


class PostalFile(Inbound, tag="postal_file", frozen=True, kw_only=True):
    """Where the game server's nearest-postal resource keeps its postal file (a path there)."""

    path: Annotated[str, Meta(min_length=1, max_length=4096)]


InboundMessage = (
    Hello | Track | Untrack | Positions | Sync | CallMeta | CallMetaStale | CallClosed | PostalFile
)


class Outbound(Struct, tag_field="type", frozen=True):
    """Base of the messages the daemon sends."""


class Welcome(Outbound, tag="welcome", frozen=True, kw_only=True):
    """Answer to a good `hello`."""

    protocol: int
    daemon_version: str


class Error(Outbound, tag="error", frozen=True, kw_only=True):
    """Something the resource sent was wrong; `message` names the field and value."""

    code: str
    message: str


CallStateName = Literal["following", "pushed", "gone", "failed"]


class CallState(Outbound, tag="call_state", frozen=True, kw_only=True):
    """What happened to a call the resource asked to follow."""

    call_id: int
    state: CallStateName
    detail: str | None = None
    kind: Kind | UnsetType = UNSET
    """Set for an emergency (911) call only: absent means a dispatch call."""


OutboundMessage = Welcome | Error | CallState

_NON_FINITE = re.compile(r"[:\[,]\s*-?(NaN|Infinity|nan|inf)\b")
# A high surrogate not followed by a low one, or a low one on its own.
_HIGH = r"\\u[dD][89abAB][0-9a-fA-F]{2}"
_LOW = r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_LONE_SURROGATE = re.compile(f"{_HIGH}(?!{_LOW})|(?<!{_HIGH}){_LOW}")
_decoder = msgspec.json.Decoder(InboundMessage)
_outbound_decoder = msgspec.json.Decoder(OutboundMessage)
_encoder = msgspec.json.Encoder()


class ProtocolError(ValueError):
    """A frame that is not a valid v1 message; the text says what was wrong."""


def decode(frame: str | bytes) -> InboundMessage:
    """Decode one frame from the resource, or raise `ProtocolError` naming the bad field."""
    try:
        return _decoder.decode(frame)
    except RecursionError:
        raise ProtocolError("JSON nested too deeply: frames are flat objects") from None
    except msgspec.ValidationError as exc:
        raise ProtocolError(str(exc)) from None
    except msgspec.DecodeError as exc:
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        if _NON_FINITE.search(text):
            raise ProtocolError(
                "NaN and Infinity are not valid JSON numbers: send only finite coordinates"
            ) from None
        if _LONE_SURROGATE.search(text):
            raise ProtocolError(
                "a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff): "
                "send valid Unicode text"
            ) from None
        raise ProtocolError(f"not a JSON object of protocol v1: {exc}") from None


def encode(message: OutboundMessage | InboundMessage) -> str:
    """Encode a message as one JSON text frame."""
    return _encoder.encode(message).decode()


def decode_outbound(frame: str | bytes) -> OutboundMessage:
    """Decode a frame the daemon sent (used by the simulated game server and tests)."""
    message: OutboundMessage = _outbound_decoder.decode(frame)
    return message
