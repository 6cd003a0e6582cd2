"""The one test kit of the tests and the benchmarks (not shipped: it lives outside `bridge/`).

- `clock`: `VirtualTime`, the one virtual clock; `until`, the one wait on a real condition.
- `planner`: `make_planner`, a planner on the production budgets.
- `cad`: `CadScript`, the one fake CAD, at the HTTP transport under the real client.
- `rig`: `build_daemon` (the one place a daemon is built), `Rigs`, `Running`, `Game`.
- `net`: `free_port`, `RawServer`, `gzip_bomb`.
"""

from bench.kit.cad import (
    API_KEY,
    LIMIT,
    WINDOW,
    CadScript,
    ClockedCad,
    Reply,
    Step,
    cad_client,
    echo_patch,
)
from bench.kit.clock import VirtualTime, until
from bench.kit.net import RawServer, free_port, gzip_bomb
from bench.kit.planner import make_planner
from bench.kit.rig import (
    SHORT_WINDOW,
    TOKEN,
    Game,
    Rigs,
    Running,
    build_daemon,
    make_config,
)

__all__ = [
    "API_KEY",
    "LIMIT",
    "SHORT_WINDOW",
    "TOKEN",
    "WINDOW",
    "CadScript",
    "ClockedCad",
    "Game",
    "RawServer",
    "Reply",
    "Rigs",
    "Running",
    "Step",
    "VirtualTime",
    "build_daemon",
    "cad_client",
    "echo_patch",
    "free_port",
    "gzip_bomb",
    "make_config",
    "make_planner",
    "until",
]
