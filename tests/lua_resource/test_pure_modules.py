"""The pure modules (shared/*.lua) in a bare Lua 5.4: no natives exist, and reading an unknown
global is an error, so these tests also pin down that the modules touch none."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lupa import lua54

from bridge import protocol

from .fivem import (
    RESOURCE_DIR,
    FakeServer,
    decoder,
    encode_like_fivem,
    lua_list,
    stock_require,
    strict_json,
)

MODULES = {
    "subjects": "Subjects",
    "metadata": "Metadata",
    "tracking": "Tracking",
    "motion": "Motion",
    "sampler": "Sampler",
    "messages": "Messages",
    "cadcache": "CadCache",
    "pushevents": "PushEvents",
    "units": "Units",
    "saved": "Saved",
    "follow": "Follow",
    "settings": "Settings",
    "bridge": "Bridge",
    "sonorancad": "Sonorancad",
    "commands": "Commands",
}


class Bare:
    """The pure modules loaded with only Lua's standard library, through stock `require`."""

    def __init__(self) -> None:
        self.lua = lua54.LuaRuntime(unpack_returned_tuples=True)
        require = stock_require(self.lua)
        self.lua.execute(
            """
            local allowed = { require = true }
            setmetatable(_G, {
                __index = function(_, key)
                    if not allowed[key] then
                        error("pure module read global " .. tostring(key), 2)
                    end
                end,
                __newindex = function(_, key)
                    error("pure module wrote global " .. tostring(key), 2)
                end,
            })
            """
        )
        self.m = self.lua.table_from(
            {name: require("shared." + module) for module, name in MODULES.items()}
        )
        self.encode = encode_like_fivem
        self.decode = decoder(self.lua)

    def table(self, value: object) -> object:
        return self.lua.table_from(value, recursive=True)

    def py(self, value: object) -> object:
        return strict_json(self.encode(value))


@pytest.fixture(scope="module")
def bare() -> Bare:
    return Bare()


def test_the_manifest_lists_only_the_entry_files() -> None:
    """The modules under shared/ are not scripts of their own: main.lua requires them."""
    assert FakeServer().server_scripts() == [
        "server/transport.js",
        "server/require.lua",
        "server/main.lua",
    ]
    on_disk = sorted(p.stem for p in (RESOURCE_DIR / "shared").glob("*.lua"))
    assert on_disk == sorted(MODULES)


def test_each_module_returns_its_table_and_writes_no_global() -> None:
    """Each module, loaded alone in a bare state, returns a table and leaves the globals as
    they were: whatever it needs, it requires."""
    for module in MODULES:
        lua = lua54.LuaRuntime()
        require = stock_require(lua)
        before = set(lua.globals().keys())
        assert lua54.lua_type(require("shared." + module)) == "table", module
        assert set(lua.globals().keys()) == before, module


def test_the_modules_require_down_the_layers_only() -> None:
    """main.lua -> sonorancad, commands -> bridge -> follow -> the rest: no module requires
    one of its own layer or above, so there is no circle (the loader would refuse one)."""
    layer = {
        "sonorancad": 4,
        "commands": 4,
        "bridge": 3,
        "follow": 2,
        "sampler": 1,
        "messages": 1,
        "cadcache": 1,
        "saved": 1,
    }
    pattern = re.compile(r'require\("shared\.(\w+)"\)')
    for module in MODULES:
        needs = pattern.findall((RESOURCE_DIR / "shared" / f"{module}.lua").read_text())
        for need in needs:
            assert layer.get(need, 0) < layer.get(module, 0), (module, need)
    main = (RESOURCE_DIR / "server" / "main.lua").read_text()
    assert set(pattern.findall(main)) >= {"bridge", "sonorancad", "commands", "settings"}


# -- subjects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        (12, "player:12"),
        (12.0, "player:12"),  # numbers from a JS caller arrive as floats
        ("12", "player:12"),  # GetPlayers() gives strings
        ("player:12", "player:12"),
        ("entity:345", "entity:345"),
        ("unit:7", "unit:7"),
    ],
)
def test_subject_forms(bare: Bare, spec: object, key: str) -> None:
    subject = bare.m.Subjects.parse(spec)
    assert subject.key == key


