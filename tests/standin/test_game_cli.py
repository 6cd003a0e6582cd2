"""`python -m bridge.standin.game`: the README's simulated game server moves calls through a
running daemon into the CAD stand-in, reading the token and port from the daemon's config."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from conftest import TOKEN, Running


async def test_the_simulated_game_moves_the_calls_of_the_readme_recipe(
    daemon: Running, tmp_path: Path
) -> None:
    for call_id in (501, 502):
        daemon.standin.add_call(1, call_id, {"source": "standin"})
    config = tmp_path / "config.toml"
    config.write_text(f'[listen]\nport = {daemon.bridge.port}\ntoken = "{TOKEN}"\n')
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.standin.game",
        "--config",
        str(config),
        "--calls",
        "501,502",
        "--seconds",
        "4",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    text = out.decode()
    assert process.returncode == 0, text
    assert "call 501: pushed" in text and "call 502: pushed" in text
    for call_id in (501, 502):
        meta = daemon.standin.call(1, call_id)["metaData"]
        assert meta["source"] == "standin" and "x" in meta and "y" in meta
