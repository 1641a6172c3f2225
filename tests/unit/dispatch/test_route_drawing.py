"""The dispatcher's route map: an equirectangular projection that keeps every point in the box."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from core.dispatch.templatetags.routes import ROUTE_COLOURS, _Projection, route_class

BOSTON = [(42.3503, -71.0810), (42.3388, -71.0765), (42.3702, -71.0389), (42.3016, -71.0676)]


def test_the_projection_puts_north_up_and_east_right() -> None:
    projection = _Projection.around(BOSTON, 640)
    north, south = projection.point(42.3702, -71.0389), projection.point(42.3016, -71.0676)
    assert north[1] < south[1]  # y grows downwards
    west, east = projection.point(42.35, -71.0810), projection.point(42.35, -71.0389)
    assert west[0] < east[0]


@given(st.lists(st.tuples(st.floats(41.0, 43.0), st.floats(-72.0, -70.0)), min_size=1, max_size=40),
       st.integers(200, 1200))
def test_every_point_lands_inside_the_drawing(points: list[tuple[float, float]], width: int) -> None:
    projection = _Projection.around(points, width)
    for lat, lon in points:
        x, y = projection.point(lat, lon)
        assert 0 <= x <= projection.width
        assert 0 <= y <= projection.height


def test_route_colours_cycle_through_the_palette_each_a_class_of_the_stylesheet() -> None:
    assert route_class(0) == "route-0"
    assert route_class(len(ROUTE_COLOURS) + 2) == "route-2"
    css = (Path(__file__).resolve().parents[3] / "core/web/static/web/ferry.css").read_text()
    for index, colour in enumerate(ROUTE_COLOURS):
        assert f".route-{index} {{ --route: {colour}; }}" in css