@pytest.mark.parametrize(
    "spec",
    [
        None,
        0,
        -3,
        12.5,
        math.nan,
        math.inf,
        "",
        "player:",
        "player:0",
        "car:3",
        "player:1x",
        True,
        "12 ",
    ],
)
def test_bad_subjects_say_what_was_expected_and_what_came(bare: Bare, spec: object) -> None:
    subject, reason = bare.m.Subjects.parse(spec)
    assert subject is None
    assert reason.startswith("subject: expected a player server id")
    assert "got" in reason


@pytest.mark.parametrize(
    ("spec", "expected"), [(501, 501), ("501", 501), (501.0, 501), (2**53, 2**53)]
)
def test_call_ids(bare: Bare, spec: object, expected: int) -> None:
    assert bare.m.Subjects.call_id(spec) == expected


@pytest.mark.parametrize("spec", [None, 0, -1, 1.5, "abc", "", "5 01", 2**53 + 2, math.nan, {}])
def test_bad_call_ids(bare: Bare, spec: object) -> None:
    value, reason = bare.m.Subjects.call_id(bare.table(spec) if isinstance(spec, dict) else spec)
    assert value is None
    assert reason.startswith("callId: expected an integer >= 1, got")


def test_options(bare: Bare) -> None:
    assert bare.m.Subjects.options(None).radius is None
    assert bare.m.Subjects.options(bare.table({"radius": 50})).radius == 50
    for bad, fragment in [
        ("big", "opts: expected a table"),
        ({"radius": -1}, "opts.radius: expected metres between 0 and 10000"),
        ({"radius": 10001}, "opts.radius"),
        ({"radius": "50"}, "opts.radius"),
        ({"radius": math.nan}, "opts.radius"),
        ({"raduis": 5}, 'opts: unknown option "raduis"'),
    ]:
        value, reason = bare.m.Subjects.options(bare.table(bad) if isinstance(bad, dict) else bad)
        assert value is None
        assert fragment in reason


# -- sampler ----------------------------------------------------------------------------


def reading(bare: Bare, x: float, y: float, z: float, **extra: float) -> object:
    return bare.table({"x": x, "y": y, "z": z, **extra})


@pytest.mark.parametrize(
    ("x", "y", "z", "why"),
    [
        (0.0, 0.0, -1700.0, "position not synced yet"),
        (math.nan, 1.0, 1.0, "non-finite coordinates"),
        (1.0, math.inf, 1.0, "non-finite coordinates"),
        (25000.0, 1.0, 1.0, "coordinates off the map"),
        (1.0, 1.0, -6000.0, "coordinates off the map"),
    ],
)
def test_unusable_readings(bare: Bare, x: float, y: float, z: float, why: str) -> None:
    assert bare.m.Sampler.usable(reading(bare, x, y, z)) == (False, why)


def test_sampler_sends_first_reading_then_only_movement_or_heartbeat(bare: Bare) -> None:
    sampler = bare.m.Sampler.new(bare.table({"min_move": 5, "heartbeat_ms": 30000}))
    subjects = bare.table(["player:1"])

    def pick(t: int, x: float) -> list:
        items, _ = sampler.pick(
            sampler, t, subjects, bare.table({"player:1": {"x": x, "y": 0.0, "z": 0.0}})
        )
        return [item.x for item in lua_list(items)]

    assert pick(0, 100.0) == [100.0]
    assert pick(1000, 104.9) == []  # under min_move from what was last *sent*
    assert pick(2000, 104.99) == []
    assert pick(3000, 105.0) == [105.0]
    assert pick(4000, 105.0) == []
    assert pick(32999, 105.0) == []
    assert pick(33000, 105.0) == [105.0]  # heartbeat


