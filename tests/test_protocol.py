"""Wire protocol v1: every message decodes, every limit is refused with the field's path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge import protocol
from bridge.protocol import (
    MAX_BATCH,
    CallClosed,
    CallMeta,
    CallState,
    Error,
    Hello,
    Position,
    Positions,
    ProtocolError,
    Sync,
    Track,
    TrackSpec,
    Untrack,
    Welcome,
    decode,
    decode_outbound,
    encode,
)


def frame(**fields: Any) -> str:
    return json.dumps(fields)


def position(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"subject": "veh:12", "x": 430.5, "y": -982.1, "z": 30.0}
    item.update(overrides)
    return item


def rejected(text: str | bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(text)
    return str(info.value)


# --- every message decodes -------------------------------------------------------------


def test_hello_decodes_with_all_fields() -> None:
    message = decode(
        frame(type="hello", protocol=1, token="t" * 20, server_id=2, resource_version="1.2.0")
    )
    assert message == Hello(protocol=1, token="t" * 20, server_id=2, resource_version="1.2.0")


def test_hello_resource_version_is_optional() -> None:
    message = decode(frame(type="hello", protocol=1, token="secret", server_id=1))
    assert isinstance(message, Hello)
    assert message.resource_version == ""


def test_track_decodes_with_radius_and_meta() -> None:
    message = decode(
        frame(type="track", call_id=7, subject="veh:12", radius=75.5, meta={"postal": "221"})
    )
    assert message == Track(call_id=7, subject="veh:12", radius=75.5, meta={"postal": "221"})


def test_track_radius_and_meta_are_optional() -> None:
    message = decode(frame(type="track", call_id=7, subject="ped:3"))
    assert isinstance(message, Track)
    assert message.radius is None
    assert message.meta is None


def test_untrack_decodes() -> None:
    assert decode(frame(type="untrack", call_id=2**53)) == Untrack(call_id=2**53)


def test_positions_decodes_with_optional_heading_and_speed() -> None:
    message = decode(
        frame(
            type="positions",
            items=[position(), position(subject="ped:1", heading=359.5, speed=12.25)],
        )
    )
    assert message == Positions(
        items=[
            Position(subject="veh:12", x=430.5, y=-982.1, z=30.0),
            Position(subject="ped:1", x=430.5, y=-982.1, z=30.0, heading=359.5, speed=12.25),
        ]
    )


def test_positions_accepts_an_empty_batch_and_integer_coordinates() -> None:
    assert decode(frame(type="positions", items=[])) == Positions(items=[])
    message = decode(frame(type="positions", items=[position(x=100, y=-5, z=0)]))
    assert isinstance(message, Positions)
    assert message.items[0].x == 100.0


def test_sync_decodes_its_track_specs() -> None:
    message = decode(
        frame(
            type="sync",
            tracks=[{"call_id": 1, "subject": "a"}, {"call_id": 2, "subject": "b", "radius": 0}],
        )
    )
    assert message == Sync(
        tracks=[TrackSpec(call_id=1, subject="a"), TrackSpec(call_id=2, subject="b", radius=0.0)]
    )


def test_call_meta_decodes() -> None:
    message = decode(frame(type="call_meta", call_id=3, meta={"x": "1", "uuid": "abc"}))
    assert message == CallMeta(call_id=3, meta={"x": "1", "uuid": "abc"})


def test_call_closed_decodes() -> None:
    assert decode(frame(type="call_closed", call_id=9)) == CallClosed(call_id=9)


def test_bytes_frames_decode_like_text() -> None:
    assert decode(frame(type="untrack", call_id=4).encode()) == Untrack(call_id=4)


# --- limits in the types: refused with the path of the bad field ----------------------


def test_call_id_zero_is_refused_naming_the_field() -> None:
    assert rejected(frame(type="untrack", call_id=0)) == "Expected `int` >= 1 - at `$.call_id`"


def test_call_id_above_2_pow_53_is_refused() -> None:
    assert "$.call_id" in rejected(frame(type="call_closed", call_id=2**53 + 1))


def test_call_id_as_string_is_refused() -> None:
    assert rejected(frame(type="untrack", call_id="5")) == (
        "Expected `int`, got `str` - at `$.call_id`"
    )


def test_server_id_zero_is_refused() -> None:
    text = rejected(frame(type="hello", protocol=1, token="t", server_id=0))
    assert text == "Expected `int` >= 1 - at `$.server_id`"


def test_subject_of_65_characters_is_refused() -> None:
    text = rejected(frame(type="track", call_id=1, subject="s" * 65))
    assert text == "Expected `str` of length <= 64 - at `$.subject`"


def test_subject_of_64_characters_is_accepted() -> None:
    message = decode(frame(type="track", call_id=1, subject="s" * 64))
    assert isinstance(message, Track)


def test_empty_subject_is_refused() -> None:
    text = rejected(frame(type="track", call_id=1, subject=""))
    assert text == "Expected `str` of length >= 1 - at `$.subject`"


def test_subject_limit_applies_inside_a_batch_with_the_item_index() -> None:
    text = rejected(frame(type="positions", items=[position(), position(subject="")]))
    assert text == "Expected `str` of length >= 1 - at `$.items[1].subject`"


def test_radius_above_10000_is_refused() -> None:
    text = rejected(frame(type="track", call_id=1, subject="a", radius=10_000.5))
    assert text == "Expected `float` <= 10000.0 - at `$.radius`"


def test_negative_radius_is_refused() -> None:
    assert "$.radius" in rejected(frame(type="track", call_id=1, subject="a", radius=-1))


def test_radius_limit_applies_inside_sync() -> None:
    text = rejected(frame(type="sync", tracks=[{"call_id": 1, "subject": "a", "radius": 20_000}]))
    assert text.endswith("- at `$.tracks[0].radius`")


@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize("value", [20_000.01, -20_000.01])
def test_horizontal_beyond_20000_is_refused(axis: str, value: float) -> None:
    text = rejected(frame(type="positions", items=[position(**{axis: value})]))
    assert text.endswith(f"- at `$.items[0].{axis}`")
    assert "20000.0" in text


@pytest.mark.parametrize("value", [20_000, -20_000])
def test_horizontal_at_20000_is_accepted(value: float) -> None:
    assert isinstance(decode(frame(type="positions", items=[position(x=value)])), Positions)


@pytest.mark.parametrize("value", [5_000.5, -5_000.5])
def test_vertical_beyond_5000_is_refused(value: float) -> None:
    text = rejected(frame(type="positions", items=[position(z=value)]))
    assert text.endswith("- at `$.items[0].z`")
    assert "5000.0" in text


def test_heading_361_is_refused() -> None:
    text = rejected(frame(type="positions", items=[position(heading=361)]))
    assert text == "Expected `float` <= 360.0 - at `$.items[0].heading`"


def test_negative_speed_is_refused() -> None:
    text = rejected(frame(type="positions", items=[position(speed=-0.1)]))
    assert text == "Expected `float` >= 0.0 - at `$.items[0].speed`"


def test_number_too_large_for_a_float_is_refused_at_its_path() -> None:
    text = rejected('{"type":"positions","items":[{"subject":"a","x":1e999,"y":0,"z":0}]}')
    assert text.endswith("- at `$.items[0].x`")


def test_batch_of_max_items_is_accepted() -> None:
    message = decode(frame(type="positions", items=[position()] * MAX_BATCH))
    assert isinstance(message, Positions)
    assert len(message.items) == MAX_BATCH


def test_batch_of_more_than_max_items_is_refused() -> None:
    text = rejected(frame(type="positions", items=[position()] * (MAX_BATCH + 1)))
    assert text == f"Expected `array` of length <= {MAX_BATCH} - at `$.items`"


@pytest.mark.parametrize("value", [1, 1.5, True, None, ["a", 2], {"a": {"b": [False]}}, "s"])
def test_meta_values_are_any_json_value_kept_as_they_came(value: Any) -> None:
    message = decode(frame(type="call_meta", call_id=1, meta={"postal": value}))
    assert isinstance(message, CallMeta) and message.meta == {"postal": value}
    track = decode(frame(type="track", call_id=1, subject="a", meta={"x": value}))
    assert isinstance(track, Track) and track.meta == {"x": value}


def test_meta_keys_must_be_strings_and_at_most_256() -> None:
    text = rejected(frame(type="call_meta", call_id=1, meta={f"k{i}": "v" for i in range(257)}))
    assert text.endswith("- at `$.meta`")
    assert "length <= 256" in text


def test_missing_required_field_is_named() -> None:
    text = rejected(frame(type="track", call_id=1))
    assert text == "Object missing required field `subject`"


# --- malformed frames -----------------------------------------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_number_tokens_get_a_clear_message(token: str) -> None:
    text = rejected('{"type":"positions","items":[{"subject":"a","x":' + token + ',"y":0,"z":0}]}')
    assert "NaN and Infinity are not valid JSON numbers" in text


def test_non_finite_token_in_an_array_gets_the_clear_message() -> None:
    assert "NaN and Infinity" in rejected('{"type":"sync","tracks":[NaN]}')


def test_unknown_type_is_refused_naming_the_type_field() -> None:
    assert rejected(frame(type="teleport", call_id=1)) == "Invalid value 'teleport' - at `$.type`"


def test_missing_type_is_refused() -> None:
    assert "`type`" in rejected(frame(call_id=1))


@pytest.mark.parametrize("text", ["[1, 2]", '"hello"', "42", "null"])
def test_non_object_frame_is_refused(text: str) -> None:
    assert rejected(text).startswith("Expected `object`, got")


def test_malformed_json_is_refused_as_not_protocol_v1() -> None:
    assert rejected('{"type": "untrack", ').startswith("not a JSON object of protocol v1")


def test_protocol_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode("{}")


# --- forward compatibility ------------------------------------------------------------


def test_unknown_top_level_fields_are_ignored() -> None:
    message = decode(frame(type="untrack", call_id=4, reason="closed", v2={"a": [1, 2]}))
    assert message == Untrack(call_id=4)


def test_unknown_fields_inside_items_and_specs_are_ignored() -> None:
    positions = decode(frame(type="positions", items=[position(vehicle="adder", seat=-1)]))
    assert positions == Positions(items=[Position(subject="veh:12", x=430.5, y=-982.1, z=30.0)])
    sync = decode(frame(type="sync", tracks=[{"call_id": 1, "subject": "a", "colour": "red"}]))
    assert sync == Sync(tracks=[TrackSpec(call_id=1, subject="a")])


def test_unknown_fields_in_hello_are_ignored() -> None:
    message = decode(frame(type="hello", protocol=1, token="tok", server_id=1, features=["x"]))
    assert message == Hello(protocol=1, token="tok", server_id=1)


# --- outbound -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        Welcome(protocol=protocol.PROTOCOL_VERSION, daemon_version="0.1.0"),
        Error(code="bad_frame", message="Expected `int` >= 1 - at `$.call_id`"),
        CallState(call_id=12, state="following"),
        CallState(call_id=12, state="failed", detail="HTTP 400: bad metaData"),
    ],
)
def test_outbound_messages_round_trip(message: Any) -> None:
    text = encode(message)
    assert isinstance(text, str)
    assert decode_outbound(text) == message
    assert decode_outbound(text.encode()) == message


def test_outbound_frames_carry_their_type_tag() -> None:
    assert json.loads(encode(CallState(call_id=1, state="gone"))) == {
        "type": "call_state",
        "call_id": 1,
        "state": "gone",
        "detail": None,
    }
    assert json.loads(encode(Welcome(protocol=1, daemon_version="x")))["type"] == "welcome"


def test_inbound_messages_encode_to_frames_that_decode_back() -> None:
    messages = [
        Hello(protocol=1, token="tok", server_id=3),
        Track(call_id=1, subject="a", radius=5.0, meta={"k": "v"}),
        Positions(items=[Position(subject="a", x=1.0, y=2.0, z=3.0, heading=90.0, speed=4.0)]),
        Sync(tracks=[TrackSpec(call_id=2, subject="b")]),
        CallMeta(call_id=2, meta={}),
        CallClosed(call_id=2),
        Untrack(call_id=2),
    ]
    for message in messages:
        assert decode(encode(message)) == message


@pytest.mark.parametrize("escape", ["\\ud800", "ab\\udc00x", "\\udbff\\u0041"])
def test_a_lone_surrogate_escape_is_named(escape: str) -> None:
    frame = '{"type": "track", "call_id": 1, "subject": "' + escape + '"}'
    with pytest.raises(ProtocolError, match="lone UTF-16 surrogate"):
        decode(frame)


def test_a_surrogate_pair_is_fine() -> None:
    message = decode('{"type": "track", "call_id": 1, "subject": "a\\ud83d\\ude00"}')
    assert isinstance(message, Track) and message.subject == "a\U0001f600"
