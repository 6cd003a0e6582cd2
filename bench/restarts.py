"""The daemon as the operator runs it (`python -m bridge run`), killed and stopped under load.

`DaemonProcess` runs the daemon in a child process with a config pointing at a CAD stand-in in
this process, its JSON log lines in a file. `kill_and_restart` kills it with SIGKILL mid-run
and starts another while the `Feeder` reconnects and syncs; `terminate_in_flight` sends SIGTERM
while a request hangs in the CAD and times the exit.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from bench.kit import free_port, until
from bench.rig import API_KEY, SERVER_ID, TOKEN, Feeder, Pace, Rig
from bridge.config import Config
from bridge.outcomes import Meta
from bridge.standin.cad import Fault

ROOT = Path(__file__).resolve().parent.parent




def config_toml(config: Config) -> str:
    """The TOML file an operator would write for `config` (secrets included, as in theirs)."""
    cad, listen, budget, tracking = config.cad, config.listen, config.budget, config.tracking
    origins = ", ".join(f'"{o}"' for o in listen.allowed_origins)
    return (
        f'[cad]\napi_url = "{cad.api_url}"\napi_key = "{cad.api_key}"\n'
        f"server_id = {cad.server_id}\ntimeout_seconds = {cad.timeout_seconds}\n"
        f'[listen]\nhost = "{listen.host}"\nport = {listen.port}\ntoken = "{listen.token}"\n'
        f"allow_remote = {str(listen.allow_remote).lower()}\nallowed_origins = [{origins}]\n"
        f"hello_timeout_seconds = {listen.hello_timeout_seconds}\n"
        f"idle_timeout_seconds = {listen.idle_timeout_seconds}\n"
        f"[budget]\nwindow_seconds = {budget.window_seconds}\n"
        f"update_call = {budget.update_call}\nget_calls = {budget.get_calls}\n"
        f"margin_seconds = {budget.margin_seconds}\n"
        f'state_file = "{budget.state_file}"\n'
        f"[tracking]\nmin_move = {tracking.min_move}\n"
        f"max_stale_seconds = {tracking.max_stale_seconds}\n"
        f'[log]\nlevel = "{config.log.level}"\nformat = "json"\n'
    )


class DaemonProcess:
    """`python -m bridge run --config ...` in a child process; its output goes to `log_path`."""

    def __init__(self, config: Config, workdir: Path) -> None:
        # Successive daemons share one spend log, as they do on an operator's machine.
        budget = msgspec.structs.replace(config.budget, state_file=str(workdir / "spent.json"))
        config = msgspec.structs.replace(config, budget=budget)
        self.config_path = workdir / "config.toml"
        self.config_path.write_text(config_toml(config))
        self.log_path = workdir / "daemon.log"
        self.port = config.listen.port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start a daemon (after a kill, the next one appends to the same log)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "run", "--config", str(self.config_path)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    async def listening(self, within: float = 20.0) -> None:
        """Wait until the daemon accepts connections."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if loop.time() > deadline or (self.process and self.process.poll() is not None):
                    raise RuntimeError("the daemon did not start:\n" + self.output()) from None
                await asyncio.sleep(0.05)
            else:
                writer.close()
                return

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal to the running daemon."""
        assert self.process is not None
        self.process.send_signal(sig)

    async def exited(self, within: float = 20.0) -> int:
        """Wait for the daemon to exit; its exit code."""
        assert self.process is not None
        process = self.process
        code = await asyncio.wait_for(asyncio.to_thread(process.wait), within)
        return int(code)

    def output(self) -> str:
        """Everything the daemons wrote."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, if still running (cleanup)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Restart:
    """What a kill -9 and a fresh start came to."""

    reconnect: float | None = None
    """Seconds from the kill until the resource was connected to the new daemon and synced."""
    blind_writes: int = 0
    """PATCHes by the new daemon of calls it had no metaData for, before it read the calls."""
    keys_lost: int = 0
    own_429s: int = 0
    settle: float | None = None
    exit_code: int | None = None
    notes: list[str] = field(default_factory=list)


async def kill_and_restart(pace: Pace, seed: int = 11) -> Restart:
    """Run under load, SIGKILL the daemon, start another; check it reads before it writes."""
    result = Restart()
    with tempfile.TemporaryDirectory() as scratch:
        rig = Rig(pace, seed=seed)
        await rig.standin.start()
        for call_id, meta in rig.meta.items():
            rig.standin.add_call(SERVER_ID, call_id, dict(meta))
        config = pace.config(rig.standin.url, port=free_port())
        daemon = DaemonProcess(config, Path(scratch))
        tracks = {c: (rig.calls[c], rig.meta[c] if c in rig.known else None)
                  for c in rig.known + rig.unknown + rig.late}
        rig.feeder = Feeder(f"ws://127.0.0.1:{daemon.port}", tracks, rig.fleet)
        loop = asyncio.get_running_loop()
        try:
            daemon.start()
            await daemon.listening()
            rig.feeder.start()
            await rig.windows(1.5)
            connects = rig.feeder.connects
            daemon.signal(signal.SIGKILL)
            killed = loop.time()
            result.exit_code = await daemon.exited()
            restarted_at = rig.standin._clock()
            daemon.start()
            await daemon.listening()
            await until(lambda: rig.feeder.connects > connects)
            result.reconnect = loop.time() - killed
            await rig.windows(1.0)
            result.settle = await rig.settle()
            result.blind_writes = _blind_writes(rig, restarted_at)
            result.keys_lost = rig.keys_lost()
            result.own_429s = len(rig.standin.own_overruns())
        finally:
            await rig.feeder.stop()
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.signal(signal.SIGTERM)
                try:
                    await daemon.exited(10)
                except TimeoutError:
                    result.notes.append("the restarted daemon did not exit on SIGTERM")
            daemon.kill()
            await rig.standin.stop()
    return result


