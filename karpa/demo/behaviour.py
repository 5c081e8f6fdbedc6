"""Users and their behaviour log, `events.parquet`.

Each user prefers a few categories and colours. They browse in sessions; each item they
look at starts a funnel (view → click → cart → purchase → rating) that goes deeper when
the item matches their taste. Buying clothing is often followed by looking at an accessory
of the same colour. Item popularity has a long tail, and cold items never appear.

Generation is vectorised and runs over users in chunks, each chunk written as Parquet row
groups, so memory stays bounded at any scale. Rows are ordered by user, then time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from karpa.demo import vocabulary as V
from karpa.demo.catalog import Catalog
from karpa.demo.sampling import draw_grouped, draw_rows, pick, row_cumulative

log = logging.getLogger(__name__)

CHUNK_USERS = 2000
# Expected events per item a user looks at, to size activity for a target event count.
EVENTS_PER_FOCUS = 1.91
CATEGORY_BOOST = 4.0
COLOUR_BOOST = 5.0
# Chance that the look after a clothing purchase goes to a same-colour accessory.
FOLLOW_UP_SHARE = 0.6
NEW_SESSION_SHARE = 0.4
UNKNOWN_ITEM_SHARE = 0.002
MISSING_USER_SHARE = 0.001
SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("event_type", pa.string()),
        pa.field("value", pa.float64()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("session_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class Users:
    """Users' latent tastes and activity, indexed by user number."""

    user_ids: list[str]
    fav_category: np.ndarray  # (U, n_categories) bool
    fav_colour: np.ndarray  # (U, n_colours) bool
    looks: np.ndarray  # (U,) items each user looks at over the window

    def __len__(self) -> int:
        return len(self.user_ids)


def _favourites(rng: np.random.Generator, n: int, k: int, counts: np.ndarray) -> np.ndarray:
    """(n, k) boolean: for each row, `counts[row]` distinct columns set."""
    ranks = np.argsort(np.argsort(rng.random((n, k)), axis=1), axis=1)
    return ranks < counts[:, None]


def build_users(rng: np.random.Generator, n: int, events_per_user: float) -> Users:
    """Draw n users: 1-3 favourite categories, 1-2 favourite colours, heavy-tailed activity."""
    n_cat = rng.choice([1, 2, 3], size=n, p=[0.3, 0.5, 0.2])
    n_col = rng.choice([1, 2], size=n, p=[0.5, 0.5])
    sigma = 0.8
    mean_looks = events_per_user / EVENTS_PER_FOCUS
    looks = np.maximum(1, np.rint(mean_looks * rng.lognormal(-(sigma**2) / 2, sigma, n)))
    return Users(
        user_ids=[f"U{u:05d}" for u in range(n)],
        fav_category=_favourites(rng, n, len(V.CATEGORIES), n_cat),
        fav_colour=_favourites(rng, n, len(V.COLOURS), n_col),
        looks=looks.astype(np.int64),
    )


def _follow_ups(trigger: np.ndarray, same_user_next: np.ndarray, coin: np.ndarray) -> np.ndarray:
    """Which looks are replaced by an accessory because the previous look bought clothing.

    A replaced look is an accessory, so it cannot trigger the next one: iterate to the
    fixed point instead of looping over looks (chains are short).
    """
    replaced = np.zeros(len(trigger), dtype=bool)
    while True:
        nxt = np.zeros_like(replaced)
        nxt[1:] = trigger[:-1] & ~replaced[:-1] & same_user_next & coin[1:]
        if np.array_equal(nxt, replaced):
            return replaced
        replaced = nxt


