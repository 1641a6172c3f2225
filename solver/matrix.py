"""Travel-time matrices: great-circle for real addresses, truncated Euclidean for benchmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG); the error against road travel dwarfs the choice


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in kilometres between two (latitude, longitude) points in degrees."""
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def haversine_matrix(
    points: Sequence[tuple[float, float]], speed_kmh: float, detour_factor: float = 1.0
) -> list[list[int]]:
    """Travel seconds between every pair of (lat, lon) points at a constant speed.

    `detour_factor` (>= 1) stretches the straight line to approximate a road network
    (1.3 is a common urban figure). Seconds are rounded up so a plan built on the matrix
    never assumes a faster trip than the straight line allows.
    """
    if speed_kmh <= 0:
        raise ValueError(f"speed_kmh must be positive, got {speed_kmh}")
    if detour_factor < 1:
        raise ValueError(f"detour_factor must be at least 1, got {detour_factor}")
    seconds_per_km = 3600.0 * detour_factor / speed_kmh
    return [
        [
            0 if i == j else math.ceil(haversine_km(a, b) * seconds_per_km)
            for j, b in enumerate(points)
        ]
        for i, a in enumerate(points)
    ]


def truncated_euclidean_matrix(
    points: Sequence[tuple[float, float]], decimals: int = 1
) -> list[list[int]]:
    """Euclidean distances truncated to `decimals`, scaled by 10**decimals to integers.

    This is the DIMACS/CVRPLIB convention the Solomon best-known distances use: the
    distance 12.345 becomes 123 with one decimal. Integer coordinates take an exact integer
    square root, so no floating-point rounding can move a value across a truncation step.
    """
    scale = 10**decimals
    return [[_truncated_distance(a, b, scale) for b in points] for a in points]


def _truncated_distance(a: tuple[float, float], b: tuple[float, float], scale: int) -> int:
    dx, dy = a[0] - b[0], a[1] - b[1]
    if all(float(c).is_integer() for c in (dx, dy)):
        return math.isqrt(int(dx * dx + dy * dy) * scale * scale)
    return math.floor(math.hypot(dx, dy) * scale)