def test_sampler_keeps_last_sent_through_unusable_readings(bare: Bare) -> None:
    sampler = bare.m.Sampler.new(bare.table({"min_move": 5, "heartbeat_ms": 30000}))
    subjects = bare.table(["a"])
    sampler.pick(sampler, 0, subjects, bare.table({"a": {"x": 1.0, "y": 1.0, "z": 1.0}}))
    items, skipped = sampler.pick(sampler, 1000, subjects, bare.table({}))
    assert len(items) == 0 and skipped["a"] == "not located"
    items, _ = sampler.pick(
        sampler, 2000, subjects, bare.table({"a": {"x": 2.0, "y": 1.0, "z": 1.0}})
    )
    assert len(items) == 0
    sampler.reset(sampler)
    items, _ = sampler.pick(
        sampler, 3000, subjects, bare.table({"a": {"x": 2.0, "y": 1.0, "z": 1.0}})
    )
    assert len(items) == 1


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=300, deadline=None)
@given(x=finite, y=finite, z=finite, heading=finite, speed=finite, vx=finite, vy=finite)
def test_any_reading_the_sampler_sends_is_valid_on_the_wire(
    bare: Bare, x: float, y: float, z: float, heading: float, speed: float, vx: float, vy: float
) -> None:
    sampler = bare.m.Sampler.new(bare.table({"min_move": 0, "heartbeat_ms": 1}))
    r = {"x": x, "y": y, "z": z, "heading": heading, "speed": speed, "vx": vx, "vy": vy}
    items, _ = sampler.pick(sampler, 0, bare.table(["s"]), bare.table({"s": r}))
    frames, dropped = bare.m.Messages.position_frames(items, bare.encode)
    assert len(dropped) == 0
    for frame in lua_list(frames):
        protocol.decode(frame)
        strict_json(frame)


# -- messages ---------------------------------------------------------------------------


def test_position_frames_split_at_2048_items(bare: Bare) -> None:
    items = bare.table(
        [{"subject": f"entity:{i}", "x": 1.5, "y": 2.5, "z": 3.0} for i in range(1, 5001)]
    )
    frames, _ = bare.m.Messages.position_frames(items, bare.encode, 10**9)
    counts = [len(json.loads(f)["items"]) for f in lua_list(frames)]
    assert counts == [2048, 2048, 904]


def test_position_frames_stay_under_64_KiB(bare: Bare) -> None:
    items = bare.table(
        [
            {
                "subject": f"entity:{i:0>50}",
                "x": -12345.67,
                "y": 12345.67,
                "z": 123.45,
                "heading": 359.9,
                "speed": 99.99,
            }
            for i in range(1, 3001)
        ]
    )
    frames, _ = bare.m.Messages.position_frames(items, bare.encode)
    assert len(frames) > 1
    subjects = []
    for frame in lua_list(frames):
        assert len(frame.encode()) <= protocol.MAX_FRAME_BYTES
        msg = protocol.decode(frame)
        subjects += [item.subject for item in msg.items]
    assert subjects == [f"entity:{i:0>50}" for i in range(1, 3001)]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=64, alphabet="abcdefghij:0123456789"),
            st.floats(-20000, 20000),
            st.floats(-20000, 20000),
            st.floats(-5000, 5000),
        ),
        max_size=400,
    ),
    st.integers(200, 70000),
)
def test_position_frames_keep_every_item_in_order_within_the_budget(
    bare: Bare, rows: list[tuple[str, float, float, float]], budget: int
) -> None:
    items = bare.table([{"subject": s, "x": x, "y": y, "z": z} for s, x, y, z in rows])
    frames, dropped = bare.m.Messages.position_frames(items, bare.encode, budget)
    assert len(dropped) == 0
    got = []
    for frame in lua_list(frames):
        assert len(frame.encode()) <= max(budget, 200)
        got += [item["subject"] for item in strict_json(frame)["items"]]
    assert got == [s for s, *_ in rows]


def test_position_frames_leave_out_invalid_items(bare: Bare) -> None:
    items = bare.table(
        [
            {"subject": "ok", "x": 1.0, "y": 2.0, "z": 3.0},
            {"subject": "nan", "x": math.nan, "y": 2.0, "z": 3.0},
            {"subject": "", "x": 1.0, "y": 2.0, "z": 3.0},
            {"subject": "hdg", "x": 1.0, "y": 2.0, "z": 3.0, "heading": 400.0},
        ]
    )
    frames, dropped = bare.m.Messages.position_frames(items, bare.encode)
    assert [i["subject"] for i in strict_json(frames[1])["items"]] == ["ok"]
    assert len(dropped) == 3
    assert "item.x: expected a finite number" in dropped[1]


