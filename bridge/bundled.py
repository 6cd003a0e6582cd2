"""The files the wheel carries besides the code: the FiveM resource and the example config.

A wheel holds them under `bridge/_data/` (see `force-include` in pyproject.toml); a source
checkout, editable installs included, has them at the repository's root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import msgspec

from bridge import __version__

RESOURCE_FOLDER = "lua_resource"
EXAMPLE_CONFIG = "config.example.toml"
RESOURCE_NAME = "sonoran_bridge"
"""The folder name FiveM must see: other resources call `exports.sonoran_bridge`."""


class BundleMissing(RuntimeError):
    """This installation carries neither the resource nor the example config."""


def data_root() -> Traversable:
    """Where the bundled files are: the wheel's `bridge/_data`, else the checkout's root."""
    packaged = resources.files("bridge") / "_data"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / RESOURCE_FOLDER / "fxmanifest.lua").is_file():
        return checkout
    raise BundleMissing(
        "this installation has no bundled resource: reinstall from the repository "
        "(pip install 'git+https://...') or from a wheel built with `pip wheel .`"
    )


def example_config() -> str:
    """The text of the bundled `config.example.toml`."""
    return (data_root() / EXAMPLE_CONFIG).read_text(encoding="utf-8")


def resource_files() -> list[tuple[str, bytes]]:
    """Every file of the bundled resource as (relative POSIX path, content), sorted."""
    found: list[tuple[str, bytes]] = []

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                if entry.name != "__pycache__":
                    walk(entry, name + "/")
            else:
                found.append((name, entry.read_bytes()))

    walk(data_root() / RESOURCE_FOLDER, "")
    return sorted(found)


def resource_target(folder: str | os.PathLike[str]) -> Path:
    """The resource's own folder for `install-resource FOLDER`.

    FOLDER may be the resource folder itself (`.../sonoran_bridge`) or the folder meant to hold
    it (`resources/[sonoran]`); the resource must be named `sonoran_bridge` either way.
    """
    path = Path(folder)
    return path if path.name == RESOURCE_NAME else path / RESOURCE_NAME


INSTALL_RECORD = ".install-record.json"
"""Written beside the resource's files: the version and each file's SHA-256 as installed, so an
upgrade can tell an owner's edit from the file it wrote."""


class _Record(msgspec.Struct):
    version: str
    files: dict[str, str]


@dataclass(frozen=True)
class Installed:
    """What `install_resource` did: where, what it kept, and what looks wrong."""

    target: Path
    """The resource's folder, absolute."""
    backup: Path | None = None
    """Where the files it replaced were copied first, when any of them was not as installed."""
    backed_up: tuple[str, ...] = ()
    unrecorded: bool = False
    """No install record: an edit and an older version cannot be told apart."""
    warnings: tuple[str, ...] = field(default_factory=tuple)


def install_resource(
    folder: str | os.PathLike[str], *, replace: bool = False, stamp: str = ""
) -> Installed:
    """Write the bundled resource into its folder; returns what was done.

    An existing folder with files in it is left alone unless `replace` (an upgrade): then each
    bundled file replaces its copy, and a copy that is not as the last install wrote it (an
    owner's edit, or any difference when there is no record) is first saved under
    `backup-STAMP/` in the resource. Files the bundle does not have are kept.
    """
    target = resource_target(folder).absolute()
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not replace:
        raise FileExistsError(
            f"{target} is not empty: pass --upgrade to replace the resource's files in it "
            "(edited ones are saved first)"
        )
    warnings = tuple(placement_warnings(target))
    record = _read_record(target)
    files = resource_files()
    changed: list[str] = []
    for name, content in files:
        path = target.joinpath(*name.split("/"))
        if not path.is_file():
            continue
        old = path.read_bytes()
        if old == content:
            continue
        if record is None or record.files.get(name) != _digest(old):
            changed.append(name)
    backup = None
    if changed:
        backup = target / f"backup-{stamp or time.strftime('%Y%m%d-%H%M%S')}"
        for name in changed:
            saved = backup.joinpath(*name.split("/"))
            saved.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target.joinpath(*name.split("/")), saved)
    for name, content in files:
        path = target.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    written = _Record(__version__, {name: _digest(content) for name, content in files})
    (target / INSTALL_RECORD).write_bytes(msgspec.json.format(msgspec.json.encode(written)))
    return Installed(
        target=target,
        backup=backup,
        backed_up=tuple(changed),
        unrecorded=record is None and bool(changed),
        warnings=warnings,
    )


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _read_record(target: Path) -> _Record | None:
    try:
        return msgspec.json.decode((target / INSTALL_RECORD).read_bytes(), type=_Record)
    except (OSError, msgspec.DecodeError):
        return None


def _is_category(name: str) -> bool:
    return name.startswith("[") and name.endswith("]")


def placement_warnings(target: Path) -> list[str]:
    """What suggests FXServer will not load the resource from `target`, or will load two.

    FXServer loads resources from its data folder's `resources/` (beside `server.cfg`),
    directly or inside `[category]` folders; two folders of one name there make it pick one.
    Called before anything is written, so a `resources/` this install would create does not
    count.
    """
    found: list[str] = []
    root = target.parent
    while _is_category(root.name):
        root = root.parent
    existing = _resource_folders(root) if root.is_dir() else []
    looks_like_fxserver = root.name == "resources" and (
        bool(existing) or any(root.parent.glob("*.cfg"))
    )
    if not looks_like_fxserver:
        found.append(
            f"{target.parent} does not look like FXServer's resources folder (nor a [category] "
            "folder in it: no server.cfg beside it, no resource in it): the game server will "
            "not see the resource there. Run this from the FXServer "
            "data folder (the one holding server.cfg and resources/), or give the full path, "
            "e.g. .../server-data/resources/[sonoran]/sonoran_bridge"
        )
        return found
    others = sorted(
        str(other.parent) for other in existing if other.name == RESOURCE_NAME and other != target
    )
    for other in others:
        found.append(
            f"another {RESOURCE_NAME} is in {other}: FXServer loads only one of the two; "
            "delete the one you do not mean"
        )
    return found


def _resource_folders(root: Path) -> list[Path]:
    """Each folder FXServer would take as a resource under `root` (descending into categories)."""
    folders: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return folders
    for entry in entries:
        if not entry.is_dir():
            continue
        if _is_category(entry.name):
            folders.extend(_resource_folders(entry))
        elif (entry / "fxmanifest.lua").is_file():
            folders.append(entry)
    return folders
