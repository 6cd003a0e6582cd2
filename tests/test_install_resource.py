"""`install-resource` says where it wrote, warns where FXServer will not see the resource or
will see two, and an upgrade keeps the owner's edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import bundled
from bridge.cli import RESOURCE_TARGET, main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def server_data(tmp_path: Path) -> Path:
    data = tmp_path / "server-data"
    (data / "resources" / "[system]").mkdir(parents=True)
    (data / "server.cfg").write_text("ensure sonorancad\n")
    return data


def test_it_prints_the_absolute_path_it_wrote_from_wherever_the_shell_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = server_data(tmp_path)
    monkeypatch.chdir(data)
    assert main(["install-resource", RESOURCE_TARGET]) == 0
    captured = capsys.readouterr()
    target = data / "resources" / "[sonoran]" / "sonoran_bridge"
    assert f"to {target}\n" in captured.out
    assert (target / "fxmanifest.lua").is_file()
    assert "WARNING" not in captured.err


def test_outside_a_resources_folder_it_warns_that_fxserver_will_not_see_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run from the config's folder, the relative form lands beside the config."""
    config_folder = tmp_path / "sonoran-bridge"
    config_folder.mkdir()
    monkeypatch.chdir(config_folder)
    assert main(["install-resource", RESOURCE_TARGET]) == 0
    captured = capsys.readouterr()
    written = config_folder / "resources" / "[sonoran]" / "sonoran_bridge"
    assert f"to {written}" in captured.out
    assert "WARNING: " in captured.err
    assert "does not look like FXServer's resources folder" in captured.err
    assert "Run this from the FXServer data folder" in captured.err


def test_a_second_copy_beside_it_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The two forms the docs used to give, together, left two copies."""
    data = server_data(tmp_path)
    assert main(["install-resource", str(data / "resources")]) == 0
    capsys.readouterr()
    assert main(["install-resource", str(data / "resources" / "[sonoran]" / "sonoran_bridge")]) == 0
    err = capsys.readouterr().err
    assert f"another sonoran_bridge is in {data / 'resources'}:" in err
    assert "loads only one" in err


def test_an_upgrade_saves_an_edited_file_before_replacing_it_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = server_data(tmp_path)
    target = data / "resources" / "[sonoran]" / "sonoran_bridge"
    assert main(["install-resource", str(target)]) == 0
    edited = target / "shared" / "settings.lua"
    edited.write_text(edited.read_text() + "-- the owner's change\n")
    # The bundle moved on since: an unedited file that differs is simply replaced.
    untouched = target / "shared" / "units.lua"
    untouched_record = untouched.read_bytes()
    capsys.readouterr()

    done = bundled.install_resource(target, replace=True, stamp="20260101-000000")
    backup = target / "backup-20260101-000000"
    assert done.backup == backup and done.backed_up == ("shared/settings.lua",)
    assert (backup / "shared" / "settings.lua").read_text().endswith("-- the owner's change\n")
    source = ROOT / "lua_resource"
    assert edited.read_bytes() == (source / "shared" / "settings.lua").read_bytes()
    assert untouched.read_bytes() == untouched_record
    assert not (backup / "shared" / "units.lua").exists()

    edited.write_text("-- edited again\n")
    assert main(["install-resource", "--upgrade", str(target)]) == 0
    out = capsys.readouterr().out
    assert "saved 1 replaced file(s) first (you edited them): shared/settings.lua in " in out


def test_an_upgrade_of_a_copy_without_a_record_saves_every_file_it_replaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = server_data(tmp_path) / "resources" / "sonoran_bridge"
    target.mkdir()
    (target / "fxmanifest.lua").write_text("-- copied by hand, maybe edited\n")
    assert main(["install-resource", "--upgrade", str(target)]) == 0
    out = capsys.readouterr().out
    assert "no install record says whether you edited them" in out
    (backup,) = target.glob("backup-*")
    assert (backup / "fxmanifest.lua").read_text() == "-- copied by hand, maybe edited\n"


def test_every_doc_gives_the_one_target_form() -> None:
    docs = [README, ROOT / "docs" / "operations.md", ROOT / "docs" / "resource.md"]
    for doc in docs:
        text = doc.read_text()
        forms = [
            line.split("install-resource", 1)[1].split("`")[0].strip()
            for line in text.splitlines()
            if "sonoran-bridge install-resource " in line
        ]
        for form in forms:
            assert form.removeprefix("--upgrade ").strip('"') in (RESOURCE_TARGET, "DIR"), (
                doc.name,
                form,
            )
