"""End to end on one key (issue 18 part 5): our resource beside the real sonorancad, the daemon
and the CAD stand-in, on one virtual clock (tests/lua_resource/real_end_to_end.py). A dispatcher
ticks track primary, switches the primary, turns it off; a unit logs out; a bulk close; a close
through the API; a dispatcher's edit the resource cannot relay; a 911 call that follows its
caller; our resource restarted. Both handler orders."""

from __future__ import annotations

import pytest

from .cad_world import ORDERS
from .real_end_to_end import run
from .sonorancad_real import SKIP_REASON, SONORANCAD

pytestmark = pytest.mark.skipif(SONORANCAD is None, reason=SKIP_REASON)


@pytest.mark.parametrize("order", ORDERS)
async def test_every_scenario_on_one_key(order: str) -> None:
    figures, errors = await run(order)
    assert errors == []
    assert figures["tick_to_first_push_near_unit_s"] is not None
    assert figures["tick_to_first_push_near_unit_s"] <= 5
    assert figures["switch_to_first_push_near_new_unit_s"] is not None
    assert figures["switch_to_first_push_near_new_unit_s"] <= 5
    assert figures["pushes_after_track_primary_off"] == 0
    assert figures["pushes_after_unit_logout"] == 0
    assert figures["pushes_on_bulk_closed_calls"] == 0
    assert figures["pushes_on_api_closed_call"] <= 3  # until the daemon reads the CAD's list
    assert figures["edits_reverted"] == 0
    assert figures["911_call_to_its_first_push_s"] is not None
    assert figures["911_call_near_caller_after_a_20_s_drive_s"] is not None
    assert figures["restart_to_pin_near_unit_after_a_10_s_drive_s"] is not None
    # sonorancad keeps the postal of a track primary call: the daemon never writes it
    assert figures["postal_writes_by_daemon_on_cad_track_primary"] == 0
    assert figures["postal_writes_after_restart_on_cad_track_primary"] == 0
    assert figures["get_429s"] == 0 and figures["update_429s"] == 0
    assert figures["gets_by_sonorancad"] >= 6  # its 60 s poll, on the same key
