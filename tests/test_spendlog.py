"""The spend log: a restarted daemon counts what its predecessor spent in the window."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import msgspec
import pytest
from conftest import API_KEY, TOKEN, MakeDaemon, make_config

from bench.kit import WINDOW, ClockedCad, VirtualTime, build_daemon, until
from bridge.app import Daemon
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, TrackingConfig
from bridge.spendlog import SpendLog, default_path, state_folder
from bridge.standin.cad import CadStandIn, Fault

KEYS_FOR_TESTS = {"postal": "9002", "uuid": "abc-123"}
CALLS = {call_id: dict(KEYS_FOR_TESTS) for call_id in range(1, 11)}


def test_times_survive_a_restart_on_another_clock(tmp_path: Path) -> None:
    wall = VirtualTime(1_000_000.0)
    first = SpendLog(tmp_path / "spent.json", horizon=61.0, wall_clock=wall)
    first.save({"update_call": [10.0, 40.0, 50.0]}, clock_now=50.0)  # daemon clock at 50
    wall.now += 20.0  # 20 s later a new process starts, its monotonic clock at 7
    second = SpendLog(tmp_path / "spent.json", horizon=61.0, wall_clock=wall)
    # They ended 60, 30 and 20 s ago: all within the 61 s horizon, on the new clock.
    assert second.load(clock_now=7.0) == {"update_call": pytest.approx([-53.0, -23.0, -13.0])}


def test_times_older_than_the_horizon_are_dropped(tmp_path: Path) -> None:
    wall = VirtualTime(5_000.0)
    log = SpendLog(tmp_path / "spent.json", horizon=61.0, wall_clock=wall)
    log.save({"update_call": [0.0, 30.0, 100.0]}, clock_now=100.0)
    wall.now += 40.0
    kept = log.load(clock_now=140.0)["update_call"]
    assert kept == pytest.approx([100.0])  # 0 and 30 ended 140 and 110 s ago


@pytest.mark.parametrize("content", [b"", b"not json", b'{"version": 1}', b"[1, 2]"])
def test_an_unreadable_log_is_ignored(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "spent.json"
    path.write_bytes(content)
    assert SpendLog(path, horizon=61.0).load(clock_now=0.0) == {}


def test_an_unwritable_log_does_not_raise(tmp_path: Path) -> None:
    log = SpendLog(tmp_path / "missing-folder" / "spent.json", horizon=61.0)
    log.save({"update_call": [1.0]}, clock_now=1.0)
    log.save({"update_call": [1.0]}, clock_now=1.0)


def test_the_default_file_name_never_holds_the_key() -> None:
    path = default_path("https://api.sonorancad.com", API_KEY)
    assert API_KEY not in str(path)
    assert path != default_path("https://api.sonorancad.com", API_KEY + "x")


def daemon_on(time: VirtualTime, cad: ClockedCad, state_file: str) -> Daemon:
    """A daemon with production settings on virtual time, its spend log on the same clock."""
    config = Config(
        cad=CadConfig(api_url="http://127.0.0.1:9", api_key=API_KEY),
        listen=ListenConfig(port=0, token=TOKEN),
        budget=BudgetConfig(state_file=state_file),
        tracking=TrackingConfig(min_move=1.0, close_check_seconds=0.0),  # updates only
    )
    daemon = build_daemon(config, cad=cad.client, clock=time, wait=time.wait)
    if daemon.spendlog is not None:
        daemon.spendlog.wall_clock = lambda: 1_700_000_000.0 + time.now
    return daemon


async def spend_a_burst(time: VirtualTime, cad: ClockedCad, state_file: str) -> int:
    """A daemon pushes 10 moving calls once each, then is killed; returns requests it made."""
    daemon = daemon_on(time, cad, state_file)
    for call_id in range(1, 11):
        daemon.tracker.track(1, call_id, f"p:{call_id}", time.now, meta=dict(KEYS_FOR_TESTS))
        daemon.tracker.observe(1, f"p:{call_id}", 100.0 * call_id, 0.0, 0.0, time.now)
    await daemon.start()
    # Killed once its tenth answer is in (looked at after every turn of the loop, so virtual
    # time has not gone on): every request it made reached the CAD.
    await until(lambda: daemon.pusher.requests >= 10 and daemon.pusher.in_flight is None, every=0)
    task = daemon._push_task
    assert task is not None
    task.cancel()  # killed: nothing runs after this, nothing is written
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await daemon.listener.stop()
    return daemon.pusher.requests


def stored_times(path: str) -> list[float]:
    return list(msgspec.json.decode(Path(path).read_bytes())["routes"]["update_call"])


@pytest.mark.parametrize("gap", [0.0, 0.47, 5.0, 30.0, 59.0])
async def test_a_restarted_daemon_draws_no_429_from_its_predecessors_burst(
    tmp_path: Path, gap: float
) -> None:
    time = VirtualTime()
    async with ClockedCad(time, calls=CALLS, latency=0.3) as cad:
        state = str(tmp_path / "spent.json")
        assert await spend_a_burst(time, cad, state) == 10
        assert len(stored_times(state)) == 10
        time.advance(gap)  # the successor starts, with every call far off its subject
        assert await spend_a_burst(time, cad, state) == 10
    assert [r.status for r in cad.patches()] == [200] * 20
    ours = [r.t for r in cad.patches()]
    assert all(b - a >= WINDOW for a, b in zip(ours, ours[10:], strict=False))


@pytest.mark.parametrize("gap", [0.0, 0.47, 5.0])
async def test_without_the_log_the_same_restart_draws_429s(tmp_path: Path, gap: float) -> None:
    """The case above can fail: with nothing kept, the successor collides."""
    time = VirtualTime()
    async with ClockedCad(time, calls=CALLS, latency=0.3) as cad:
        await spend_a_burst(time, cad, "")
        time.advance(gap)
        await spend_a_burst(time, cad, "")
    assert any(r.status == 429 for r in cad.patches())


def test_a_time_ahead_of_the_wall_clock_counts_as_ending_now(tmp_path: Path) -> None:
    wall = VirtualTime(10_000.0)
    log = SpendLog(tmp_path / "spent.json", horizon=61.0, wall_clock=wall)
    log.save({"update_call": [130.0]}, clock_now=100.0)  # in flight, ends by 130 at the latest
    wall.now -= 3_600.0  # the wall clock was set back an hour before the restart
    assert log.load(clock_now=5.0) == {"update_call": pytest.approx([5.0])}


def test_the_default_file_lives_in_the_users_state_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = default_path("https://api.sonorancad.com", API_KEY)
    assert path.parent == tmp_path / "sonoran-bridge"
    SpendLog(path, horizon=61.0).save({"update_call": [1.0]}, clock_now=1.0)
    assert path.exists() and oct(path.parent.stat().st_mode & 0o777) == "0o700"


async def test_a_request_in_flight_is_kept_before_it_ends(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    def configure(standin: CadStandIn) -> Config:
        standin.add_call(1, 1, dict(KEYS_FOR_TESTS))
        standin.inject(Fault("hang"), count=1, route="update_call")
        config = make_config(standin)
        config.budget.state_file = str(tmp_path / "spent.json")
        return config

    daemon = (await make_daemon(configure=configure)).bridge
    daemon.tracker.track(1, 1, "p:1", daemon.clock(), meta=dict(KEYS_FOR_TESTS))
    daemon.tracker.observe(1, "p:1", 100.0, 0.0, 0.0, daemon.clock())
    daemon.pusher.wake()
    await until(lambda: daemon.pusher.in_flight is not None, within=5)
    stored = msgspec.json.decode((tmp_path / "spent.json").read_bytes())
    assert len(stored["routes"]["update_call"]) == 1  # written as the request began


# -- Windows, by simulation ----------------------------------------------------------------


def test_a_log_held_open_elsewhere_is_written_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows refuses os.replace over a file another process has open (a virus scanner)."""
    path = tmp_path / "spent.json"
    log = SpendLog(path, horizon=61.0, wall_clock=VirtualTime(1_000.0))
    log.save({"update_call": [1.0]}, clock_now=1.0)

    def refused(src: object, dst: object) -> None:
        raise PermissionError(13, "The process cannot access the file", str(dst))

    monkeypatch.setattr("bridge.spendlog.os.replace", refused)
    log.save({"update_call": [1.0, 2.0]}, clock_now=2.0)
    assert log.load(clock_now=2.0) == {"update_call": pytest.approx([1.0, 2.0])}
    assert [p.name for p in tmp_path.iterdir()] == ["spent.json"]  # no temporary file left


def test_the_state_folder_on_windows_is_under_localappdata() -> None:
    local = {"LOCALAPPDATA": str(Path("C:/Users/op/AppData/Local"))}
    assert state_folder(local, windows=True) == Path(local["LOCALAPPDATA"]) / "sonoran-bridge"
    assert state_folder({}, windows=True) == Path.home() / "AppData/Local/sonoran-bridge"
    assert state_folder({"XDG_STATE_HOME": "/s"}, windows=False) == Path("/s/sonoran-bridge")
    assert state_folder({}, windows=False) == Path.home() / ".local/state/sonoran-bridge"
