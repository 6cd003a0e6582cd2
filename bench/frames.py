"""Bad frames for the daemon's websocket, by kind, as hypothesis strategies.

Each kind is a strategy of `BadFrame`s: the frame, and the text the daemon's `error` must
contain (or None for a frame that is valid, if odd, and must pass without one). The tests draw
from them with `@given`; the reliability matrix draws the same way and counts. `check` judges
the daemon's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from bridge.protocol import ProtocolError, decode


@dataclass(frozen=True)
class BadFrame:
    """A frame to send, and a text its `error` must contain ("" any error, None no error)."""

    frame: str | bytes
    expect: str | None


def valid(frame: str | bytes) -> bool:
    """Whether the daemon's own decoder takes the frame as a v1 message."""
    if isinstance(frame, bytes):
        return False
    try:
        decode(frame)
    except (ProtocolError, RecursionError):
        return False
    return True


# -- the messages a resource sends, and the type each field must have --------------------

_TEMPLATES: dict[str, dict[str, Any]] = {
    "track": {"call_id": 501, "subject": "player:1", "radius": 50.0, "meta": {"postal": "1"}},
    "untrack": {"call_id": 501},
    "positions": {
        "items": [
            {"subject": "player:1", "x": 1.5, "y": 2.5, "z": 3.0, "heading": 90.0, "speed": 12.0}
        ]
    },
    "sync": {"tracks": [{"call_id": 501, "subject": "player:1"}]},
    "call_meta": {"call_id": 501, "meta": {"postal": "1"}},
    "call_closed": {"call_id": 501},
}
# (message type, path to the field, JSON kind, required)
_FIELDS: list[tuple[str, tuple[str | int, ...], str, bool]] = [
    ("track", ("call_id",), "int", True),
    ("track", ("subject",), "str", True),
    ("track", ("radius",), "float", False),
    ("track", ("meta",), "map", False),
    ("untrack", ("call_id",), "int", True),
    ("positions", ("items",), "list", True),
    ("positions", ("items", 0, "subject"), "str", True),
    ("positions", ("items", 0, "x"), "float", True),
    ("positions", ("items", 0, "y"), "float", True),
    ("positions", ("items", 0, "z"), "float", True),
    ("positions", ("items", 0, "heading"), "float", False),
    ("positions", ("items", 0, "speed"), "float", False),
    ("sync", ("tracks",), "list", True),
    ("sync", ("tracks", 0, "call_id"), "int", True),
    ("sync", ("tracks", 0, "subject"), "str", True),
    ("call_meta", ("call_id",), "int", True),
    ("call_meta", ("meta",), "map", True),
    ("call_closed", ("call_id",), "int", True),
]
# Values out of each field's range, and in range but odd (the edges, the tiniest floats).
_OUT_OF_RANGE: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("call_id",): st.one_of(st.integers(max_value=0), st.integers(min_value=2**53 + 1)),
    ("radius",): st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=10_000.001)),
    ("x",): st.one_of(st.floats(max_value=-20_000.001), st.floats(min_value=20_000.001)),
    ("z",): st.one_of(st.floats(max_value=-5_000.001), st.floats(min_value=5_000.001)),
    ("heading",): st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=360.001)),
    ("speed",): st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1_000.001)),
}
_EDGES: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("call_id",): st.sampled_from([1, 2, 2**31, 2**53]),
    ("radius",): st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 10_000.0]),
    ("x",): st.sampled_from([-20_000.0, 20_000.0, -0.0, 5e-324, -5e-324, 1e-300, 0]),
    ("z",): st.sampled_from([-5_000.0, 5_000.0, -0.0, 5e-324, 2.2250738585072014e-308]),
    ("heading",): st.sampled_from([0.0, 360.0, 5e-324]),
    ("speed",): st.sampled_from([0.0, 1_000.0, 5e-324]),
}
_RANGED = [
    ("track", ("call_id",)),
    ("track", ("radius",)),
    ("positions", ("items", 0, "x")),
    ("positions", ("items", 0, "z")),
    ("positions", ("items", 0, "heading")),
    ("positions", ("items", 0, "speed")),
    ("untrack", ("call_id",)),
]


def _path_text(path: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _with(kind: str, path: tuple[str | int, ...], value: Any, *, drop: bool = False) -> str:
    message = json.loads(json.dumps({"type": kind, **_TEMPLATES[kind]}))
    node = message
    for step in path[:-1]:
        node = node[step]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(message, allow_nan=True)


_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), _FINITE, st.text(max_size=20))
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
_OF_KIND: dict[str, st.SearchStrategy[Any]] = {
    "int": st.one_of(
        st.text(max_size=10),
        _FINITE.filter(lambda f: not f.is_integer()),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    ),
    "float": st.one_of(
        st.text(max_size=10),
        st.booleans(),
        st.lists(_FINITE, max_size=2),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    ),
    "str": st.one_of(
        st.integers(), _FINITE, st.booleans(), st.lists(st.text(max_size=3), max_size=2)
    ),
    # A map's values may be any JSON value (metaData is carried verbatim): only a non-object
    # is the wrong type.
    "map": st.one_of(
        st.text(max_size=10),
        st.integers(),
        st.booleans(),
        st.lists(st.text(max_size=3), max_size=2),
    ),
    "list": st.one_of(
        st.text(max_size=10),
        st.integers(),
        st.booleans(),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    ),
}


@st.composite
def _wrong_type(draw: st.DrawFn) -> BadFrame:
    kind, path, json_kind, required = draw(st.sampled_from(_FIELDS))
    value = draw(
        _OF_KIND[json_kind] if required else _OF_KIND[json_kind].filter(lambda v: v is not None)
    )
    return BadFrame(_with(kind, path, value), _path_text(path))


