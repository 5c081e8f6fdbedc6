"""Product photos: 32×32 PNGs that show an item's latent attributes.

Category decides the silhouette, colour the fill (with per-item and per-photo jitter),
pattern an overlay of stripes, dots or checks; placement, size, lighting, background and
pixel noise vary per photo. A model can therefore learn colour and category from pixels
and align them with the words that name them.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from karpa.demo import vocabulary as V
from karpa.demo.catalog import Catalog
from karpa.demo.files import atomic_open
from karpa.demo.sampling import pick

log = logging.getLogger(__name__)

SIZE = 32
# Share of items with 0, 1 and 2 photos.
PHOTOS_PER_ITEM = (0.1, 0.7, 0.2)
CORRUPT_SHARE = 0.01
EMPTY_SHARE = 0.005
# Fixed encoder settings: the same pixels always give the same bytes.
PNG_OPTIONS = {"format": "PNG", "compress_level": 6, "optimize": False}

Polygon = list[tuple[float, float]]
# Silhouettes in unit coordinates (x right, y down), centred on (0.5, 0.5).
SHAPES: dict[str, list[Polygon]] = {
    "shirt": [
        [
            (0.3, 0.15),
            (0.42, 0.12),
            (0.5, 0.18),
            (0.58, 0.12),
            (0.7, 0.15),
            (0.92, 0.33),
            (0.8, 0.44),
            (0.72, 0.37),
            (0.72, 0.88),
            (0.28, 0.88),
            (0.28, 0.37),
            (0.2, 0.44),
            (0.08, 0.33),
        ]
    ],
    "trousers": [
        [
            (0.28, 0.1),
            (0.72, 0.1),
            (0.8, 0.92),
            (0.58, 0.92),
            (0.5, 0.38),
            (0.42, 0.92),
            (0.2, 0.92),
        ]
    ],
    "dress": [[(0.4, 0.08), (0.6, 0.08), (0.63, 0.36), (0.88, 0.92), (0.12, 0.92), (0.37, 0.36)]],
    "jacket": [
        [
            (0.3, 0.1),
            (0.5, 0.22),
            (0.7, 0.1),
            (0.88, 0.2),
            (0.94, 0.86),
            (0.8, 0.86),
            (0.76, 0.42),
            (0.76, 0.92),
            (0.24, 0.92),
            (0.24, 0.42),
            (0.2, 0.86),
            (0.06, 0.86),
            (0.12, 0.2),
        ]
    ],
    "shoes": [
        [
            (0.08, 0.55),
            (0.35, 0.5),
            (0.45, 0.33),
            (0.62, 0.33),
            (0.66, 0.55),
            (0.92, 0.64),
            (0.92, 0.8),
            (0.08, 0.8),
        ]
    ],
    "bag": [
        [(0.18, 0.42), (0.82, 0.42), (0.86, 0.9), (0.14, 0.9)],
        [
            (0.32, 0.44),
            (0.36, 0.16),
            (0.64, 0.16),
            (0.68, 0.44),
            (0.6, 0.44),
            (0.58, 0.24),
            (0.42, 0.24),
            (0.4, 0.44),
        ],
    ],
    "hat": [
        [(0.32, 0.62), (0.34, 0.34), (0.42, 0.24), (0.58, 0.24), (0.66, 0.34), (0.68, 0.62)],
        [(0.06, 0.62), (0.94, 0.62), (0.88, 0.74), (0.12, 0.74)],
    ],
    "scarf": [
        [(0.14, 0.22), (0.3, 0.08), (0.88, 0.74), (0.72, 0.9)],
        [(0.2, 0.5), (0.32, 0.44), (0.44, 0.92), (0.3, 0.94)],
    ],
}


def _mask(category: str, scale: float, dx: float, dy: float, angle: float) -> np.ndarray:
    """Boolean (SIZE, SIZE) silhouette, scaled, rotated and shifted."""
    img = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(img)
    c, s = np.cos(angle), np.sin(angle)
    for poly in SHAPES[category]:
        pts = []
        for x, y in poly:
            u, v = (x - 0.5) * scale, (y - 0.5) * scale
            pts.append(((u * c - v * s + 0.5) * SIZE + dx, (u * s + v * c + 0.5) * SIZE + dy))
        draw.polygon(pts, fill=255)
    return np.asarray(img) > 127


def _overlay(pattern: str, phase: np.ndarray) -> np.ndarray:
    """Boolean (SIZE, SIZE) map of where the pattern's contrast colour shows."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    px, py = int(phase[0]), int(phase[1])
    if pattern == "striped":
        return ((yy + py) // 3) % 2 == 0
    if pattern == "dotted":
        return ((xx + px) % 6 - 3) ** 2 + ((yy + py) % 6 - 3) ** 2 <= 2
    if pattern == "checked":
        return (((xx + px) // 4 + (yy + py) // 4) % 2) == 0
    return np.zeros((SIZE, SIZE), dtype=bool)


def render(rng: np.random.Generator, category: str, pattern: str, rgb: np.ndarray) -> bytes:
    """One photo of an item as PNG bytes. `rgb` is the item's own (jittered) colour."""
    mask = _mask(
        category,
        rng.uniform(0.78, 1.02),
        rng.uniform(-3, 3),
        rng.uniform(-3, 3),
        rng.uniform(-0.15, 0.15),
    )
    fill = rgb * rng.uniform(0.85, 1.1) + rng.normal(0, 6, size=3)  # lighting
    # Stripes and dots contrast with the fill: dark on light colours, light on dark ones.
    luminance = float(fill @ np.array([0.299, 0.587, 0.114]))
    contrast = np.zeros(3) if luminance > 110 else np.full(3, 255.0)
    accent = 0.55 * fill + 0.45 * contrast
    background = rng.uniform(170, 225) + rng.normal(0, 6, size=3)
    pixels = np.empty((SIZE, SIZE, 3))
    pixels[:] = background
    pixels[mask] = fill
    pixels[mask & _overlay(pattern, rng.integers(0, 6, size=2))] = accent
    pixels += rng.normal(0, 10, size=pixels.shape)
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    image.save(buf, **PNG_OPTIONS)
    return buf.getvalue()


def write_images(
    rng: np.random.Generator, out: Path, catalog: Catalog
) -> tuple[int, dict[str, dict[str, list]]]:
    """Write `images/<item_id>__<k>.png` for every photo; returns (file count, defects)."""
    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    n = len(catalog)
    photos = rng.choice(3, size=n, p=PHOTOS_PER_ITEM)
    base = np.array([V.COLOUR_RGB[c] for c in V.COLOURS], dtype=np.float64)
    item_rgb = base[catalog.colour] + rng.normal(0, 12, size=(n, 3))
    names = [f"{catalog.item_ids[i]}__{k}.png" for i in range(n) for k in range(photos[i])]
    owner = np.repeat(np.arange(n), photos)
    pool = np.arange(len(names))
    corrupt = pick(rng, len(names), CORRUPT_SHARE, pool)
    empty = pick(rng, len(names), EMPTY_SHARE, np.setdiff1d(pool, corrupt))
    broken = {int(j): "corrupt" for j in corrupt} | {int(j): "empty" for j in empty}
    for j, name in enumerate(names):
        i = owner[j]
        kind = broken.get(j)
        if kind == "corrupt":
            data = rng.integers(0, 256, size=int(rng.integers(64, 600)), dtype=np.uint8).tobytes()
        elif kind == "empty":
            data = b""
        else:
            data = render(
                rng, V.CATEGORIES[catalog.category[i]], V.PATTERNS[catalog.pattern[i]], item_rgb[i]
            )
        with atomic_open(folder / name, "wb") as f:
            f.write(data)
    log.debug("images: %d files (%d corrupt, %d empty)", len(names), len(corrupt), len(empty))

    def listing(idx: np.ndarray) -> dict[str, list]:
        return {
            "files": [f"images/{names[j]}" for j in idx],
            "image_ids": [names[j].removesuffix(".png") for j in idx],
            "item_ids": [catalog.item_ids[owner[j]] for j in idx],
        }

    return len(names), {"images_corrupt": listing(corrupt), "images_empty": listing(empty)}
