"""The stand-in's --help tells a newcomer its key and how to look at its calls."""

from __future__ import annotations

import pytest


def test_the_standins_help_names_its_key_and_how_to_read_its_calls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bridge.standin.cad import main as standin

    with pytest.raises(SystemExit):
        standin(["--help"])
    out = capsys.readouterr().out
    assert 'api_key = "standin-key"' in out
    assert "/v2/emergency/servers/1/calls" in out and "Bearer standin-key" in out
