"""metaData and calls under ordinary faults, over real sockets: the CAD client against the HTTP
stand-in, the planner and push loop on virtual time (`bench.loopback`), and the daemon behind
its websocket for what the game server is told.

Each scenario is also run the naive way, so each test shows the fault it guards against.
"""

from __future__ import annotations

import pytest
from conftest import MakeDaemon

from bench.kit import until
from bench.meta_faults import (
    LIST_FAULTS,
    edit_during_patch,
    edits_without_relay,
    readings,
    unlisted_meta,
)
from bridge.planner import UNKNOWN_META
from bridge.standin.cad import Fault

KEYS = {"callerPlayerId": "12", "uuid": "abc-123", "postal": "9002", "silentAlert": "false"}


async def test_a_list_without_metadata_costs_no_key_and_no_patch() -> None:
    naive = await unlisted_meta(naive=True, calls=4, seconds=30.0)
    assert naive.keys_lost > 0  # the fault: `{}` guessed, every key erased
    ours = await unlisted_meta(naive=False, calls=4, seconds=30.0)
    assert (ours.keys_lost, ours.patches, ours.failed_notices) == (0, 0, 4)
    # Once the resource relays the metaData, the calls move, every key kept.
    assert ours.patches_after_relay >= 4 and ours.lost_after_relay == 0


async def test_one_faulty_read_of_the_list_ends_no_call_and_a_closed_one_ends_on_one() -> None:
    naive = await readings(naive=True)
    assert all(naive.wrongly_ended[fault] == 4 for fault in LIST_FAULTS)
    ours = await readings(naive=False)
    assert ours.wrongly_ended == dict.fromkeys(LIST_FAULTS, 0)
    # The first read after the close lists it among the closed calls (a fetch interval at most).
    assert ours.closed_reported_after is not None and 0.0 < ours.closed_reported_after <= 16.0


async def test_old_metadata_is_read_before_a_push_so_few_edits_are_reverted() -> None:
    naive = await edits_without_relay(meta_max_age=0.0, minutes=20.0)
    ours = await edits_without_relay(meta_max_age=15.0, minutes=20.0)
    assert naive.reverted_share > 0.3
    assert ours.reverted_share <= 0.2
    # Within the GET bucket, with room left for sonorancad's own poll.
    assert ours.gets_per_minute <= 4.0


async def test_an_edit_relayed_during_a_patch_is_carried_by_every_later_patch() -> None:
    naive = await edit_during_patch(naive=True, minutes=2.0)
    assert naive.later_patches > 0 and naive.carrying == 0 and not naive.stored
    ours = await edit_during_patch(naive=False, minutes=2.0)
    assert ours.later_patches > 0 and ours.carrying == ours.later_patches and ours.stored


# -- what the game server sees -----------------------------------------------------------


async def test_the_resource_is_told_why_a_call_without_listed_metadata_waits(
    make_daemon: MakeDaemon,
) -> None:
    running = await make_daemon()
    running.standin.add_call(1, 501, dict(KEYS))
    running.standin.list_meta = False
    game = await running.game()
    await game.send(type="track", call_id=501, subject="player:1")
    await game.send(type="positions", items=[{"subject": "player:1", "x": 50, "y": 5, "z": 0}])
    failed = await game.expect("call_state", call_id=501, state="failed")
    assert failed["detail"] == UNKNOWN_META
    assert running.standin.call(1, 501)["metaData"] == KEYS
    assert not [r for r in running.standin.requests if r.route == "update_call"]
    await game.send(type="call_meta", call_id=501, meta=KEYS)
    await game.expect("call_state", call_id=501, state="pushed")
    stored = running.standin.call(1, 501)["metaData"]
    assert {k: stored[k] for k in KEYS} == KEYS and stored["x"] == "50"


async def test_a_404_for_the_list_pauses_the_server_and_names_the_setting(
    make_daemon: MakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    running = await make_daemon()
    running.standin.add_call(1, 502, dict(KEYS))
    running.standin.inject(Fault(404, detail="Server 1 is not configured"), 1, "get_calls")
    game = await running.game()
    await game.send(type="track", call_id=502, subject="player:2")
    await game.send(type="positions", items=[{"subject": "player:2", "x": 9, "y": 9, "z": 0}])
    paused = await game.expect("call_state", call_id=502, state="failed")
    assert "server id 1" in paused["detail"]
    assert running.bridge.planner.call(1, 502) is not None
    assert not [m for m in game.seen if m.get("state") == "gone"]
    lines = [line for line in capsys.readouterr().out.splitlines() if "cad.server_id" in line]
    assert lines and "server_id=1" in lines[0] and "cad_server_id=" in lines[0]


@pytest.mark.parametrize("value", ["-1", "3601", '"soon"'])
def test_meta_max_age_outside_its_range_is_refused_naming_the_key(value: str) -> None:
    from bridge.config import ConfigError, parse_config

    text = f'[cad]\napi_key = "k"\n[listen]\ntoken = "{"t" * 32}"\n'
    text += f"[tracking]\nmeta_max_age_seconds = {value}\n"
    with pytest.raises(ConfigError, match=r"tracking\.meta_max_age_seconds"):
        parse_config(text)


async def test_a_relay_during_a_slow_patch_is_pushed_back_to_the_cad(
    make_daemon: MakeDaemon,
) -> None:
    running = await make_daemon()
    standin = running.standin
    standin.add_call(1, 503, dict(KEYS))
    standin.inject(Fault("slow", delay=0.6), 1, "update_call")
    game = await running.game()
    await game.send(type="track", call_id=503, subject="player:3", meta=KEYS)
    await game.send(type="positions", items=[{"subject": "player:3", "x": 40, "y": 4, "z": 0}])
    await until(lambda: any(r.route == "update_call" for r in standin.requests), within=5.0)
    # The PATCH is held in the CAD: the dispatcher edits now, the PATCH then overwrites it.
    edited = {**KEYS, "note": "dispatcher edit", "units": [7, 8]}
    standin.edit_meta(1, 503, edited)
    await game.send(type="call_meta", call_id=503, meta=edited)
    await game.expect("call_state", call_id=503, state="pushed")
    await game.expect("call_state", call_id=503, state="pushed", timeout=8.0)  # pushed again
    stored = standin.call(1, 503)["metaData"]
    assert stored["note"] == "dispatcher edit" and stored["units"] == [7, 8]
    assert (stored["x"], stored["y"]) == ("40", "4")