def _funnel(rng: np.random.Generator, match: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How deep each look goes: (depth 1-5, bought), each (F,). Taste makes clicks likelier."""
    u = rng.random((len(match), 4))
    click = u[:, 0] < 0.4 + 0.15 * match
    cart = click & (u[:, 1] < 0.35)
    purchase = cart & (u[:, 2] < 0.6)
    rating = purchase & (u[:, 3] < 0.35)
    return 1 + click.astype(np.int64) + cart + purchase + rating, purchase


def _timeline(
    rng: np.random.Generator, look_user: np.ndarray, same_user_next: np.ndarray, depth: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Sessions and timestamps for looks that expand into `depth` events each.

    Returns, per event (E,): its look, its stage (0 view .. 4 rating), its chunk-local
    session and its time in microseconds; and the number of sessions.
    """
    n = len(depth)
    new_session = np.ones(n, dtype=bool)
    new_session[1:] = ~same_user_next | (rng.random(n - 1) < NEW_SESSION_SHARE)
    session = np.cumsum(new_session) - 1  # (F,)
    session_user = look_user[new_session]
    # Session starts: uniform over the window, in increasing order within each user.
    starts = rng.random(len(session_user))
    starts = starts[np.lexsort((starts, session_user))]
    start_us = V.EPOCH_US + (starts * (V.WINDOW_DAYS - 1) * V.DAY_US).astype(np.int64)

    look = np.repeat(np.arange(n), depth)  # (E,)
    first_event = np.cumsum(depth) - depth
    stage = np.arange(len(look)) - first_event[look]
    # Seconds between events: short inside a funnel, longer between looks.
    gaps = np.where(
        stage == 0, rng.exponential(90.0, len(look)), 5.0 + rng.exponential(40.0, len(look))
    )
    ev_session = session[look]
    session_first = first_event[new_session]
    gaps[session_first] = 0.0
    elapsed = np.cumsum(gaps)
    offset = elapsed - elapsed[session_first][ev_session]
    ts = start_us[ev_session] + (offset * 1_000_000).astype(np.int64)
    return look, stage, ev_session, ts, len(session_user)


class EventWriter:
    """Generates one chunk of users at a time and appends it to `events.parquet`."""

    def __init__(self, rng: np.random.Generator, catalog: Catalog, users: Users):
        self.rng, self.catalog, self.users = rng, catalog, users
        n_col = len(V.COLOURS)
        self.cell_of_item = catalog.category * n_col + catalog.colour
        n_cells = len(V.CATEGORIES) * n_col
        self.cell_mass = np.bincount(
            self.cell_of_item, weights=catalog.popularity, minlength=n_cells
        )
        self.cell_category = np.arange(n_cells) // n_col
        self.cell_colour = np.arange(n_cells) % n_col
        is_clothing = np.isin(np.array(V.CATEGORIES), V.CATEGORY_GROUPS["clothing"])
        self.item_clothing = is_clothing[catalog.category]
        accessory = ~self.item_clothing & (catalog.popularity > 0)
        self.accessory_group = np.where(accessory, catalog.colour, n_col)
        self.accessory_weight = np.where(accessory, catalog.popularity, 0.0)
        self.item_ids = np.array(catalog.item_ids, dtype=object)
        self.user_ids = np.array(users.user_ids, dtype=object)
        self.sessions = 0
        self.rows = 0
        self.unknown_rows: list[int] = []
        self.unknown_ids: list[str] = []
        self.missing_user_rows: list[int] = []

    def chunk(self, u0: int, u1: int) -> pa.Table:
        """Events of users u0..u1-1 as a table in SCHEMA."""
        rng = self.rng
        look_user, item, match = self._looks(u0, u1)
        depth, purchase = _funnel(rng, match)
        same_user_next = look_user[1:] == look_user[:-1]
        self._follow_clothing_with_accessories(item, purchase, same_user_next)
        look, stage, ev_session, ts, n_sessions = _timeline(rng, look_user, same_user_next, depth)

        quantity = 1.0 + (rng.random(len(item)) < 0.15) + (rng.random(len(item)) < 0.05)
        stars = np.clip(np.rint(3 + 0.8 * match + rng.normal(0, 0.9, len(item))), 1, 5)
        value = np.full(len(look), np.nan)
        value = np.where((stage == 2) | (stage == 3), quantity[look], value)
        value = np.where(stage == 4, stars[look], value)

        user_ids = self.user_ids[look_user[look]]
        item_ids = self.item_ids[item[look]]
        session_ids = np.array(
            [f"S{self.sessions + s:07d}" for s in range(n_sessions)], dtype=object
        )[ev_session]
        self.sessions += n_sessions
        self._plant(user_ids, item_ids)
        self.rows += len(look)
        return pa.table(
            {
                "user_id": pa.array(user_ids, type=pa.string()),
                "item_id": pa.array(item_ids, type=pa.string()),
                "event_type": pa.array(
                    np.array(V.EVENT_TYPES, dtype=object)[stage], type=pa.string()
                ),
                "value": pa.array(value, type=pa.float64(), from_pandas=True),
                "ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
                "session_id": pa.array(session_ids, type=pa.string()),
            },
            schema=SCHEMA,
        )

    def _looks(self, u0: int, u1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which items users u0..u1-1 look at, in order: (user, item, taste match), each (F,).

        A look first picks a (category, colour) cell by the cell's popularity times the
        user's taste, then an item in the cell by popularity. Match counts how many of the
        item's category and colour the user favours (0-2).
        """
        cat, users = self.catalog, self.users
        fav_cat, fav_col = users.fav_category[u0:u1], users.fav_colour[u0:u1]
        weights = (
            self.cell_mass[None, :]
            * (1 + CATEGORY_BOOST * fav_cat[:, self.cell_category])
            * (1 + COLOUR_BOOST * fav_col[:, self.cell_colour])
        )  # (U, cells)
        look_user = np.repeat(np.arange(u1 - u0), users.looks[u0:u1])  # (F,)
        cell = draw_rows(row_cumulative(weights), look_user, self.rng)
        item = draw_grouped(self.cell_of_item, cat.popularity, cell, self.rng)
        match = (
            fav_cat[look_user, cat.category[item]].astype(np.int64)
            + fav_col[look_user, cat.colour[item]]
        )
        return look_user + u0, item, match

    def _follow_clothing_with_accessories(
        self, item: np.ndarray, purchase: np.ndarray, same_user_next: np.ndarray
    ) -> None:
        """Replace, in place, some looks after a clothing purchase by a same-colour accessory."""
        replaced = _follow_ups(
            purchase & self.item_clothing[item],
            same_user_next,
            self.rng.random(len(item)) < FOLLOW_UP_SHARE,
        )
        idx = np.flatnonzero(replaced)
        colour = self.catalog.colour[item[idx - 1]]
        accessory = draw_grouped(self.accessory_group, self.accessory_weight, colour, self.rng)
        item[idx] = np.where(accessory >= 0, accessory, item[idx])

    def _plant(self, user_ids: np.ndarray, item_ids: np.ndarray) -> None:
        """Unknown item ids and missing user ids, on disjoint rows; recorded 1-based."""
        n = len(item_ids)
        unknown = pick(self.rng, n, UNKNOWN_ITEM_SHARE, np.arange(n))
        missing = pick(self.rng, n, MISSING_USER_SHARE, np.setdiff1d(np.arange(n), unknown))
        # Ids from a range the catalogue never uses (it numbers items from I000000 up).
        fake = [f"I9{x:05d}" for x in self.rng.integers(0, 100_000, size=len(unknown))]
        item_ids[unknown] = fake
        user_ids[missing] = None
        self.unknown_rows += (unknown + self.rows + 1).tolist()
        self.unknown_ids += fake
        self.missing_user_rows += (missing + self.rows + 1).tolist()


def write_events(
    rng: np.random.Generator, out: Path, catalog: Catalog, users: Users
) -> tuple[int, dict[str, dict[str, list]]]:
    """Write `events.parquet`; returns (row count, defects)."""
    if len(catalog) >= 900_000:
        raise ValueError("the demo catalogue must stay below 900,000 items")
    writer = EventWriter(rng, catalog, users)
    path = out / "events.parquet"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as pw:
            for u0 in range(0, len(users), CHUNK_USERS):
                pw.write_table(
                    writer.chunk(u0, min(u0 + CHUNK_USERS, len(users))), row_group_size=131_072
                )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.debug("events.parquet: %d rows in %d sessions", writer.rows, writer.sessions)
    return writer.rows, {
        "events_unknown_item": {"rows": writer.unknown_rows, "item_ids": writer.unknown_ids},
        "events_missing_user": {"rows": writer.missing_user_rows},
    }
