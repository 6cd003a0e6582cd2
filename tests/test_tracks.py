"""The benchmark's recorded movement: GPX and CSV tracks, replayed by a fleet."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from bench.tracks import TraceFleet, load_csv, load_gpx
from bridge.standin.routes import MAP_BOX

BUS = Path(__file__).resolve().parents[1] / "bench" / "traces" / "limerick-bus-304.gpx"


def inside_map(x: float, y: float) -> bool:
    x_min, y_min, x_max, y_max = MAP_BOX
    return x_min <= x <= x_max and y_min <= y <= y_max


def test_gpx_track_is_projected_to_metres_inside_the_map() -> None:
    track = load_gpx(BUS)
    assert len(track) > 2000
    assert track[0][0] == 0.0
    assert 4000 < track[-1][0] < 5000  # the journey took about 75 minutes
    assert all(inside_map(x, y) for _, x, y in track)
    steps = [
        math.hypot(x1 - x0, y1 - y0) / (t1 - t0)
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(track)
    ]
    assert max(steps) < 40.0  # a bus, not a plane: the projection is in metres


def test_csv_track_reads_with_or_without_a_header(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("10,0,0\n11,5,0\n12,10,0\n")
    headed = tmp_path / "headed.csv"
    headed.write_text("# my drive\nt,x,y\n10,0,0\n11,5,0\n12,10,0\n")
    expected = [(0.0, 0.0, 0.0), (1.0, 5.0, 0.0), (2.0, 10.0, 0.0)]
    assert load_csv(plain) == expected
    assert load_csv(headed) == expected


def test_csv_track_names_the_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t,x,y\n0,0,0\n1,oops,0\n")
    with pytest.raises(ValueError, match=":3:"):
        load_csv(bad)


def test_trace_fleet_starts_each_subject_at_a_different_offset() -> None:
    fleet = TraceFleet(load_gpx(BUS), 6, seed=1)
    places = {(round(x), round(y)) for _, x, y, _ in fleet.positions(0.0)}
    assert len(places) == 6
    assert fleet.positions(100.0) == TraceFleet(load_gpx(BUS), 6, seed=1).positions(100.0)


def test_trace_fleet_bounces_holds_or_loops_at_the_end() -> None:
    track = [(0.0, 0.0, 0.0), (10.0, 100.0, 0.0)]
    bounce = TraceFleet(track, 1, at_end="bounce")
    hold = TraceFleet(track, 1, at_end="hold")
    loop = TraceFleet(track, 1, at_end="loop")
    for fleet in (bounce, hold, loop):
        fleet.offsets = [0.0]
    assert bounce.positions(15.0)[0][1] == pytest.approx(50.0)
    assert hold.positions(15.0)[0][1] == pytest.approx(100.0)
    assert hold.speeds(15.0)[0][1] == 0.0
    assert loop.positions(15.0)[0][1] == pytest.approx(50.0)
    assert loop.positions(12.0)[0][1] == pytest.approx(20.0)
    assert bounce.positions(12.0)[0][1] == pytest.approx(80.0)
