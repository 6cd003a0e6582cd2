"""bridge.postal: nearest-postal's JSON read and indexed; the nearest code in 2D."""

from __future__ import annotations

import asyncio
import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import protocol
from bridge.app import Daemon
from bridge.budget import Budget
from bridge.cad import CadClient
from bridge.config import ConfigError, PostalConfig, parse_config
from bridge.outcomes import Updated
from bridge.planner import Planner, Push, Settings
from bridge.postal import Postal, PostalError, PostalIndex, PostalSource
from bridge.scheduler import Accumulator
from bridge.standin.cad import CadStandIn

SAMPLE = [
    {"x": 0.0, "y": 0.0, "code": "100"},
    {"x": 500.0, "y": 0.0, "code": "101"},
    {"x": 0.0, "y": 800.0, "code": "2000-A"},
    {"x": -1200.5, "y": -300.25, "code": "300"},
    {"x": 500.0, "y": 0.0, "code": "dup"},  # same point as "101": the first in the file wins
]


def brute(postals: list[Postal], x: float, y: float) -> str:
    return min(enumerate(postals), key=lambda p: ((p[1].x - x) ** 2 + (p[1].y - y) ** 2, p[0]))[
        1
    ].code


def a_map(n: int, seed: int = 7) -> list[Postal]:
    """Postals spread like the real set: about 8 x 12 km, denser in the city."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 3:
            x, y = rng.gauss(0, 900), rng.gauss(-900, 900)
        else:
            x, y = rng.uniform(-3500, 4300), rng.uniform(-4000, 8000)
        out.append(Postal(x, y, str(100 + i)))
    return out


def test_reads_nearest_postals_json_and_finds_the_nearest_code() -> None:
    index = PostalIndex.from_json(json.dumps(SAMPLE))
    assert len(index) == 5
    assert index.nearest(10.0, 10.0) == "100"
    assert index.nearest(490.0, 5.0) == "101"  # not "dup": a tie goes to the first in the file
    assert index.nearest(30.0, 700.0) == "2000-A"
    assert index.nearest(-5000.0, -5000.0) == "300"  # far outside the grid
    assert index.nearest(math.nan, 0.0) is None


def test_numeric_codes_are_read_as_text_and_extra_fields_ignored() -> None:
    index = PostalIndex.from_json('[{"x": 1, "y": 2, "code": 9002, "z": 5, "name": "x"}]')
    assert index.nearest(0, 0) == "9002"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "postal file: no postals: the list is empty"),
        ("{}", "postal file: Expected `array`, got `object`"),
        ('[{"x": 1, "y": 2}]', "postal file: Object missing required field `code` - at `$[0]`"),
        (
            '[{"x": "a", "y": 2, "code": "1"}]',
            "postal file: Expected `float`, got `str` - at `$[0].x`",
        ),
        ("not json", "postal file: not JSON"),
    ],
)
def test_a_bad_file_is_refused_naming_the_item(text: str, message: str) -> None:
    with pytest.raises(PostalError) as caught:
        PostalIndex.from_json(text)
    assert str(caught.value).startswith(message)


def test_load_reads_a_file_and_names_it_when_it_cannot(tmp_path: Path) -> None:
    path = tmp_path / "new-postals.json"
    path.write_text(json.dumps(SAMPLE))
    assert PostalIndex.load(path).nearest(0, 0) == "100"
    with pytest.raises(PostalError, match=r"missing\.json: cannot read it"):
        PostalIndex.load(tmp_path / "missing.json")


@given(
    st.lists(st.tuples(st.floats(-5000, 5000), st.floats(-5000, 9000)), min_size=1, max_size=60),
    st.floats(-21_000, 21_000),
    st.floats(-21_000, 21_000),
)
@settings(max_examples=300, deadline=None)
def test_agrees_with_a_linear_scan(points: list[tuple[float, float]], x: float, y: float) -> None:
    postals = [Postal(px, py, str(i % 7)) for i, (px, py) in enumerate(points)]
    index = PostalIndex(postals, cell=137.0)
    # Codes repeat: compare the winner's position in the file, not just its code.
    assert index.nearest(x, y) == brute(postals, x, y)


def test_a_lookup_reads_a_few_postals_not_the_whole_set() -> None:
    postals = a_map(1687)
    index = PostalIndex(postals)
    rng = random.Random(3)
    looked = []
    for _ in range(2000):
        x, y = rng.uniform(-3500, 4300), rng.uniform(-4000, 8000)
        code, examined = index.search(x, y)
        assert code == brute(postals, x, y)
        looked.append(examined)
    looked.sort()
    assert looked[len(looked) // 2] <= 30  # median
    assert looked[-1] <= 400  # worst case, far below 1,687


# -- the daemon: config, the planner, the CAD client, offers -------------------------------

GRID = [{"x": 100.0 * i, "y": 0.0, "code": f"P{i}"} for i in range(10)]


def grid_index() -> PostalIndex:
    return PostalIndex.from_json(json.dumps(GRID))


def test_config_reads_the_postal_section_and_refuses_a_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "postals.json"
    good.write_text(json.dumps(GRID))
    config = parse_config(f'[postal]\nfile = "{good}"\n', {}, require_secrets=False)
    assert config.postal.file == str(good) and config.postal.accept_offer is True
    assert parse_config("", {}, require_secrets=False).postal.file == ""
    with pytest.raises(ConfigError, match=r"^postal\.file: .*cannot read it"):
        parse_config(f'[postal]\nfile = "{tmp_path / "none.json"}"\n', {}, require_secrets=False)
    (tmp_path / "bad.json").write_text('[{"x": 1}]')
    with pytest.raises(ConfigError, match=r"^postal\.file: .*missing required field `y`"):
        parse_config(f'[postal]\nfile = "{tmp_path / "bad.json"}"\n', {}, require_secrets=False)
    with pytest.raises(ConfigError, match=r"^postal\.files: unknown key"):
        parse_config('[postal]\nfiles = "x"\n', {}, require_secrets=False)


def test_config_expands_a_tilde_in_the_postal_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "p.json").write_text(json.dumps(GRID))
    config = parse_config('[postal]\nfile = "~/p.json"\n', {}, require_secrets=False)
    assert config.postal.file == str(tmp_path / "p.json")


def postal_planner(index: PostalIndex | None) -> Planner:
    return Planner(
        policy=Accumulator(10.0),
        update_budget=Budget(100, 60.0, margin=0.0),
        get_budget=None,
        settings=Settings(min_move=10.0, lead=False, meta_max_age=0.0),
        postals=index,
    )


def push_to(planner: Planner, x: float, now: float, answer_postal: str | None = None) -> Push:
    """The subject of call 7 is at (x, 0); push and answer as the CAD does."""
    planner.tracker.observe(1, "veh:7", x, 0.0, 0.0, now)
    action = planner.next_action(now)
    assert isinstance(action, Push), action
    planner.begin(action, now)
    call = {"callId": 7, "metaData": action.meta}
    if answer_postal is not None:
        call["postal"] = answer_postal
    planner.finish_push(action, Updated(call=call, meta=dict(action.meta)), now + 0.1)
    return action


def test_each_push_carries_the_postal_of_its_point_only_when_it_changed() -> None:
    planner = postal_planner(grid_index())
    planner.tracker.track(1, 7, "veh:7", 0.0, meta={"uuid": "u"})
    first = push_to(planner, 120.0, 1.0)
    assert first.postal == "P1"
    assert push_to(planner, 140.0, 2.0).postal is None  # still nearest to P1
    assert push_to(planner, 390.0, 3.0).postal == "P4"
    assert push_to(planner, 420.0, 4.0).postal is None


def test_a_postal_the_cad_answers_with_is_what_the_next_push_compares_to() -> None:
    planner = postal_planner(grid_index())
    planner.tracker.track(1, 7, "veh:7", 0.0, meta={"uuid": "u"})
    # The CAD still holds "9002" (a dispatcher's, or Sonoran's own postal update).
    push_to(planner, 120.0, 1.0, answer_postal="9002")
    assert push_to(planner, 140.0, 2.0, answer_postal="P1").postal == "P1"
    assert push_to(planner, 130.0, 3.0, answer_postal="P1").postal is None


def test_no_postal_without_a_file_or_when_sonorancad_keeps_it() -> None:
    planner = postal_planner(None)
    planner.tracker.track(1, 7, "veh:7", 0.0, meta={"uuid": "u"})
    assert push_to(planner, 120.0, 1.0).postal is None
    planner = postal_planner(grid_index())
    planner.tracker.track(1, 7, "veh:7", 0.0, meta={"uuid": "u"}).cad_postal = True
    assert push_to(planner, 120.0, 1.0).postal is None
    assert push_to(planner, 390.0, 2.0).postal is None


async def test_the_postal_goes_in_the_same_patch_and_the_cad_stores_it() -> None:
    async with CadStandIn(api_key="k" * 12) as standin:
        standin.add_call(1, 501, {"uuid": "u"})
        async with CadClient(standin.url, "k" * 12) as cad:
            result = (await cad.update_call(1, 501, {"uuid": "u", "x": "1"}, "P1")).result
            assert isinstance(result, Updated) and result.call["postal"] == "P1"
            await cad.update_call(1, 501, {"uuid": "u", "x": "2"})
        bodies = [r.body for r in standin.requests if r.method == "PATCH"]
        assert bodies == [
            {"metaData": {"uuid": "u", "x": "1"}, "postal": "P1"},
            {"metaData": {"uuid": "u", "x": "2"}},
        ]
        assert len(standin.requests) == 2  # no request of its own for the postal
        assert standin.call(1, 501)["postal"] == "P1"


async def test_an_offered_file_is_used_only_without_a_configured_one(tmp_path: Path) -> None:
    offered = tmp_path / "new-postals.json"
    offered.write_text(json.dumps(GRID))
    source = PostalSource(PostalConfig(offer_folder=str(tmp_path)))
    assert source.index is None
    index = await source.offered(1, str(offered))
    assert index is not None and source.index is index and index.nearest(0, 0) == "P0"
    assert await source.offered(1, str(offered)) is None  # the same offer again: nothing new
    assert await source.offered(1, str(tmp_path / "elsewhere.json")) is None  # unreadable
    assert source.index is index
    configured = PostalSource(PostalConfig(file=str(offered), offer_folder=str(tmp_path)))
    assert configured.index is not None
    assert await configured.offered(1, str(offered)) is None
    off = PostalSource(PostalConfig(accept_offer=False, offer_folder=str(tmp_path)))
    assert await off.offered(1, str(offered)) is None
    assert await PostalSource(PostalConfig()).offered(1, str(offered)) is None  # no folder


async def test_the_daemon_takes_an_offer_and_the_resources_cad_postal_flag(tmp_path: Path) -> None:
    offered = tmp_path / "new-postals.json"
    offered.write_text(json.dumps(GRID))
    daemon = Daemon(
        parse_config(
            '[cad]\napi_key = "k-123456789012"\n[listen]\ntoken = "t-123456789012"\n'
            f'[budget]\nstate_file = ""\n[status]\nport = 0\n'
            f"[postal]\noffer_folder = '{tmp_path}'\n",
            {},
        )
    )
    assert daemon.planner.postals is None
    daemon.on_message(1, protocol.decode(json.dumps({"type": "postal_file", "path": str(offered)})))
    await asyncio.gather(*daemon.postal_reads)
    assert daemon.planner.postals is not None and len(daemon.planner.postals) == len(GRID)
    daemon.on_message(
        1, protocol.decode('{"type":"track","call_id":5,"subject":"unit:7","cad_postal":true}')
    )
    call = daemon.tracker.get(1, 5)
    assert call is not None and call.cad_postal is True
    daemon.on_message(
        1,
        protocol.decode(
            '{"type":"sync","tracks":[{"call_id":5,"subject":"unit:7"},'
            '{"call_id":6,"subject":"unit:8","cad_postal":true}]}'
        ),
    )
    assert [(c.call_id, c.cad_postal) for c in daemon.tracker] == [(5, False), (6, True)]
    await daemon.cad.aclose()  # type: ignore[attr-defined]
