"""The item catalogue: latent attributes, the words that describe them, and `items.csv`.

Every item has latent attributes (category, colour, pattern, material) that every other
modality reads: images draw them, descriptions name them (by one of many surface forms),
users prefer some of them, and messages mention them. Some items are new (created near the
end of the event window) and have no behaviour history at all: the cold-start slice.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from karpa.demo import vocabulary as V
from karpa.demo.files import atomic_open, iso_seconds
from karpa.demo.sampling import pick, zipf_weights

log = logging.getLogger(__name__)

COLD_SHARE = 0.08
MISSING_TITLE_SHARE = 0.01
MISSING_DESCRIPTION_SHARE = 0.015
DUPLICATE_SHARE = 0.005
# How often a description names the item's colour at all ("nearly all").
COLOUR_NAMED_SHARE = 0.97
FORM_EXPONENT = 1.0

FEATURES: dict[str, tuple[str, ...]] = {
    "clothing": (
        "Relaxed fit.",
        "Cut for everyday wear.",
        "Lightweight and breathable.",
        "Finished with contrast stitching.",
        "A wardrobe staple.",
        "Tailored through the body.",
        "Easy to layer.",
    ),
    "accessories": (
        "Made to last.",
        "Finished with contrast stitching.",
        "Soft to the touch.",
        "Designed in house.",
        "Pairs with everything.",
        "Sturdy and light.",
        "A finishing touch.",
    ),
}
GROUP_OF = {c: g for g, cats in V.CATEGORY_GROUPS.items() for c in cats}
CARE = ("", "Machine washable.", "Dry clean only.", "Hand wash cold.", "Wipe clean.")
WITH_COLOUR = (
    "A {pattern} {category} in {colour} {material}.",
    "{Colour} {material} {category} with a {pattern} finish.",
    "This {category} comes in {colour}, made from {material}.",
    "Made of {material}, this {pattern} {category} is {colour}.",
)
WITHOUT_COLOUR = "A {pattern} {category} made from {material}."


@dataclass(frozen=True)
class Catalog:
    """The generated items, as arrays indexed by item number (not by file row)."""

    item_ids: list[str]
    category: np.ndarray  # (N,) index into V.CATEGORIES
    colour: np.ndarray  # (N,) index into V.COLOURS
    pattern: np.ndarray  # (N,) index into V.PATTERNS
    material: np.ndarray  # (N,) index into V.MATERIALS
    price: np.ndarray  # (N,) float
    popularity: np.ndarray  # (N,) behaviour weight; 0 for cold items
    titles: list[str]  # full titles (before defects blank some)

    @property
    def cold(self) -> np.ndarray:
        """Items with no behaviour history."""
        return self.popularity == 0

    def __len__(self) -> int:
        return len(self.item_ids)


def build_catalog(rng: np.random.Generator, n: int) -> tuple[Catalog, list[str]]:
    """Draw n items' latent attributes, titles and descriptions."""
    n_cat, n_col = len(V.CATEGORIES), len(V.COLOURS)
    category = rng.choice(n_cat, size=n, p=rng.dirichlet(np.full(n_cat, 20.0)))
    colour = rng.choice(n_col, size=n, p=rng.dirichlet(np.full(n_col, 12.0)))
    pattern = rng.choice(len(V.PATTERNS), size=n, p=[0.4, 0.25, 0.15, 0.2])
    material = np.empty(n, dtype=np.int64)
    price = np.empty(n)
    titles: list[str] = []
    descriptions: list[str] = []
    noise = rng.lognormal(0.0, 0.25, size=n)
    # Uniforms per item for: material, brand, title colour form, description colour form,
    # pattern form, category form, naming a plain pattern, feature sentence.
    pick_u = rng.random((n, 8))
    colour_named = rng.random(n) < COLOUR_NAMED_SHARE
    templates = rng.integers(0, len(WITH_COLOUR), size=n)
    care = rng.integers(0, len(CARE), size=n)
    for i in range(n):
        cat = V.CATEGORIES[category[i]]
        mats = V.CATEGORY_MATERIALS[cat]
        mat = mats[int(pick_u[i, 0] * len(mats))]
        material[i] = V.MATERIALS.index(mat)
        price[i] = round(V.CATEGORY_BASE_PRICE[cat] * V.MATERIAL_PRICE_FACTOR[mat] * noise[i], 2)
        sellers = V.sellers(cat)
        brand = sellers[int(pick_u[i, 1] * len(sellers))].brand
        col_forms = V.COLOUR_FORMS[V.COLOURS[colour[i]]]
        pat_forms = V.PATTERN_FORMS[V.PATTERNS[pattern[i]]]
        cat_forms = V.CATEGORY_FORMS[cat]
        # Zipf draws from uniforms already drawn keep the loop free of generator calls.
        title_col = col_forms[_zipf_index(pick_u[i, 2], len(col_forms))]
        desc_col = col_forms[_zipf_index(pick_u[i, 3], len(col_forms))]
        pat_form = pat_forms[_zipf_index(pick_u[i, 4], len(pat_forms))]
        cat_form = cat_forms[_zipf_index(pick_u[i, 5], len(cat_forms))]
        words = [brand, title_col.title()]
        if V.PATTERNS[pattern[i]] != "plain" or pick_u[i, 6] < 0.3:
            words.append(pat_form.title())
        words += [mat.title(), cat_form.title()]
        titles.append(" ".join(words))
        fields = {
            "pattern": pat_form,
            "category": cat_form,
            "material": mat,
            "colour": desc_col,
            "Colour": desc_col.capitalize(),
        }
        first = WITH_COLOUR[templates[i]] if colour_named[i] else WITHOUT_COLOUR
        feats = FEATURES[GROUP_OF[cat]]
        parts = [first.format(**fields), feats[int(pick_u[i, 7] * len(feats))], CARE[care[i]]]
        descriptions.append(" ".join(p for p in parts if p))
    popularity = rng.lognormal(0.0, 1.2, size=n)
    cold = pick(rng, n, COLD_SHARE, np.arange(n))
    popularity[cold] = 0.0
    catalog = Catalog(
        item_ids=[f"I{i:06d}" for i in range(n)],
        category=category,
        colour=colour,
        pattern=pattern,
        material=material,
        price=price,
        popularity=popularity,
        titles=titles,
    )
    return catalog, descriptions