def test_check_refuses_non_finite_numbers_and_empty_meta(bare: Bare) -> None:
    check = bare.m.Messages.check
    assert (
        check(
            bare.table({"type": "track", "call_id": 1, "subject": "player:1", "radius": math.inf})
        )[0]
        is False
    )
    assert check(bare.table({"type": "call_meta", "call_id": 1, "meta": {}}))[1] == (
        "call_meta.meta: metaData is empty (json.encode would write [], not an object)"
    )
    assert check(bare.table({"type": "call_meta", "call_id": 1, "meta": {"x": 1}})) is True
    assert check(bare.table({"type": "call_meta", "call_id": 1, "meta": {"x": math.nan}}))[1] == (
        "call_meta.meta: metaData.x is nan, not a JSON number"
    )
    assert check(bare.table({"type": "untrack", "call_id": 1.5}))[0] is False
    assert check(bare.table({"type": "sync", "tracks": []})) is True


def test_dispatch_and_911_calls_with_one_id_are_two_calls(bare: Bare) -> None:
    t = bare.m.Tracking
    tracker = t.new()
    t.track(tracker, 501, "player:3")
    t.track(tracker, 501, "player:12", None, None, bare.table({"kind": "emergency"}))
    assert [(c.call_id, c.kind, c.subject) for c in lua_list(t.calls(tracker))] == [
        (501, "dispatch", "player:3"),
        (501, "emergency", "player:12"),
    ]
    assert t.get(tracker, 501).subject == "player:3"
    assert t.get(tracker, 501, "emergency").subject == "player:12"
    assert t.untrack(tracker, 501, "emergency").subject == "player:12"
    assert t.get(tracker, 501).subject == "player:3" and t.count(tracker) == 1


def test_messages_carry_kind_for_911_calls_only(bare: Bare) -> None:
    m = bare.m.Messages
    dispatch = bare.table({"call_id": 501, "subject": "player:3", "kind": "dispatch"})
    emergency = bare.table({"call_id": 501, "subject": "player:3", "kind": "emergency"})
    assert "kind" not in strict_json(bare.encode(m.track(dispatch)))
    for msg in (
        m.track(emergency),
        m.untrack(501, "emergency"),
        m.call_closed(501, "emergency"),
        m.call_meta(501, bare.table({"a": 1}), "emergency"),
        m.call_meta_stale(501, "emergency"),
        m.sync(bare.table([emergency]), True),
    ):
        assert m.check(msg) is True
        text = bare.encode(msg)
        protocol.decode(text)  # the daemon reads it
        assert '"kind":"emergency"' in text
    stale = strict_json(bare.encode(m.call_meta_stale(7)))
    assert stale == {"type": "call_meta_stale", "call_id": 7}
    assert isinstance(protocol.decode(bare.encode(m.call_meta_stale(7))), protocol.CallMetaStale)
    assert m.check(bare.table({"type": "untrack", "call_id": 1, "kind": "sms"}))[1] == (
        "untrack.kind: expected dispatch or emergency, got sms"
    )


def test_saved_tracks_keep_their_kind(bare: Bare) -> None:
    saved = bare.m.Saved
    calls = bare.table(
        [
            {"call_id": 501, "subject": "unit:7", "kind": "dispatch", "origin": "primary"},
            {
                "call_id": 501,
                "subject": "player:3",
                "kind": "emergency",
                "origin": "caller",
                "who": "license:x",
            },
        ]
    )
    text = saved.encode(calls, bare.table({}), bare.encode)
    state, problems = saved.decode(text, bare.decode)
    assert len(problems) == 0
    kinds = [(t.call_id, t.kind) for t in lua_list(state.tracks)]
    assert kinds == [(501, None), (501, "emergency")]
    odd = text.replace('"kind":"emergency"', '"kind":"sms"')
    state, problems = saved.decode(odd, bare.decode)
    assert len(state.tracks) == 1 and "bad kind" in problems[1]


