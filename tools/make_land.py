"""Write ``s2sframe/show/static/land110m.json``: the land outlines of the downloads page map.

Source: Natural Earth 1:110m Admin 0 countries (public domain, naturalearthdata.com),
as shipped in the ``geopandas`` 0.14 wheel (``geopandas/datasets/naturalearth_lowres/
naturalearth_lowres.shp``; later geopandas versions dropped it). Get it with::

    pip download --no-deps geopandas==0.14.4 && unzip geopandas-0.14.4-py3-none-any.whl \\
        'geopandas/datasets/naturalearth_lowres/*'
    python tools/make_land.py geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp

Each polygon ring is simplified (Douglas-Peucker, 0.08 degrees), its coordinates
rounded to 0.1 degree and stored as integers (tenths of a degree) in one flat
``[lon, lat, lon, lat, ...]`` list per ring; rings of fewer than 4 points are dropped.
Only the standard library is used (the shapefile is read with ``struct``).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "s2sframe" / "show" / "static" / "land110m.json"
TOLERANCE = 0.08  # degrees


def rings(path: Path) -> list[list[tuple[float, float]]]:
    """Polygon rings of an ESRI shapefile of polygons (shape type 5)."""
    data = path.read_bytes()
    out = []
    pos = 100  # after the file header
    while pos < len(data):
        _num, length = struct.unpack(">ii", data[pos:pos + 8])
        rec = data[pos + 8:pos + 8 + 2 * length]
        pos += 8 + 2 * length
        (shape,) = struct.unpack("<i", rec[:4])
        if shape != 5:
            continue
        nparts, npoints = struct.unpack("<ii", rec[36:44])
        parts = list(struct.unpack(f"<{nparts}i", rec[44:44 + 4 * nparts])) + [npoints]
        base = 44 + 4 * nparts
        points = [struct.unpack("<dd", rec[base + 16 * i:base + 16 * i + 16])
                  for i in range(npoints)]
        out.extend(points[a:b] for a, b in zip(parts[:-1], parts[1:], strict=True))
    return out


def simplify(points: list[tuple[float, float]], tol: float) -> list[tuple[float, float]]:
    """Douglas-Peucker."""
    if len(points) < 3:
        return points
    (x0, y0), (x1, y1) = points[0], points[-1]
    dx, dy = x1 - x0, y1 - y0
    norm = (dx * dx + dy * dy) ** 0.5
    best, index = -1.0, 0
    for i, (x, y) in enumerate(points[1:-1], 1):
        d = (abs(dy * x - dx * y + x1 * y0 - y1 * x0) / norm if norm
             else ((x - x0) ** 2 + (y - y0) ** 2) ** 0.5)
        if d > best:
            best, index = d, i
    if best <= tol:
        return [points[0], points[-1]]
    return simplify(points[:index + 1], tol)[:-1] + simplify(points[index:], tol)


def main(shp: str) -> None:
    out = []
    for ring in rings(Path(shp)):
        flat: list[int] = []
        for x, y in simplify(ring, TOLERANCE):
            q = [round(x * 10), round(y * 10)]
            if flat[-2:] != q:
                flat += q
        if len(flat) >= 8:
            out.append(flat)
    OUT.write_text(json.dumps({
        "source": "Natural Earth 1:110m Admin 0 countries (public domain, "
                  "naturalearthdata.com), simplified by tools/make_land.py",
        "unit": "0.1 degree", "rings": out}, separators=(",", ":")))
    print(f"{OUT}: {len(out)} rings, {sum(len(r) for r in out) // 2} points, "
          f"{OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
