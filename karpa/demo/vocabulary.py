"""The demo world's latent vocabulary: what items are made of, and who sells them.

Every latent attribute value has one canonical name (what `items.attributes` records) and
several surface forms (what titles, descriptions, messages and headlines say). Colours also
have a base RGB value, because the same attribute must show in pixels as well as in words.
The first surface form of each value is the canonical name itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# Every timestamp in the world is an offset from this instant, so that a world generated
# today and one generated next year are byte-identical.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH_US = int(EPOCH.timestamp()) * 1_000_000
DAY_US = 86_400 * 1_000_000
# Events, messages and news span the first quarter of 2026.
WINDOW_DAYS = 90

CATEGORY_GROUPS: dict[str, tuple[str, ...]] = {
    "clothing": ("shirt", "trousers", "dress", "jacket"),
    "accessories": ("shoes", "bag", "hat", "scarf"),
}
CATEGORIES: tuple[str, ...] = CATEGORY_GROUPS["clothing"] + CATEGORY_GROUPS["accessories"]

CATEGORY_FORMS: dict[str, tuple[str, ...]] = {
    "shirt": ("shirt", "top", "tee", "blouse", "button-down"),
    "trousers": ("trousers", "pants", "chinos", "slacks", "jeans"),
    "dress": ("dress", "frock", "gown", "sundress"),
    "jacket": ("jacket", "coat", "blazer", "parka"),
    "shoes": ("shoes", "sneakers", "trainers", "boots", "loafers"),
    "bag": ("bag", "handbag", "tote", "satchel", "backpack"),
    "hat": ("hat", "cap", "beanie", "fedora"),
    "scarf": ("scarf", "shawl", "wrap", "stole"),
}

# Eight surface forms per colour, head first; no form belongs to two colours.
COLOUR_FORMS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet", "ruby", "cherry", "brick", "vermilion", "wine"),
    "orange": ("orange", "tangerine", "apricot", "rust", "copper", "pumpkin", "marmalade", "peach"),
    "yellow": ("yellow", "mustard", "lemon", "canary", "gold", "sunflower", "butter", "honey"),
    "green": ("green", "olive", "emerald", "sage", "mint", "lime", "jade", "moss"),
    "blue": ("blue", "navy", "cobalt", "azure", "cerulean", "sapphire", "cornflower", "indigo"),
    "purple": ("purple", "violet", "lilac", "lavender", "plum", "mauve", "aubergine", "grape"),
    "pink": ("pink", "rose", "blush", "fuchsia", "magenta", "salmon", "bubblegum", "coral"),
    "brown": ("brown", "chocolate", "tan", "camel", "chestnut", "mocha", "coffee", "caramel"),
    "black": ("black", "jet", "ebony", "onyx", "raven", "ink", "noir", "sable"),
    "white": ("white", "ivory", "cream", "snow", "pearl", "chalk", "alabaster", "eggshell"),
    "grey": ("grey", "gray", "charcoal", "slate", "ash", "silver", "graphite", "pewter"),
}
COLOURS: tuple[str, ...] = tuple(COLOUR_FORMS)

COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 40),
    "orange": (240, 130, 30),
    "yellow": (235, 205, 40),
    "green": (45, 140, 60),
    "blue": (40, 70, 190),
    "purple": (120, 50, 150),
    "pink": (240, 135, 185),
    "brown": (115, 72, 38),
    "black": (25, 25, 28),
    "white": (248, 248, 244),
    "grey": (128, 128, 128),
}

PATTERN_FORMS: dict[str, tuple[str, ...]] = {
    "plain": ("plain", "solid", "block-colour", "classic"),
    "striped": ("striped", "stripy", "pinstriped", "banded", "candy-stripe"),
    "dotted": ("dotted", "polka-dot", "spotted", "speckled"),
    "checked": ("checked", "plaid", "tartan", "gingham", "houndstooth"),
}
PATTERNS: tuple[str, ...] = tuple(PATTERN_FORMS)

MATERIALS: tuple[str, ...] = (
    "cotton",
    "wool",
    "leather",
    "denim",
    "silk",
    "linen",
    "polyester",
    "cashmere",
)
# Which materials a category is made of: nobody sells silk boots in this world.
CATEGORY_MATERIALS: dict[str, tuple[str, ...]] = {
    "shirt": ("cotton", "linen", "silk", "polyester"),
    "trousers": ("cotton", "denim", "wool", "linen"),
    "dress": ("cotton", "silk", "linen", "polyester"),
    "jacket": ("wool", "leather", "denim", "polyester", "cashmere"),
    "shoes": ("leather", "cotton", "polyester"),
    "bag": ("leather", "cotton", "polyester", "denim"),
    "hat": ("wool", "cotton", "cashmere", "polyester"),
    "scarf": ("wool", "silk", "cashmere", "cotton"),
}
CATEGORY_BASE_PRICE: dict[str, float] = {
    "shirt": 35.0,
    "trousers": 55.0,
    "dress": 70.0,
    "jacket": 120.0,
    "shoes": 85.0,
    "bag": 65.0,
    "hat": 25.0,
    "scarf": 30.0,
}
MATERIAL_PRICE_FACTOR: dict[str, float] = {
    "cotton": 1.0,
    "wool": 1.3,
    "leather": 1.8,
    "denim": 1.1,
    "silk": 1.9,
    "linen": 1.2,
    "polyester": 0.8,
    "cashmere": 2.4,
}
# price_band thresholds (upper bounds, in the shop's currency).
PRICE_BANDS: tuple[tuple[str, float], ...] = (
    ("budget", 30.0),
    ("mid", 90.0),
    ("premium", float("inf")),
)


# Listed companies: each sells some of the item categories, brands its items with its short
# name, and is the subject of the news headlines.
@dataclass(frozen=True)
class Company:
    """A listed company of the demo world."""

    ticker: str
    name: str
    brand: str
    categories: tuple[str, ...]


COMPANIES: tuple[Company, ...] = (
    Company("ACME", "Acme Apparel", "Acme", ("shirt", "trousers", "jacket")),
    Company("GLOBX", "Globex Goods", "Globex", ("bag", "shoes")),
    Company("NRTHW", "Northwind Outfitters", "Northwind", ("jacket", "hat", "scarf")),
    Company("LUMA", "Luma Fashion", "Luma", ("dress", "scarf")),
    Company("VERTO", "Verto Footwear", "Verto", ("shoes",)),
    Company("PIKE", "Pike and Sons", "Pike", ("shirt", "hat")),
    Company("ORBIS", "Orbis Retail", "Orbis", CATEGORIES),
    Company("TESSR", "Tessera Textiles", "Tessera", ("trousers", "dress")),
    Company("KOTO", "Koto Leather", "Koto", ("bag", "shoes")),
    Company("MAVEN", "Maven Knitwear", "Maven", ("scarf", "hat", "jacket")),
)
TICKERS: tuple[str, ...] = tuple(c.ticker for c in COMPANIES)

EVENT_TYPES: tuple[str, ...] = ("view", "click", "cart", "purchase", "rating")
SENTIMENTS: tuple[str, ...] = ("positive", "negative", "neutral")


def price_band(price: float) -> str:
    """The price band a price falls in."""
    for band, upper in PRICE_BANDS:
        if price < upper:
            return band
    return PRICE_BANDS[-1][0]


def sellers(category: str) -> tuple[Company, ...]:
    """The companies that sell a category."""
    return tuple(c for c in COMPANIES if category in c.categories)


def describe() -> dict[str, object]:
    """The vocabulary as plain JSON-able data, for the world manifest."""
    return {
        "categories": list(CATEGORIES),
        "category_groups": {k: list(v) for k, v in CATEGORY_GROUPS.items()},
        "category_forms": {k: list(v) for k, v in CATEGORY_FORMS.items()},
        "colours": list(COLOURS),
        "colour_forms": {k: list(v) for k, v in COLOUR_FORMS.items()},
        "patterns": list(PATTERNS),
        "pattern_forms": {k: list(v) for k, v in PATTERN_FORMS.items()},
        "materials": list(MATERIALS),
        "price_bands": [b for b, _ in PRICE_BANDS],
        "event_types": list(EVENT_TYPES),
        "sentiments": list(SENTIMENTS),
        "companies": {
            c.ticker: {"name": c.name, "brand": c.brand, "categories": list(c.categories)}
            for c in COMPANIES
        },
    }