@cache
def _zipf_cumulative(n: int) -> np.ndarray:
    return np.cumsum(zipf_weights(n, FORM_EXPONENT))


def _zipf_index(u: float, n: int) -> int:
    """Inverse-CDF of the form distribution for one uniform draw."""
    return min(int(np.searchsorted(_zipf_cumulative(n), u, side="right")), n - 1)


def _created_at(rng: np.random.Generator, catalog: Catalog) -> np.ndarray:
    """Creation times in microseconds: a year before the window, or late in it if cold."""
    n = len(catalog)
    before = V.EPOCH_US - (rng.random(n) * 365 * V.DAY_US).astype(np.int64)
    late = V.EPOCH_US + ((V.WINDOW_DAYS - 10 + rng.random(n) * 10) * V.DAY_US).astype(np.int64)
    created = np.where(catalog.cold, late, before)
    return created // 1_000_000 * 1_000_000  # whole seconds


def write_items(
    rng: np.random.Generator, out: Path, catalog: Catalog, descriptions: list[str]
) -> tuple[int, dict[str, dict[str, list]]]:
    """Write `items.csv` with the planted defects; returns (row count, defects)."""
    n = len(catalog)
    created = _created_at(rng, catalog)
    pool = np.arange(n)
    no_title = pick(rng, n, MISSING_TITLE_SHARE, pool)
    no_desc = pick(rng, n, MISSING_DESCRIPTION_SHARE, np.setdiff1d(pool, no_title))
    dup_src = pick(rng, n, DUPLICATE_SHARE, np.setdiff1d(pool, np.union1d(no_title, no_desc)))
    # A duplicate is a later re-listing of the same id: it lands somewhere after its original.
    keys = np.concatenate(
        [pool.astype(np.float64), dup_src + 0.5 + rng.random(len(dup_src)) * (n - dup_src - 0.5)]
    )
    order = np.argsort(keys, kind="stable")
    row_of = np.empty(len(order), dtype=np.int64)
    row_of[order] = np.arange(1, len(order) + 1)
    titles = list(catalog.titles)
    descs = list(descriptions)
    for i in no_title:
        titles[i] = ""
    for i in no_desc:
        descs[i] = ""
    dup_shift = (rng.integers(1, 31, size=len(dup_src)) * V.DAY_US).astype(np.int64)
    with atomic_open(out / "items.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ["item_id", "title", "description", "category", "attributes", "price", "created_at"]
        )
        for k in order:
            i = int(k) if k < n else int(dup_src[k - n])
            price, ts = catalog.price[i], int(created[i])
            if k >= n:  # the re-listing changed its price and is newer
                price, ts = round(price * 0.9, 2), ts + int(dup_shift[k - n])
            w.writerow(
                [
                    catalog.item_ids[i],
                    titles[i],
                    descs[i],
                    V.CATEGORIES[catalog.category[i]],
                    _attributes(catalog, i),
                    f"{price:.2f}",
                    iso_seconds(ts),
                ]
            )
    ids = catalog.item_ids
    defects = {
        "items_missing_title": {
            "item_ids": [ids[i] for i in no_title],
            "rows": [int(row_of[i]) for i in no_title],
        },
        "items_missing_description": {
            "item_ids": [ids[i] for i in no_desc],
            "rows": [int(row_of[i]) for i in no_desc],
        },
        "items_duplicate_id": {
            "item_ids": [ids[i] for i in dup_src],
            "first_rows": [int(row_of[i]) for i in dup_src],
            "rows": [int(row_of[n + j]) for j in range(len(dup_src))],
        },
    }
    log.debug("items.csv: %d rows (%d duplicates)", len(order), len(dup_src))
    return len(order), defects


def _attributes(catalog: Catalog, i: int) -> str:
    return json.dumps(
        {
            "colour": V.COLOURS[catalog.colour[i]],
            "pattern": V.PATTERNS[catalog.pattern[i]],
            "material": V.MATERIALS[catalog.material[i]],
            "price_band": V.price_band(float(catalog.price[i])),
        }
    )
