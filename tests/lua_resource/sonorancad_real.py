"""The official `sonorancad` resource, unmodified, in its own Lua state beside ours.

Its files are read at run time from `SONORANCAD_DIR` or `../shared/third_party/` (its licence,
PolyForm Noncommercial, forbids copying it into this repository): nothing of it is stored
here. What is emulated around its server-side Lua:

- the Lua scripts of its fxmanifest `server_scripts`, in order, globs expanded; of its
  submodules only those asked for (dispatchnotify by default, with its `.dist` config served
  as `configuration/dispatchnotify_config.lua`);
- its JS files are not run. What its Lua needs from them: `core/http.js` exports
  `HandleHttpRequest`, which its Lua does not call for the v2 API (the v2 client goes through
  `PerformHttpRequest`, answered by the world); `core/apiws.js` receives the CAD's push events
  over a websocket and fires `SonoranCAD::pushevents:shim` with the raw JSON body, which
  `push` does; the unzip, image and PDF helpers are not used by what is tested;
- its API base URL, `ApiUrls[Config.mode]`, is pointed at the stand-in (as a DNS override
  would point api.sonorancad.com);
- `configuration/config.json` is written from `config` (the CAD stand-in's URL as `apiUrl`,
  its key, server id 1, auto-update off); `LoadResourceFile` serves every other file from the
  resource's folder;
- natives it calls at start that have no effect on the caches (console, ACE, net events to
  clients, convars it sets) are no-ops listed in `NO_OPS`; a native it calls that is neither
  emulated nor listed raises "attempt to call a nil value", so a new dependency is noticed.
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Any

from .fivem import NATIVES, decoder, encode_like_fivem, new_environment

HERE = Path(__file__).resolve()
CANDIDATES = [
    Path(os.environ["SONORANCAD_DIR"]) if os.environ.get("SONORANCAD_DIR") else None,
    HERE.parents[3] / "shared" / "third_party" / "sonorancad-v4.0.104" / "sonorancad",
    HERE.parents[4] / "shared" / "third_party" / "sonorancad-v4.0.104" / "sonorancad",
]


def find_sonorancad() -> Path | None:
    """The folder of the official resource (the one holding its fxmanifest.lua), if present."""
    for candidate in CANDIDATES:
        if candidate is None:
            continue
        for folder in (candidate, candidate / "sonorancad"):
            if (folder / "fxmanifest.lua").is_file() and (folder / "core" / "httpd.lua").is_file():
                return folder
    return None


SONORANCAD = find_sonorancad()
SKIP_REASON = (
    "the official sonorancad resource is not on this machine: set SONORANCAD_DIR to its folder "
    "or put it in ../shared/third_party/sonorancad-v4.0.104/ (it cannot be stored in this "
    "repository: PolyForm Noncommercial licence)"
)

NO_OPS = (
    "RegisterNetEvent",
    "RegisterServerEvent",
    "TriggerClientEvent",
    "TriggerLatentClientEvent",
    "ExecuteCommand",
    "SetConvar",
    "SetConvarReplicated",
    "SetConvarServerInfo",
    "StopResource",
    "StartResource",
    "SaveResourceFile",
    "IsPrincipalAceAllowed",
    "IsPlayerAceAllowed",
    "CancelEvent",
    "GetConsoleBuffer",
    "SetHttpHandler",
    "SetGameType",
    "SetMapName",
    "DropPlayer",
    "RegisterNUICallback",
    "PrintStructuredTrace",
)

API_KEY = "standin-key"
COMMUNITY = "community-1"


class RealSonoranCad:
    """The official sonorancad's server-side Lua in a Lua state of its own."""

    def __init__(
        self,
        runtime: Any,
        api_url: str,
        *,
        api_key: str = API_KEY,
        submodules: tuple[str, ...] = ("dispatchnotify", "locations", "callcommands", "postals"),
        config: dict[str, Any] | None = None,
        folder: Path | None = None,
    ) -> None:
        folder = folder or SONORANCAD
        assert folder is not None, SKIP_REASON
        self.folder = folder
        self.resource = "sonorancad"
        self.submodules = submodules
        self.config = {
            **json.loads((folder / "configuration" / "config.CHANGEME.json").read_text()),
            "communityID": COMMUNITY,
            "apiKey": api_key,
            "apiUrl": api_url,
            "serverId": 1,
            "allowAutoUpdate": False,
            "debugMode": False,
            **(config or {}),
        }
        self.files = {"configuration/config.json": json.dumps(self.config)}
        for name in submodules:
            dist = folder / "configuration" / f"{name}_config.dist.lua"
            if dist.is_file():
                self.files[f"configuration/{name}_config.lua"] = dist.read_text()
        self.lua = runtime
        self.g = g = new_environment(runtime)
        g.json = self.lua.table_from({"encode": encode_like_fivem, "decode": decoder(self.lua)})
        g.load(NATIVES.read_text(), "@" + str(NATIVES), "t", g)()
        self.fake = g.FAKE
        self.fake.resource = self.resource
        self.fake.traceback = True
        self.fake.exports.sonorancad = None  # the fake of natives.lua: this is the real one
        self.fake.metadata.sonorancad = self.lua.table_from({"version": self._version()})
        self.fake.paths.sonorancad = str(folder)
        self.fake.convars.version = "FXServer-master SERVER v1.0.0.12913 linux"
        self.api_url = api_url
        g.LoadResourceFile = self._load_resource_file
        for name in NO_OPS:
            g[name] = self.lua.eval("function() return nil end")
        self.execute(
            """
            function GetNumPlayerIndices()
                return #GetPlayers()
            end
            function GetPlayerFromIndex(i)
                return GetPlayers()[i + 1]
            end
            function GetPlayerName(id) return "player " .. tostring(id) end
            function GetPlayerEndpoint(id) return "127.0.0.1" end
            function GetPlayerPing(id) return 0 end
            function GetHostId() return nil end
            function GetInvokingResource() return nil end
            function IsDuplicityVersion() return true end
            function GetNumResources() return 0 end
            function GetResourceByFindIndex() return nil end
            os.exit = function() error("os.exit called") end
            Citizen.InvokeNative = function() return nil end
            Citizen.ResultAsString = function() return nil end
            """
        )

    def execute(self, code: str) -> Any:
        """Run Lua statements in its globals."""
        return self.g.load(code, "=execute", "t", self.g)()

    def _version(self) -> str:
        version = json.loads((self.folder / "version.json").read_text())
        return str(version.get("resource", "4.0.104"))

    def _load_resource_file(self, resource: Any, path: Any, *_: Any) -> str | None:
        path = str(path)
        if path in self.files:
            return self.files[path]
        if str(resource) != self.resource:
            return None
        file = self.folder / path
        return file.read_text() if file.is_file() else None

    # -- start -----------------------------------------------------------------------------

    def server_scripts(self) -> list[str]:
        """Its fxmanifest's server_scripts, globs expanded, JS left out, submodules as chosen."""
        reader = self.lua.eval(
            """function(src)
                local fields = {}
                local env = setmetatable({}, { __index = function(_, key)
                    return function(value)
                        fields[#fields + 1] = { key, value }
                        return function() end
                    end
                end })
                assert(load(src, '@fxmanifest.lua', 't', env))()
                return fields
            end"""
        )
        fields = reader((self.folder / "fxmanifest.lua").read_text())
        patterns: list[str] = []
        for i in range(1, len(fields) + 1):
            if fields[i][1] == "server_scripts":
                value = fields[i][2]
                patterns = [str(value[j]) for j in range(1, len(value) + 1)]
        scripts: list[str] = []
        all_files = sorted(
            str(p.relative_to(self.folder)).replace(os.sep, "/")
            for p in self.folder.rglob("*")
            if p.is_file()
        ) + sorted(k for k in self.files if k.endswith(".lua"))
        for pattern in patterns:
            if pattern.endswith(".js"):
                continue
            if "*" not in pattern:
                scripts.append(pattern)
                continue
            regex = pattern.replace("**/", "*")
            for name in all_files:
                if fnmatch.fnmatch(name, regex) and name not in scripts:
                    if name.startswith("submodules/") and name.split("/")[1] not in self.submodules:
                        continue
                    scripts.append(name)
        return scripts

    def start(self) -> RealSonoranCad:
        """Run its server scripts in order (in the world: join it first)."""
        for script in self.server_scripts():
            text = self._load_resource_file(self.resource, script)
            assert text is not None, script
            chunk = self.g.load(text, f"@@sonorancad/{script}", "t", self.g)
            if isinstance(chunk, tuple):
                raise SyntaxError(chunk[1])
            try:
                chunk()
            except Exception as exc:
                raise RuntimeError(f"sonorancad/{script}: {exc}") from exc
        # Its API base URL comes from `ApiUrls[Config.mode]` (api.sonorancad.com in
        # production): pointed at the stand-in, as a DNS override would.
        self.g.ApiUrls[self.config["mode"]] = self.api_url
        return self

    # -- the CAD talks to it -----------------------------------------------------------------

    def push(self, event_type: str, data: Any, key: str | None = None) -> None:
        """A push event as the CAD sends it, `{key, type, data}`, arriving on its websocket."""
        body = {"key": key or self.config["apiKey"], "type": event_type, "data": data}
        self.g.TriggerEvent("SonoranCAD::pushevents:shim", json.dumps(body))

    @property
    def errors(self) -> list[str]:
        return [str(self.fake.errors[i]) for i in range(1, len(self.fake.errors) + 1)]

    @property
    def prints(self) -> list[str]:
        return [str(self.fake.prints[i]) for i in range(1, len(self.fake.prints) + 1)]

    def call_cache(self) -> dict[Any, Any]:
        from .world import plain

        return dict(plain(self.g.GetCallCache()))

    def unit_cache(self) -> list[Any]:
        from .world import plain

        units = plain(self.g.GetUnitCache())
        return [units[k] for k in sorted(units)]
