"""The metaData merge: x/y/z/radius replaced as strings, every other key sent back unchanged."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.meta import OWNED_KEYS, drawn_at, format_number, merged

# What the official resource writes when it creates a call: keys a careless update would erase.
RESOURCE_META = {
    "callerPlayerId": "12",
    "callerCommunityUserId": "u-9f2",
    "uuid": "3c1e2a",
    "silentAlert": "false",
    "useCallLocation": "true",
    "postal": "221",
    "x": "0",
    "y": "0",
    "z": "0",
    "radius": "100",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)

coordinates = st.floats(min_value=-20_000, max_value=20_000, allow_nan=False)


def test_owned_keys_are_the_position_and_radius() -> None:
    assert set(OWNED_KEYS) == {"x", "y", "z", "radius"}


def test_resource_keys_survive_a_merge() -> None:
    body = merged(RESOURCE_META, 430.5, -982.1, 30.0, 75.0)
    for key, value in RESOURCE_META.items():
        if key not in OWNED_KEYS:
            assert body[key] == value
    assert body["x"] == "430.5"
    assert body["y"] == "-982.1"
    assert body["z"] == "30"
    assert body["radius"] == "75"
    assert set(body) == set(RESOURCE_META)


def test_owned_keys_are_added_when_absent() -> None:
    assert merged({}, 1.0, 2.0, 3.0, 4.0) == {"x": "1", "y": "2", "z": "3", "radius": "4"}


def test_merge_does_not_modify_the_known_meta() -> None:
    known = dict(RESOURCE_META)
    merged(known, 5.0, 6.0, 7.0, 8.0)
    assert known == RESOURCE_META


@settings(max_examples=150, deadline=None)
@given(
    known=st.dictionaries(st.text(max_size=12), json_values, max_size=12),
    x=coordinates,
    y=coordinates,
    z=st.floats(min_value=-5_000, max_value=5_000),
    radius=st.floats(min_value=0, max_value=10_000),
)
def test_non_owned_keys_are_preserved_exactly(
    known: dict[str, Any], x: float, y: float, z: float, radius: float
) -> None:
    before = copy.deepcopy(known)
    body = merged(known, x, y, z, radius)
    assert known == before
    assert set(body) == set(known) | set(OWNED_KEYS)
    for key, value in known.items():
        if key not in OWNED_KEYS:
            assert body[key] == value
            assert type(body[key]) is type(value)
    for key, value in zip(OWNED_KEYS, (x, y, z, radius), strict=True):
        assert isinstance(body[key], str)
        assert body[key] == format_number(value)
        assert math.isclose(float(body[key]), value, abs_tol=0.0051)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (430.5, "430.5"),
        (100.0, "100"),
        (100, "100"),
        (-982.1, "-982.1"),
        (10.0, "10"),
        (1000.0, "1000"),
        (-20_000.0, "-20000"),
        (0.0, "0"),
        (-0.0, "0"),
        (-0.004, "0"),
        (0.004, "0"),
        (12.345678, "12.35"),
        (-7.25, "-7.25"),
        (0.5, "0.5"),
        (-0.5, "-0.5"),
    ],
)
def test_numbers_are_formatted_as_the_cad_stores_them(value: float, text: str) -> None:
    assert format_number(value) == text


@settings(max_examples=200, deadline=None)
@given(coordinates)
def test_formatted_numbers_are_short_plain_decimals(value: float) -> None:
    text = format_number(value)
    assert text != "-0"
    assert "e" not in text.lower()
    assert not text.endswith(".")
    if "." in text:
        assert not text.endswith("0")
        assert len(text.split(".")[1]) <= 2
    assert abs(float(text) - value) <= 0.0051


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"x": "430.5", "y": "-982.1"}, (430.5, -982.1)),
        ({"x": "0", "y": "0", "postal": "221"}, (0.0, 0.0)),
        ({"x": 12, "y": 3.5}, (12.0, 3.5)),
        ({"x": " 1.5 ", "y": "2"}, (1.5, 2.0)),
    ],
)
def test_drawn_at_reads_x_and_y(meta: dict[str, Any], expected: tuple[float, float]) -> None:
    assert drawn_at(meta) == expected


@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"x": "1"},
        {"y": "1"},
        {"x": "", "y": "1"},
        {"x": "abc", "y": "1"},
        {"x": "1", "y": None},
        {"x": [1], "y": "1"},
        {"x": {"v": 1}, "y": "1"},
        {"x": "nan", "y": "1"},
        {"x": "1", "y": "NaN"},
        {"x": "inf", "y": "1"},
        {"x": "1", "y": "-Infinity"},
        {"x": "1e999", "y": "1"},
        {"x": "12,5", "y": "1"},
    ],
)
def test_drawn_at_is_none_for_absent_or_junk_coordinates(meta: dict[str, Any]) -> None:
    assert drawn_at(meta) is None


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "y", "z", "postal"]), json_values))
def test_drawn_at_never_raises_and_is_finite(meta: dict[str, Any]) -> None:
    where = drawn_at(meta)
    if where is not None:
        assert all(math.isfinite(v) for v in where)


@settings(max_examples=100, deadline=None)
@given(x=coordinates, y=coordinates)
def test_drawn_at_reads_back_what_merge_wrote(x: float, y: float) -> None:
    where = drawn_at(merged(RESOURCE_META, x, y, 0.0, 50.0))
    assert where is not None
    assert math.isclose(where[0], x, abs_tol=0.0051)
    assert math.isclose(where[1], y, abs_tol=0.0051)
