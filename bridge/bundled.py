"""The files the wheel carries besides the code: the FiveM resource and the example config.

A wheel holds them under `bridge/_data/` (see `force-include` in pyproject.toml); a source
checkout, editable installs included, has them at the repository's root.
"""

from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

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


def install_resource(folder: str | os.PathLike[str], *, replace: bool = False) -> Path:
    """Write the bundled resource into its folder; returns that folder.

    An existing folder with files in it is left alone unless `replace` (an upgrade): then the
    bundled files overwrite theirs, and files the bundle does not have are kept.
    """
    target = resource_target(folder)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not replace:
        raise FileExistsError(
            f"{target} is not empty: pass --upgrade to overwrite the resource's files in it"
        )
    files = resource_files()
    for name, content in files:
        path = target.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return target