def test_sync_frames_fall_back_to_call_meta_when_the_meta_does_not_fit(bare: Bare) -> None:
    big = {f"k{i}": "v" * 200 for i in range(200)}
    calls = bare.table(
        [{"call_id": i, "subject": f"player:{i}", "meta": dict(big)} for i in range(1, 4)]
    )
    frames = [strict_json(f) for f in lua_list(bare.m.Messages.sync_frames(calls, bare.encode))]
    assert frames[0] == {
        "type": "sync",
        "tracks": [{"call_id": i, "subject": f"player:{i}"} for i in range(1, 4)],
    }
    assert [(f["type"], f["call_id"]) for f in frames[1:]] == [
        ("call_meta", i) for i in range(1, 4)
    ]
    small = bare.table([{"call_id": 1, "subject": "player:1", "meta": {"a": "b"}}])
    assert [strict_json(f) for f in lua_list(bare.m.Messages.sync_frames(small, bare.encode))] == [
        {"type": "sync", "tracks": [{"call_id": 1, "subject": "player:1", "meta": {"a": "b"}}]}
    ]


def test_empty_sync_encodes_tracks_as_a_list(bare: Bare) -> None:
    frames = bare.m.Messages.sync_frames(bare.table([]), bare.encode)
    assert isinstance(protocol.decode(frames[1]), protocol.Sync)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"type":"call_state","call_id":5,"state":"pushed","detail":"ok"}', True),
        ('{"type":"call_state","call_id":5,"state":"following"}', True),
        ('{"type":"call_state","call_id":5,"state":"dancing"}', False),
        ('{"type":"call_state","call_id":5,"state":"gone","kind":"emergency"}', True),
        ('{"type":"call_state","call_id":5,"state":"gone","kind":"sms"}', False),
        ('{"type":"call_state","call_id":0,"state":"gone"}', False),
        ('{"type":"welcome","protocol":1}', False),
        ("not json", False),
        ("[1,2]", False),
    ],
)
def test_parse_daemon_messages(bare: Bare, text: str, ok: bool) -> None:
    result = bare.m.Messages.parse_daemon(text, bare.decode)
    if ok:
        assert result.type == "call_state" and result.call_id == 5
    else:
        msg, reason = result
        assert msg is None and isinstance(reason, str)


# -- pushevents -------------------------------------------------------------------------


def test_push_events_read_every_id_of_a_bulk_close(bare: Bare) -> None:
    def read(body: object) -> object:
        event = bare.m.PushEvents.read(json.dumps(body), bare.decode)
        return None if event is None else (event.type, list(lua_list(event.call_ids)))

    close = {"key": "the-api-key", "type": "EVENT_DISPATCH_CLOSED"}
    assert read({**close, "data": {"callIds": [1234, 5678]}}) == (
        "EVENT_DISPATCH_CLOSED",
        [1234, 5678],
    )
    # the shape Sonoran's page shows (data as a one-item list), odd ids skipped, any case
    assert read(
        {
            **close,
            "type": "event_dispatch_closed",
            "data": [{"callIds": ["12", 0, -3, 1.5, "x", None, 13]}],
        }
    ) == ("EVENT_DISPATCH_CLOSED", [12, 13])
    assert read({**close, "data": {}}) == ("EVENT_DISPATCH_CLOSED", [])
    assert read({**close, "type": "EVENT_DISPATCH_NEW", "data": {"callIds": [1]}}) is None
    assert bare.m.PushEvents.read("{not json", bare.decode) is None
    assert bare.m.PushEvents.read(None, bare.decode) is None
    event = bare.m.PushEvents.read(json.dumps({**close, "data": {"callIds": [1]}}), bare.decode)
    assert "the-api-key" not in bare.encode(event)  # the key is not kept


# -- cadcache ---------------------------------------------------------------------------


def entry(
    bare: Bare, call_id: object, meta: object, status: int = 1, kind: str = "CALL_NEW"
) -> object:
    return bare.table(
        {"dispatch_type": kind, "dispatch": {"callId": call_id, "status": status, "metaData": meta}}
    )


def test_find_tolerates_number_string_and_odd_keys(bare: Bare) -> None:
    find = bare.m.CadCache.find
    rawequal = bare.lua.eval("rawequal")
    e = entry(bare, 501, {"a": "b"})
    cache = bare.lua.table()
    cache[501] = e
    assert rawequal(find(cache, 501), e)
    cache = bare.lua.table()
    cache["501"] = e
    assert rawequal(find(cache, 501), e)
    cache = bare.lua.table()
    cache["call-501"] = entry(bare, "501", {"a": "b"})  # only the entry knows its id
    assert find(cache, 501) is not None
    assert find(cache, 502) is None
    assert find(None, 501) is None