def _blind_writes(rig: Rig, since: float) -> int:
    """PATCHes after `since` of calls the resource gave no metaData for, before a GET answered."""
    read = False
    blind = 0
    for record in rig.standin.requests:
        if record.t < since:
            continue
        if record.route == "get_calls" and record.status == 200:
            read = True
        elif record.route == "update_call" and not read:
            call_id = int(record.path.rsplit("/", 1)[1])
            blind += call_id not in rig.known
    return blind


@dataclass
class Stop:
    """How a SIGTERM went."""

    exit_code: int | None
    seconds: float
    abandoned: bool
    """The log says the request in flight was abandoned (it hung past the grace)."""
    stopped_cleanly: bool
    """The log's last word is `stopped`."""


async def terminate_in_flight(
    pace: Pace, *, hang: bool = True, client_timeout: float | None = None
) -> Stop:
    """SIGTERM while a request hangs in the CAD (or none is in flight); time the exit.

    `client_timeout` overrides cad.timeout_seconds (the grace is the lesser of it and 5 s).
    """
    with tempfile.TemporaryDirectory() as scratch:
        rig = Rig(pace)
        await rig.standin.start()
        for call_id, meta in rig.meta.items():
            rig.standin.add_call(SERVER_ID, call_id, dict(meta))
        config = pace.config(rig.standin.url, port=free_port())
        if client_timeout is not None:
            config.cad.timeout_seconds = client_timeout
        daemon = DaemonProcess(config, Path(scratch))
        tracks: dict[int, tuple[str, Meta | None]] = {
            c: (rig.calls[c], rig.meta[c]) for c in rig.known
        }
        rig.feeder = Feeder(f"ws://127.0.0.1:{daemon.port}", tracks, rig.fleet)
        loop = asyncio.get_running_loop()
        try:
            daemon.start()
            await daemon.listening()
            rig.feeder.start()
            if hang:
                rig.standin.inject(Fault("hang"), 1_000_000)
                await until(lambda: any(r.status is None for r in rig.standin.requests))
            else:
                await rig.windows(1.0)
            started = loop.time()
            daemon.signal(signal.SIGTERM)
            code = await daemon.exited()
            seconds = loop.time() - started
            output = daemon.output()
        finally:
            await rig.feeder.stop()
            daemon.kill()
            await rig.standin.stop()
    lines = [line for line in output.splitlines() if line.startswith("{")]
    return Stop(
        exit_code=code,
        seconds=seconds,
        abandoned="abandoning the request in flight" in output,
        stopped_cleanly=bool(lines) and '"event": "stopped"' in lines[-1],
    )


@dataclass
class Exposure:
    """Everything an operator or a client could read while every error path ran."""

    paths: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def saw(self, path: str, *texts: str) -> None:
        """Record what one error path produced."""
        self.paths.append(path)
        self.text.extend(texts)

    def leaks(self, *secrets: str) -> list[str]:
        """The secrets found anywhere in what was produced."""
        everything = "\n".join(self.text)
        return [secret for secret in secrets if secret in everything]


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )
    return done.stdout + done.stderr


async def _client_errors(url: str, frames: list[str], origin: str | None = None) -> str:
    """Open a connection, send frames, and return every text the daemon sent back."""
    seen: list[str] = []
    try:
        async with connect(url, origin=origin, proxy=None) as ws:  # type: ignore[arg-type]
            for frame in frames:
                await ws.send(frame)
            async with asyncio.timeout(1):
                async for message in ws:
                    seen.append(str(message))
    except InvalidStatus as exc:
        seen.append(exc.response.body.decode(errors="replace") if exc.response.body else "")
    except (WebSocketException, OSError, TimeoutError):
        pass
    return "\n".join(seen)


