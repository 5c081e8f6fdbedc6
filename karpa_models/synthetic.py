"""A small synthetic multimodal world for smoke tests, benchmarks and the torchrun check.

Every image is a coloured square in one quadrant of a noisy background; its caption names
the colour (one of several synonyms) and the position (one of several phrasings), in
varied templates. Items are coloured, positioned products; users prefer one or two
colours, so behaviour, pixels and words share the same latent attributes.
"""

from __future__ import annotations

import numpy as np

from karpa_models.corpus import PretrainCorpus, RetrievalSet

COLOURS: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {
    "red": ((220, 30, 30), ("red", "crimson", "scarlet")),
    "green": ((30, 190, 40), ("green", "emerald", "lime")),
    "blue": ((30, 60, 220), ("blue", "navy", "azure")),
    "yellow": ((235, 220, 30), ("yellow", "golden", "lemon")),
    "purple": ((140, 40, 180), ("purple", "violet", "lilac")),
    "orange": ((245, 140, 20), ("orange", "amber", "tangerine")),
    "white": ((240, 240, 240), ("white", "snowy", "ivory")),
    "cyan": ((30, 210, 210), ("cyan", "teal", "aqua")),
}
POSITIONS: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {
    "top left": ((0, 0), ("top left", "upper left")),
    "top right": ((0, 1), ("top right", "upper right")),
    "bottom left": ((1, 0), ("bottom left", "lower left")),
    "bottom right": ((1, 1), ("bottom right", "lower right")),
}
TEMPLATES = (
    "a {c} square in the {p} corner",
    "{p}: a {c} block",
    "photo of a {c} box at the {p}",
    "{c} shape, {p}",
    "there is a {c} patch {p}",
)
CATEGORIES = ("mug", "shirt", "lamp", "chair", "poster", "sock", "vase", "notebook")
COLOUR_NAMES = tuple(COLOURS)
POSITION_NAMES = tuple(POSITIONS)


def draw_image(colour: str, position: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A (size, size, 3) uint8 image: noisy dark background, jittered square in a quadrant."""
    img = rng.normal(50, 18, (size, size, 3)).clip(0, 255)
    (row, col), _ = POSITIONS[position]
    half = size // 2
    side = int(rng.integers(size // 3, half))
    top = row * half + int(rng.integers(0, half - side + 1))
    left = col * half + int(rng.integers(0, half - side + 1))
    rgb = np.array(COLOURS[colour][0], dtype=float)
    img[top : top + side, left : left + side] = (rgb + rng.normal(0, 12, (side, side, 3))).clip(
        0, 255
    )
    return img.astype(np.uint8)


def caption(colour: str, position: str, rng: np.random.Generator) -> str:
    word = rng.choice(COLOURS[colour][1])
    where = rng.choice(POSITIONS[position][1])
    return str(rng.choice(TEMPLATES)).format(c=word, p=where)


def synthetic_corpus(
    seed: int = 0,
    n_texts: int = 400,
    n_captions: int = 400,
    n_items: int = 120,
    n_users: int = 80,
    image_share: float = 0.8,
) -> PretrainCorpus:
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(n_texts):
        c = str(rng.choice(COLOUR_NAMES))
        texts.append(f"i am looking for a {rng.choice(COLOURS[c][1])} {rng.choice(CATEGORIES)}")
    cap_attrs = [
        (str(rng.choice(COLOUR_NAMES)), str(rng.choice(POSITION_NAMES))) for _ in range(n_captions)
    ]
    captions = [caption(c, p, rng) for c, p in cap_attrs]
    cap_images = np.stack([draw_image(c, p, rng) for c, p in cap_attrs]) if cap_attrs else None
    item_colour = rng.integers(0, len(COLOUR_NAMES), n_items)
    item_texts, item_images = [], []
    for i in range(n_items):
        c = COLOUR_NAMES[item_colour[i]]
        p = str(rng.choice(POSITION_NAMES))
        item_texts.append(f"{rng.choice(COLOURS[c][1])} {rng.choice(CATEGORIES)} with a {p} logo")
        item_images.append(draw_image(c, p, rng))
    sequences = []
    for _ in range(n_users):
        liked = rng.choice(len(COLOUR_NAMES), size=2, replace=False)
        pool = np.flatnonzero(np.isin(item_colour, liked))
        if len(pool) == 0:
            pool = np.arange(n_items)
        length = int(rng.integers(3, 20))
        sequences.append(rng.choice(pool, size=length).astype(np.int64))
    return PretrainCorpus(
        texts=texts,
        captions=captions,
        caption_images=cap_images if cap_images is not None else np.zeros((0, 32, 32, 3), np.uint8),
        item_texts=item_texts,
        item_images=np.stack(item_images) if item_images else np.zeros((0, 32, 32, 3), np.uint8),
        item_has_image=rng.random(n_items) < image_share,
        sequences=sequences,
    )


def synthetic_retrieval_set(seed: int = 1) -> RetrievalSet:
    """One fresh image–caption pair per colour × position (32 pairs, chance recall@1 = 1/32)."""
    rng = np.random.default_rng(seed)
    combos = [(c, p) for c in COLOUR_NAMES for p in POSITION_NAMES]
    return RetrievalSet(
        captions=[caption(c, p, rng) for c, p in combos],
        images=np.stack([draw_image(c, p, rng) for c, p in combos]),
    )