def test_meta_keeps_every_json_value_verbatim(bare: Bare) -> None:
    raw = {
        "x": 430.5,
        "y": "-12.25",
        "postal": 100,
        "silentAlert": False,
        "units": [3, "4", {"id": 5}],
        "caller": {"name": "A", "tags": ["x"]},
    }
    meta = bare.m.CadCache.meta(entry(bare, 1, raw))
    assert bare.py(meta) == raw
    # a copy: later changes to the cache's tables do not reach it
    assert not bare.lua.eval("rawequal")(meta.caller, raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({}, "metaData is empty (json.encode would write [], not an object)"),
        (None, "metaData is missing, expected an object"),
        ("text", "metaData is a string, expected an object"),
        (["a", "b"], "metaData has a key that is a number (1), expected an object"),
        ({"n": {}}, "metaData.n is an empty table (json.encode writes [], the CAD may hold {})"),
        ({"n": {"a": {"b": []}}}, "metaData.n.a.b is an empty table"),
        ({"n": math.inf}, "metaData.n is inf, not a JSON number"),
        ({"k" * 257: "v"}, "metaData has a key longer than 256 characters"),
    ],
)
def test_meta_refuses_what_json_encode_would_not_write_as_the_cad_holds_it(
    bare: Bare, raw: object, reason: str
) -> None:
    meta, why = bare.m.CadCache.meta(entry(bare, 1, raw))
    assert meta is None
    assert why.startswith(reason), why


def test_meta_refuses_mixed_keys_sparse_floats_and_functions(bare: Bare) -> None:
    copy = bare.m.Metadata.copy
    mixed = bare.lua.eval("{ n = { 1, 2, a = 3 } }")
    assert copy(mixed)[1] == "metaData.n is a table mixing integer and string keys"
    floaty = bare.lua.eval("{ n = { [1.5] = 1 } }")
    assert copy(floaty)[1] == "metaData.n is a table with a key that is a float (1.5)"
    fn = bare.lua.eval("{ n = function() end }")
    assert copy(fn)[1] == "metaData.n is a function, not a JSON value"
    sparse = bare.lua.eval("{ n = { [1] = 'a', [3] = 'c' } }")  # from [\"a\", null, \"c\"]
    assert bare.py(copy(sparse)) == {"n": ["a", None, "c"]}


def test_meta_limits_values_and_depth(bare: Bare) -> None:
    copy = bare.m.Metadata.copy
    many = bare.table({f"k{i}": list(range(20)) for i in range(210)})
    assert copy(many)[1] == "more than 4096 values"
    long = bare.table({"list": list(range(5000))})
    assert copy(long)[1] == "metaData.list is a list longer than 4096"
    deep: object = 1
    for _ in range(15):
        deep = [deep]
    assert bare.py(copy(bare.table({"d": deep}))) == {"d": deep}
    assert "nests deeper than 16 levels" in copy(bare.table({"d": [deep]}))[1]


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.recursive(
            st.booleans()
            | st.integers(-(2**53), 2**53)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, min_size=1, max_size=3)
                | st.dictionaries(st.text(min_size=1, max_size=4), inner, min_size=1, max_size=3)
            ),
            max_leaves=12,
        ),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=60, deadline=None)
def test_meta_round_trips_through_json_encode_unchanged(bare: Bare, raw: dict) -> None:
    meta = bare.m.Metadata.copy(bare.decode(json.dumps(raw)))
    assert bare.py(meta) == raw
    assert bare.m.Metadata.same(meta, bare.decode(json.dumps(raw))) is True


def test_closed_is_status_2_or_call_close(bare: Bare) -> None:
    is_closed = bare.m.CadCache.is_closed
    assert is_closed(entry(bare, 1, {}, status=2)) is True
    assert is_closed(entry(bare, 1, {}, status="2")) is True
    assert is_closed(entry(bare, 1, {}, kind="CALL_CLOSE")) is True
    assert is_closed(entry(bare, 1, {}, status=1)) is False


