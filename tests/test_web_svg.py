"""The console's inline SVG: sparklines and gauges put each value where it belongs and say it in words."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from healthdeck.web.svg import gauge, sparkline

NS = {"svg": "http://www.w3.org/2000/svg"}


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def points(line: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in line.attrib["points"].split())]


def test_a_sparkline_maps_the_lowest_value_to_the_bottom_and_the_highest_to_the_top() -> None:
    svg = parsed(sparkline([0.0, 10.0, 5.0], label="Errors"))
    assert (svg.attrib["viewBox"], svg.attrib["role"]) == ("0 0 100 24", "img")
    [line] = svg.findall("svg:polyline", NS)
    assert points(line) == [(0.0, 22.0), (50.0, 2.0), (100.0, 12.0)]
    assert svg.attrib["aria-label"] == "Errors: from 0 to 5, lowest 0, highest 10"


def test_a_none_breaks_the_line_and_a_lone_value_is_a_dot() -> None:
    svg = parsed(sparkline([1.0, 2.0, None, 3.0, 4.0, None, 2.5], label="DAU"))
    first, second = svg.findall("svg:polyline", NS)
    assert [x for x, _ in points(first)] == pytest.approx([0.0, 100 / 6], abs=0.01)
    assert [x for x, _ in points(second)] == pytest.approx([300 / 6, 400 / 6], abs=0.01)
    [dot] = svg.findall("svg:circle", NS)
    assert float(dot.attrib["cx"]) == 100.0
    assert svg.attrib["aria-label"] == "DAU: from 1 to 2.5, lowest 1, highest 4"


def test_a_flat_series_runs_through_the_middle_and_no_data_says_so() -> None:
    [line] = parsed(sparkline([7.0, 7.0], label="Uptime")).findall("svg:polyline", NS)
    assert points(line) == [(0.0, 12.0), (100.0, 12.0)]
    empty = parsed(sparkline([None, None], label="Uptime"))
    assert list(empty) == [] and empty.attrib["aria-label"] == "Uptime: no data"


@pytest.mark.parametrize(("value", "degrees"), [(0.0, 0.0), (25.0, 45.0), (50.0, 90.0), (100.0, 180.0), (150.0, 180.0)])
def test_the_gauges_needle_turns_from_the_minimum_to_the_maximum(value: float, degrees: float) -> None:
    svg = parsed(
        gauge(value, minimum=0, maximum=100, good=None, critical=None, higher_is_better=True, label="CPU", unit="%")
    )
    [needle] = svg.findall("svg:line", NS)
    assert needle.attrib["transform"] == f"rotate({degrees:.2f} 60.0 60.0)"


def test_the_gauges_zones_follow_the_thresholds_and_its_label_says_them() -> None:
    svg = parsed(
        gauge(99.2, minimum=90, maximum=100, good=99.5, critical=99, higher_is_better=True, label="Uptime", unit="%")
    )
    zones = [path.attrib["class"] for path in svg.findall("svg:path", NS)]
    assert zones == ["gauge-zone zone-critical", "gauge-zone zone-warning", "gauge-zone zone-good"]
    assert svg.find("svg:text", NS).text == "99.2 %"  # type: ignore[union-attr]
    assert svg.attrib["aria-label"] == "Uptime: 99.2 %; good at or above 99.5 %; critical at or below 99 %"
    lower = parsed(
        gauge(300, minimum=0, maximum=1000, good=200, critical=500, higher_is_better=False, label="P95", unit="ms")
    )
    assert lower.findall("svg:path", NS)[0].attrib["class"] == "gauge-zone zone-good"
    assert "good at or below 200 ms; critical at or above 500 ms" in lower.attrib["aria-label"]


def test_a_hostile_label_or_unit_is_text_never_markup() -> None:
    hostile = '"><script>alert(1)</script>&'
    for markup in (
        sparkline([1.0, 2.0], label=hostile),
        gauge(1, minimum=0, maximum=2, good=None, critical=None, higher_is_better=True, label=hostile, unit=hostile),
    ):
        svg = parsed(markup)
        assert svg.attrib["aria-label"].startswith(hostile)
        assert not list(svg.iter("script")) and "<script>" not in str(markup)


def test_a_gauge_with_no_value_has_no_needle() -> None:
    svg = parsed(gauge(None, minimum=0, maximum=1, good=0.5, critical=None, higher_is_better=True, label="x", unit=""))
    assert svg.findall("svg:line", NS) == [] and svg.attrib["aria-label"] == "x: no value; good at or above 0.5"
    assert [p.attrib["class"] for p in svg.findall("svg:path", NS)] == [
        "gauge-zone zone-neutral",
        "gauge-zone zone-good",
    ]
