"""Server-rendered SVG charts: well-formed, scaled, and escaping every label."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from abusedesk.web.ui.charts import Interval, Series, Threshold, bar_chart, line_chart, timeline

SVG = "{http://www.w3.org/2000/svg}"
DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script> & "quotes"'


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314  # our own output, checked for shape


def days(values: list[float]) -> list[tuple[datetime, float]]:
    return [(DAY0 + timedelta(days=i), v) for i, v in enumerate(values)]


def test_line_chart_draws_one_polyline_per_series_with_a_point_per_value() -> None:
    svg = parse(
        line_chart(
            [
                Series("complaint", days([0.001, 0.002, 0.004])),
                Series("bounce", days([0.02, 0.03])),
            ],
            title="Rates",
            percent=True,
        )
    )
    lines = svg.findall(f".//{SVG}polyline")
    assert len(lines) == 2
    assert len(lines[0].attrib["points"].split()) == 3
    assert len(svg.findall(f".//{SVG}circle")) == 5
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert "complaint 03 Nov: 0.40%" in titles


def test_a_higher_value_is_drawn_higher_and_thresholds_fit_on_the_chart() -> None:
    svg = parse(
        line_chart(
            [Series("complaint", days([0.001, 0.004]))],
            title="Complaint rate",
            thresholds=[Threshold("pause", 0.005)],
            percent=True,
        )
    )
    polyline = svg.find(f".//{SVG}polyline")
    assert polyline is not None
    first, second = (float(p.split(",")[1]) for p in polyline.attrib["points"].split())
    assert second < first  # SVG y grows downwards
    threshold = svg.find(f".//{SVG}line[@class='chart-threshold']")
    assert threshold is not None
    assert float(threshold.attrib["y1"]) > 0  # the scale leaves room above the threshold
    assert any("pause 0.50%" in (t.text or "") for t in svg.iter(f"{SVG}text"))


def test_every_label_is_escaped() -> None:
    markup = str(
        line_chart([Series(HOSTILE, days([1, 2]))], title=HOSTILE)
        + bar_chart([(HOSTILE, 3)], title=HOSTILE)
        + timeline(
            [Interval(HOSTILE, DAY0, None, HOSTILE)],
            start=DAY0,
            end=DAY0 + timedelta(1),
            title=HOSTILE,
        )
    )
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup


def test_no_figures_say_so_instead_of_drawing_an_empty_frame() -> None:
    for markup in (
        line_chart([Series("x", [])], title="Nothing"),
        bar_chart([], title="Nothing"),
        timeline([], start=DAY0, end=DAY0 + timedelta(days=1), title="Nothing"),
    ):
        assert "No figures for this period." in str(markup)
        parse(markup)


def test_bars_scale_to_the_longest() -> None:
    svg = parse(bar_chart([("healthy", 40), ("under review", 10)], title="Accounts"))
    widths = [float(r.attrib["width"]) for r in svg.findall(f".//{SVG}rect")]
    assert widths[0] == 4 * widths[1]


def test_timeline_runs_an_open_listing_to_the_end_and_clamps_old_starts() -> None:
    end = DAY0 + timedelta(days=10)
    svg = parse(
        timeline(
            [
                Interval("192.0.2.1 zen", DAY0 - timedelta(days=5), DAY0 + timedelta(days=5)),
                Interval("192.0.2.2 zen", DAY0 + timedelta(days=5), None, "SBL"),
                Interval("too old", DAY0 - timedelta(days=9), DAY0 - timedelta(days=8)),
            ],
            start=DAY0,
            end=end,
            title="Listings",
        )
    )
    rects = svg.findall(f".//{SVG}rect")
    assert len(rects) == 2
    closed, still_open = rects
    assert closed.attrib["class"].endswith("closed")
    assert still_open.attrib["class"].endswith("open")
    assert float(closed.attrib["x"]) == float(still_open.attrib["x"]) - float(
        closed.attrib["width"]
    )
    words = still_open.find(f"{SVG}title")
    assert words is not None
    assert "to now (SBL)" in (words.text or "")