async def expose_secrets(pace: Pace) -> Exposure:
    """Drive every error path of a real daemon process and of the command line; collect what
    they print, log and send back, for a search for the API key and the token."""


    exposure = Exposure()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        rig = Rig(pace)
        await rig.standin.start()
        for call_id, meta in rig.meta.items():
            rig.standin.add_call(SERVER_ID, call_id, dict(meta))
        config = pace.config(rig.standin.url, port=free_port())
        config.listen.host, config.listen.allow_remote = "0.0.0.0", True
        config.log.level = "debug"
        daemon = DaemonProcess(config, workdir)
        url = f"ws://127.0.0.1:{daemon.port}"
        tracks = {c: (rig.calls[c], rig.meta[c] if c in rig.known else None)
                  for c in rig.known + rig.unknown}
        rig.feeder = Feeder(url, tracks, rig.fleet)
        try:
            daemon.start()
            await daemon.listening()
            rig.feeder.start()
            await rig.windows(1.0)
            hello = {"type": "hello", "protocol": 1, "server_id": 9, "token": TOKEN}
            abuse = {
                "wrong token (the real one plus a letter)": [json.dumps({**hello,
                                                                         "token": TOKEN + "x"})],
                "wrong token (a prefix of the real one)": [json.dumps({**hello,
                                                                       "token": TOKEN[:-2]})],
                "no token": [json.dumps({k: v for k, v in hello.items() if k != "token"})],
                "unsupported protocol, right token": [json.dumps({**hello, "protocol": 2})],
                "secrets pasted into bad frames": [
                    json.dumps(hello), json.dumps({"type": TOKEN}), json.dumps({"type": API_KEY}),
                    json.dumps({"type": "track", "call_id": 1, "subject": TOKEN * 4}),
                    json.dumps(hello),
                ],
            }
            for path, frames in abuse.items():
                exposure.saw(f"client: {path}", await _client_errors(url, frames))
            exposure.saw("client: browser Origin",
                         await _client_errors(url, [json.dumps(hello)], "http://evil.example"))
            # One request each, in an order that keeps the daemon's back-offs (not scaled in a
            # child process) short: the auth pause after a 401 comes last.
            cad_faults = {
                "CAD hangs past the timeout": Fault("hang"),
                "CAD resets the connection": Fault("reset"),
                "CAD answers 200 with garbage": Fault("bad_json"),
                "CAD 500 echoing the key": Fault(500, detail=f"upstream saw Bearer {API_KEY}"),
                "CAD 400 echoing the key": Fault(400, detail=f"bad request from {API_KEY}"),
                "CAD 429": Fault(429, retry_after=1),
                "CAD 401 echoing the key": Fault(401, detail=f"key {API_KEY} was revoked"),
            }
            for path, fault in cad_faults.items():
                if path.startswith("CAD 401"):
                    rig.close_in_cad(rig.known[0])
                    await until(lambda: any(r.status == 404 for r in rig.standin.requests))
                    exposure.saw("CAD 404: a call closed")
                rig.standin.inject(fault, 1)
                if path.startswith("CAD 401"):
                    await until(functools.partial(_has_recovered, rig, fault))
                    await asyncio.sleep(0.5)  # logged; the auth pause is not scaled here
                else:  # a success after it resets the back-off before the next fault
                    await until(functools.partial(_succeeded_after, rig, fault))
                exposure.saw(path)
            await rig.feeder.stop()
            exposure.text.extend(rig.feeder.errors)
            daemon.signal(signal.SIGTERM)
            await daemon.exited()
            exposure.saw("SIGTERM", daemon.output())
        finally:
            await rig.feeder.stop()
            daemon.kill()
            await rig.standin.stop()
        env = {"SONORAN_API_KEY": API_KEY, "SONORAN_BRIDGE_TOKEN": TOKEN}
        exposure.saw("check-config (secrets in the file)", _cli("check-config", "--config",
                                                                  str(daemon.config_path)))
        exposure.saw("check-config (secrets from the environment)",
                     _cli("check-config", "--config", str(_write(workdir, "env.toml", "")),
                          env=env))
        bad = f'[cad]\napi_key = "{API_KEY}"\n[listen]\ntoken = "{TOKEN}"\nport = "high"\n'
        exposure.saw("config error beside both secrets",
                     _cli("run", "--config", str(_write(workdir, "bad.toml", bad))))
        tokenless = f'[cad]\napi_key = "{API_KEY}"\n'
        exposure.saw("run refused: no token",
                     _cli("run", "--config", str(_write(workdir, "tokenless.toml", tokenless))))
    return exposure


def _recovered(rig: Rig, fault: Fault) -> bool | None:
    """None before `fault` fired; then whether a request succeeded after it."""
    requests = rig.standin.requests
    fired = next((i for i, r in enumerate(requests) if r.fault is fault), None)
    if fired is None:
        return None
    return any(r.status == 200 for r in requests[fired + 1 :])


def _has_recovered(rig: Rig, fault: Fault) -> bool:
    """Whether `fault` fired and the outcome after it is known."""
    return _recovered(rig, fault) is not None


def _succeeded_after(rig: Rig, fault: Fault) -> bool:
    """Whether a request succeeded after `fault` fired."""
    return bool(_recovered(rig, fault))


def _write(workdir: Path, name: str, text: str) -> Path:
    path = workdir / name
    path.write_text(text)
    return path