@st.composite
def _missing(draw: st.DrawFn) -> BadFrame:
    kind, path, _, _ = draw(st.sampled_from([f for f in _FIELDS if f[3]]))
    return BadFrame(_with(kind, path, None, drop=True), f"missing required field `{path[-1]}`")


@st.composite
def _out_of_range(draw: st.DrawFn) -> BadFrame:
    kind, path = draw(st.sampled_from(_RANGED))
    value = draw(_OUT_OF_RANGE[(str(path[-1]),)])
    text = _with(kind, path, value)
    return BadFrame(text, "NaN" if "Infinity" in text else _path_text(path))


@st.composite
def _edge_numbers(draw: st.DrawFn) -> BadFrame:
    kind, path = draw(st.sampled_from(_RANGED))
    return BadFrame(_with(kind, path, draw(_EDGES[(str(path[-1]),)])), None)


@st.composite
def _huge_tokens(draw: st.DrawFn) -> BadFrame:
    kind, path = draw(st.sampled_from(_RANGED))
    digits = draw(st.integers(min_value=309, max_value=5000))
    token = draw(st.sampled_from([f"1e{digits}", f"-1e{digits}", "9" * digits]))
    text = _with(kind, path, "@").replace('"@"', token)
    return BadFrame(text, _path_text(path))


@st.composite
def _non_finite(draw: st.DrawFn) -> BadFrame:
    kind, path = draw(st.sampled_from([r for r in _RANGED if r[1][-1] != "call_id"]))
    token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "-NaN"]))
    spacing = draw(st.sampled_from(["", " ", "\n"]))
    text = _with(kind, path, "@").replace('"@"', spacing + token)
    return BadFrame(text, "NaN")


@st.composite
def _deep(draw: st.DrawFn) -> BadFrame:
    # Deeper than any recursion limit the decoder may run under (hypothesis raises it), and
    # within 64 KiB: 2 bytes a level for arrays, 6 for objects.
    if draw(st.booleans()):
        inner = "[" * (depth := draw(st.integers(5_000, 30_000))) + "]" * depth
    else:
        inner = '{"a":' * (depth := draw(st.integers(5_000, 10_000))) + "1" + "}" * depth
    frame = '{"type": "untrack", "call_id": 501, "extra": ' + inner + "}"
    return BadFrame(frame, "nested too deeply")


@st.composite
def _unicode_subject(draw: st.DrawFn) -> BadFrame:
    subject = draw(st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=64))
    x = draw(st.floats(min_value=-20_000, max_value=20_000))
    kind = draw(st.sampled_from(["track", "positions"]))
    if kind == "track":
        return BadFrame(json.dumps({"type": "track", "call_id": 9_001, "subject": subject}), None)
    item = {"subject": subject, "x": x, "y": 0.0, "z": 0.0}
    return BadFrame(json.dumps({"type": "positions", "items": [item]}, ensure_ascii=False), None)


@st.composite
def _bad_unicode(draw: st.DrawFn) -> BadFrame:
    long = draw(st.text(st.characters(exclude_categories=["Cs"]), min_size=65, max_size=200))
    lone = draw(st.sampled_from(["\\ud800", "\\udfff", "a\\udc00b"]))
    frame = draw(
        st.sampled_from(
            [
                json.dumps({"type": "track", "call_id": 9_001, "subject": long}),
                '{"type": "track", "call_id": 9001, "subject": "' + lone + '"}',
            ]
        )
    )
    return BadFrame(frame, "$.subject" if "\\ud" not in frame else "")


KINDS: dict[str, st.SearchStrategy[BadFrame]] = {
    "random JSON": JSON.map(json.dumps)
    .filter(lambda f: not valid(f))
    .map(lambda f: BadFrame(f, "")),
    "random text, not JSON": st.text(max_size=200)
    .filter(lambda f: not valid(f))
    .map(lambda f: BadFrame(f, "")),
    "wrong types": _wrong_type(),
    "missing fields": _missing(),
    "numbers out of range": _out_of_range(),
    "huge number tokens (1e400, 400 digits)": _huge_tokens(),
    "tiny and edge numbers (valid)": _edge_numbers(),
    "NaN / Infinity tokens": _non_finite(),
    "deep nesting (5 000 to 30 000 levels)": _deep(),
    "binary frames": st.binary(max_size=300).map(lambda b: BadFrame(b, "binary")),
    "unicode subjects (valid)": _unicode_subject(),
    "subjects too long or with lone surrogates": _bad_unicode(),
}


def check(bad: BadFrame, errors: list[str]) -> str | None:
    """What is wrong with the daemon's answer to `bad`, or None."""
    if bad.expect is None:
        return f"a valid frame drew errors: {errors}" if errors else None
    if len(errors) != 1:
        return f"expected one error, got {errors}"
    if bad.expect not in errors[0]:
        return f"the error {errors[0]!r} does not name {bad.expect!r}"
    return None


def oversized(kind: str) -> str:
    """A frame over the 64 KiB limit: a batch of positions, or a sync, past the size cap."""
    if kind == "positions":
        items = [{"subject": f"s{i}", "x": i, "y": 0, "z": 0} for i in range(2_100)]
        return json.dumps({"type": "positions", "items": items})
    tracks = [{"call_id": i + 1, "subject": f"player:{i}"} for i in range(4_100)]
    return json.dumps({"type": "sync", "tracks": tracks})
