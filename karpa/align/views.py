"""Build the aligned views from accepted canonical tables (pure functions on DataFrames).

Views written for later stages:
- items: one row per item with its content text, its first image (decoded to a fixed size)
  and an integer index used by every model;
- image_text: every image with its item's text as the caption;
- sequences: per user, the chronological de-duplicated item sequence and its
  leave-last-out targets;
- messages / news: text, label, split and the entities they link to;
- pretrain_texts: the texts pretraining may read (training split only unless transductive).
"""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pandas as pd
from PIL import Image

from karpa.align.splits import TRAIN, hash_unit, leave_last_out, source_split

log = logging.getLogger(__name__)


def item_text(items: pd.DataFrame) -> pd.Series:
    """The content text of each item: title, description and category, in one string."""
    parts = [items[c].fillna("").astype(str) for c in ("title", "description", "category")]
    text = parts[0] + ". " + parts[1] + " (" + parts[2] + ")"
    return text.str.replace(r"\s+", " ", regex=True).str.strip()


def decode_image(data: bytes, size: int) -> bytes | None:
    """RGB pixels, resized to size×size, as raw (H, W, 3) uint8 bytes; None if undecodable."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8).tobytes()
    except Exception:  # validation already quarantined what it could see
        return None


def item_index(items: pd.DataFrame) -> dict[str, int]:
    """Item id -> the integer index every model uses: 0..n-1 in item_id order."""
    ordered = items["item_id"].sort_values()
    return dict(zip(ordered, range(len(ordered)), strict=True))


# The image_text view's columns.
PAIR_COLUMNS = ["image_id", "item_idx", "item_id", "caption", "pixels", "split"]


def build_items(items: pd.DataFrame, event_counts: pd.Series) -> pd.DataFrame:
    """The items view but its images (`add_first_images`): indexed 0..n-1 in item_id
    order, with its content text and `n_events` from `event_counts` (events per item id)."""
    view = items.sort_values("item_id").reset_index(drop=True)
    view = view.assign(item_idx=np.arange(len(view), dtype=np.int64), text=item_text(view))
    view["n_events"] = view["item_id"].map(event_counts).fillna(0).astype("int64")
    return view


def image_pairs(
    images: pd.DataFrame, view: pd.DataFrame, salt: str, held_out_share: float
) -> pd.DataFrame:
    """The image_text view before its images are decoded: every image of a known item,
    in image_id order, with its item's index, text (the caption) and split; indexed by
    the image's row in `images`. `decode_pairs` then keeps the images that decode."""
    index = dict(zip(view["item_id"], view["item_idx"], strict=True))
    pairs = images[images["item_id"].isin(index)].sort_values("image_id").copy()
    pairs["item_idx"] = pairs["item_id"].map(index).astype("int64")
    # Held-out pairs are chosen by item, so no held-out image's item text is ever paired
    # with an image during pretraining: the zero-shot retrieval test stays honest.
    held = hash_unit(pairs["item_id"], salt + ":pairs") < held_out_share
    pairs["split"] = np.where(held, "heldout", TRAIN)
    pairs["caption"] = pairs["item_idx"].map(view.set_index("item_idx")["text"])
    return pairs


def decode_pairs(pairs: pd.DataFrame, blobs: list[bytes], image_size: int) -> pd.DataFrame:
    """The rows of `pairs` whose image (`blobs`, in their order) decodes, with its pixels,
    as image_text rows."""
    decoded = pairs.assign(pixels=[decode_image(b, image_size) for b in blobs])
    return decoded[decoded["pixels"].notna()][PAIR_COLUMNS].reset_index(drop=True)


def add_first_images(view: pd.DataFrame, first: pd.Series) -> pd.DataFrame:
    """The items view with each item's first decoded image (`first`: pixels by item
    index, in image_id order), where it has one."""
    view = view.assign(pixels=view["item_idx"].map(first))
    view["has_image"] = view["pixels"].notna()
    keep = [
        "item_idx",
        "item_id",
        "title",
        "text",
        "category",
        "attributes",
        "has_image",
        "pixels",
        "n_events",
        "created_at",
    ]
    return view[keep]


def sessionise(events: pd.DataFrame, gap_minutes: int) -> pd.Series:
    """Session ids: the source's where present, else a new session after a gap of inactivity."""
    sessions = events["session_id"].copy()
    missing = sessions.isna()
    if not missing.any():
        return sessions
    ordered = events[["user_id", "ts"]].sort_values(["user_id", "ts"])
    gap = ordered.groupby("user_id")["ts"].diff() > pd.Timedelta(minutes=gap_minutes)
    number = gap.groupby(ordered["user_id"]).cumsum().reindex(events.index)[missing]
    # Only the rows without a session get a derived id: not one new string per event
    # (a million at 10x the demo world) to keep a few of them.
    sessions[missing] = events["user_id"][missing] + "#" + number.astype(str)
    return sessions