def test_same_meta(bare: Bare) -> None:
    same = bare.m.CadCache.same_meta
    assert same(bare.table({"a": "1"}), bare.table({"a": "1"})) is True
    assert same(bare.table({"a": {"b": [1]}}), bare.table({"a": {"b": [1]}})) is True
    assert same(bare.table({"a": {"b": [1]}}), bare.table({"a": {"b": [2]}})) is False
    assert same(bare.table({"a": 1}), bare.table({"a": "1"})) is False
    assert same(bare.table({"a": "1"}), bare.table({"a": "1", "b": "2"})) is False
    assert same(bare.table({"a": "1"}), bare.table({"a": "2"})) is False
    assert same(None, bare.table({"a": "1"})) is False


# -- settings ---------------------------------------------------------------------------


def test_settings_defaults_and_bad_values(bare: Bare) -> None:
    def read(convars: dict[str, str]) -> tuple[object, list[str]]:
        settings, warnings = bare.m.Settings.read(lambda name, default: convars.get(name, default))
        return settings, list(lua_list(warnings))

    settings, warnings = read({})
    assert (settings.interval_ms, settings.min_move, settings.heartbeat_ms, settings.token_set) == (
        1000,
        5,
        30000,
        False,
    )
    assert warnings == []
    settings, warnings = read(
        {
            "sonoran_bridge_interval_ms": "250",
            "sonoran_bridge_min_move": "2.5",
            "sonoran_bridge_token": "x",
        }
    )
    assert (settings.interval_ms, settings.min_move, settings.token_set) == (250, 2.5, True)
    settings, warnings = read(
        {
            "sonoran_bridge_interval_ms": "fast",
            "sonoran_bridge_min_move": "-1",
            "sonoran_bridge_token": "  ",
        }
    )
    assert (settings.interval_ms, settings.min_move, settings.token_set) == (1000, 5, False)
    assert warnings == [
        "sonoran_bridge_interval_ms: expected an integer between 100 and 60000, "
        'got "fast"; using 1000',
        'sonoran_bridge_min_move: expected a number between 0 and 1000, got "-1"; using 5',
    ]


# -- units ------------------------------------------------------------------------------


def test_unit_identity_follows_sonorancads_order(bare: Bare) -> None:
    ids = bare.m.Units.identities

    def unit(**data: object) -> object:
        return bare.table({"id": 7, "data": data})

    assert list(lua_list(ids(unit(communityUserIds=["a", "b"], communityUserId="c")))) == ["a", "b"]
    assert list(lua_list(ids(unit(communityUserIds=[], communityUserId="c", apiIds=["d"])))) == [
        "c"
    ]
    assert list(lua_list(ids(unit(communityUserId="", apiIds=["d", "e"])))) == ["d", "e"]
    assert list(lua_list(ids(unit()))) == []
    assert list(lua_list(ids(None))) == []


def test_a_unit_is_the_player_announced_for_it_else_the_first_identifier_match(
    bare: Bare,
) -> None:
    units = bare.m.Units
    players = bare.table(
        [
            {
                "id": "3",
                "ids": dict(units.stripped(bare.table(["license:aaa", "discord:1"])).items()),
            },
            {
                "id": "4",
                "ids": dict(units.stripped(bare.table(["license:bbb", "ip:1.2.3.4"])).items()),
            },
        ]
    )
    by_api = bare.table({"id": 7, "data": {"apiIds": ["zzz", "bbb"]}})
    assert units.player_of(by_api, players, None) == "4"
    assert units.player_of(by_api, players, bare.table({7: "3"})) == "3"  # sonorancad said so
    assert units.player_of(by_api, players, bare.table({7: "9"})) == "4"  # 9 left: identity
    nobody = bare.table({"id": 8, "data": {"communityUserId": "cu-8"}})
    assert units.player_of(nobody, players, None) is None
    cache = bare.table([by_api, nobody, {"id": "9", "data": {"apiIds": ["1.2.3.4"]}}])
    assert dict(units.players(cache, players, None).items()) == {7: "4", 9: "4"}
    assert units.find(cache, 9) is not None and units.find(cache, 10) is None