def build_sequences(
    events: pd.DataFrame, item_index: dict[str, int], gap_minutes: int
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per-user interaction sequences with leave-last-out targets, and orphan counts.

    Repeated events on the same item in a row (view, click, cart, purchase of one item)
    are one interaction: the recommender predicts the next *item*, not the next event.
    """
    orphans = {"event_unknown_item": int((~events["item_id"].isin(item_index)).sum())}
    known = events[events["item_id"].isin(item_index)]
    before = len(known)
    known = known.drop_duplicates(["user_id", "item_id", "event_type", "ts"])
    orphans["event_exact_duplicate"] = before - len(known)
    known["session"] = sessionise(known, gap_minutes)
    known["item_idx"] = known["item_id"].map(item_index).astype("int64")
    known = known.sort_values(["user_id", "ts", "item_idx"], kind="stable")

    rows = []
    for user, group in known.groupby("user_id", sort=True):
        idx = group["item_idx"].to_numpy()
        keep = np.ones(len(idx), dtype=bool)
        keep[1:] = idx[1:] != idx[:-1]
        seq = idx[keep].tolist()
        train, val, test = leave_last_out(seq)
        rows.append(
            {
                "user_id": user,
                "items": seq,
                "train_items": train,
                "val_item": val,
                "test_item": test,
                "n_interactions": len(seq),
                "n_sessions": int(group["session"].nunique()),
                "last_ts": group["ts"].max(),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "user_id",
            "items",
            "train_items",
            "val_item",
            "test_item",
            "n_interactions",
            "n_sessions",
            "last_ts",
        ],
    )
    frame["val_item"] = frame["val_item"].astype("Int64")
    frame["test_item"] = frame["test_item"].astype("Int64")
    return frame, orphans


def recent_items(
    messages: pd.DataFrame, events: pd.DataFrame, item_index: dict[str, int], n: int
) -> list[list[int]]:
    """For each message, the sender's last `n` distinct items before the message was sent.

    `events` need only hold the senders' events, all of each sender's (one batch of users
    gives the same answer for its senders as the whole table)."""
    known = events[events["item_id"].isin(item_index)].sort_values("ts", kind="stable")
    known = known.assign(t=_micros(known["ts"]))
    by_user = {
        u: (g["t"].to_numpy(), g["item_id"].map(item_index).to_numpy())
        for u, g in known.groupby("user_id")
    }
    sent = _micros(messages["ts"])
    out: list[list[int]] = []
    for user, ts, missing in zip(messages["user_id"], sent, messages["ts"].isna(), strict=True):
        if user is None or pd.isna(user) or user not in by_user or missing:
            out.append([])
            continue
        times, items = by_user[user]
        end = int(np.searchsorted(times, ts, side="left"))
        recent: list[int] = []
        for item in items[:end][::-1]:
            if item not in recent:
                recent.append(int(item))
            if len(recent) == n:
                break
        out.append(recent)
    return out


def _micros(ts: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 microseconds (NaT becomes the smallest int64)."""
    return ts.dt.tz_convert(None).to_numpy(dtype="datetime64[us]").astype(np.int64)


def _word_counts(text: pd.Series, chunk: int = 10_000) -> pd.Series:
    """Whitespace-separated words per text, `chunk` texts at a time: splitting makes a
    list of words per text, and only the counts are kept, so a chunk's lists are all that
    is held at once (not those of all 200,000 messages of 10x the demo world)."""
    parts = [
        text.iloc[i : i + chunk].fillna("").str.split().str.len()
        for i in range(0, len(text), chunk)
    ]
    counts = pd.concat(parts) if parts else pd.Series([], index=text.index, dtype="int64")
    return counts.astype("int64")


def build_messages(
    messages: pd.DataFrame,
    salt: str,
    val_share: float,
    test_share: float,
    split_hint: str | None = None,
    stratify: bool = False,
) -> pd.DataFrame:
    """The messages view in message_id order, but for `recent_items`: that column needs
    the senders' events, which alignment reads a batch of users at a time (the stage
    fills it with `recent_items`, batch by batch, and puts it last)."""
    view = messages.sort_values("message_id").reset_index(drop=True)
    view["split"] = source_split(
        view["message_id"],
        split_hint,
        salt,
        val_share,
        test_share,
        view["intent"] if stratify else None,
    )
    view["n_words"] = _word_counts(view["text"])
    return view[["message_id", "user_id", "text", "ts", "intent", "split", "n_words"]]


def build_news(
    news: pd.DataFrame,
    categories: list[str],
    salt: str,
    val_share: float,
    test_share: float,
    split_hint: str | None = None,
    stratify: bool = False,
) -> pd.DataFrame:
    view = news.sort_values("news_id").reset_index(drop=True)
    view["split"] = source_split(
        view["news_id"],
        split_hint,
        salt,
        val_share,
        test_share,
        view["sentiment"] if stratify else None,
    )
    body = view["body"].fillna("")
    view["text"] = (view["headline"].fillna("") + np.where(body != "", ". " + body, "")).str.strip()
    lowered = view["text"].str.lower()
    view["categories"] = [[c for c in categories if c.lower() in t] for t in lowered]
    view["entities"] = [list(e) if e is not None else [] for e in view["entities"]]
    return view[["news_id", "ts", "text", "sentiment", "split", "entities", "categories"]]


def pretrain_texts(
    items: pd.DataFrame, messages: pd.DataFrame, news: pd.DataFrame, transductive: bool
) -> pd.DataFrame:
    """Texts pretraining may read. Without `transductive`, validation and test texts of the
    labeled tasks never enter pretraining (their labels never do in any mode)."""
    parts = [pd.DataFrame({"text": items["text"], "origin": "item"})]
    for name, frame in (("message", messages), ("news", news)):
        allowed = frame if transductive else frame[frame["split"] == TRAIN]
        parts.append(pd.DataFrame({"text": allowed["text"], "origin": name}))
    texts = pd.concat(parts, ignore_index=True)
    return texts[texts["text"].fillna("").str.strip() != ""].reset_index(drop=True)


def attribute_keys(items: pd.DataFrame) -> list[str]:
    """The attribute names present in the items' JSON attributes (for the coverage report)."""
    keys: set[str] = set()
    for raw in items["attributes"].dropna():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            keys.update(value)
    return sorted(keys)
