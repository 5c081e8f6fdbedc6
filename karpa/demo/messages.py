"""Customer-service chat, `messages.jsonl`: intents carried by long-tailed surface forms.

A message states its intent through two slots (see `intents`), drawn with a Zipf-like
tail so that ten labeled examples per class see mostly head forms while the unlabeled
bulk shows every form. Around the slots sits content shared by all intents: greetings,
item mentions (by title words or attributes), order numbers, prices, dates, quantities.
Some messages state only one slot, some borrow the issue of a confusable intent, and a
few labels are wrong, so no classifier reaches 100%. About one in five is labeled.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from karpa.demo import intents as I
from karpa.demo import pii
from karpa.demo import vocabulary as V
from karpa.demo.catalog import Catalog
from karpa.demo.files import atomic_open, iso_seconds_many
from karpa.demo.forms import SlotSampler
from karpa.demo.sampling import pick

log = logging.getLogger(__name__)

OOS_SHARE = 0.08
LABELED_SHARE = 0.2
USER_SHARE = 0.7
ONE_SLOT_SHARE = 0.3
CONFUSION_SHARE = 0.06
LABEL_NOISE_SHARE = 0.025
FORM_EXPONENT = 0.7
PII_SHARES = {"email": 0.01, "phone": 0.01, "card": 0.005, "iban": 0.004}
EMPTY_SHARE = 0.002

ARRANGEMENTS = ("{req}, {iss}", "{iss}. {req}?", "{req}. {iss}", "{iss} - {req}")
ITEM_TEMPLATES = ("its the {}", "about the {}", "the {}", "re: {}", "for the {}", "i bought the {}")
ORDER_TEMPLATES = ("order #{}", "order no {}", "ref {}", "my order #{}", "order number {}")
PRICE_TEMPLATES = ("i paid {}", "it cost {}", "total was {}")
DATE_TEMPLATES = ("ordered on {}", "since {}", "placed {}", "on {}")
QUANTITY_TEMPLATES = ("{} of them", "qty {}", "x{}", "{} items")
DATE_FORMATS = ("%d %B", "%d/%m", "%Y-%m-%d", "%b %d", "%d/%m/%Y")
# Chance of each kind of shared context, for in-scope and out-of-scope messages.
CONTEXT_SHARES = {
    "item": (0.5, 0.08),
    "order": (0.45, 0.03),
    "price": (0.15, 0.03),
    "date": (0.2, 0.03),
    "quantity": (0.1, 0.02),
}


def _item_mentions(rng: np.random.Generator, catalog: Catalog, items: np.ndarray) -> list[str]:
    """How customers refer to items: by title words or by attributes in their own words."""
    kind = rng.integers(0, 3, size=len(items))
    u = rng.random((len(items), 3))
    out = []
    for i, k, (a, b, c) in zip(items.tolist(), kind.tolist(), u.tolist(), strict=True):
        cat = V.CATEGORY_FORMS[V.CATEGORIES[catalog.category[i]]]
        if k == 0:
            out.append(catalog.titles[i].split(" ", 1)[1].lower())
        elif k == 1:
            col = V.COLOUR_FORMS[V.COLOURS[catalog.colour[i]]]
            out.append(f"{col[int(a * len(col))]} {cat[int(b * len(cat))]}")
        else:
            pat = V.PATTERN_FORMS[V.PATTERNS[catalog.pattern[i]]]
            out.append(
                f"{pat[int(a * len(pat))]} {V.MATERIALS[catalog.material[i]]} "
                f"{cat[int(c * len(cat))]}"
            )
    return out


def _contexts(
    rng: np.random.Generator, catalog: Catalog, oos: np.ndarray, ts_us: np.ndarray
) -> list[str]:
    """Shared, intent-free context per message: item, order id, price, date, quantity."""
    n = len(oos)
    has = {k: rng.random(n) < np.where(oos, s[1], s[0]) for k, s in CONTEXT_SHARES.items()}
    warm = np.flatnonzero(~catalog.cold)
    p = catalog.popularity[warm] / catalog.popularity[warm].sum()
    items = warm[rng.choice(len(warm), size=n, p=p)]
    mentions = _item_mentions(rng, catalog, items)
    order_ids = rng.integers(10_000, 100_000, size=n)
    currency = rng.integers(0, 3, size=n)
    days_back = rng.integers(1, 30, size=n)
    tpl = rng.integers(0, 60, size=(n, 6))
    out = []
    for j in range(n):
        parts = []
        if has["item"][j]:
            parts.append(ITEM_TEMPLATES[tpl[j, 0] % len(ITEM_TEMPLATES)].format(mentions[j]))
        if has["order"][j]:
            parts.append(ORDER_TEMPLATES[tpl[j, 1] % len(ORDER_TEMPLATES)].format(order_ids[j]))
        if has["price"][j]:
            price = float(catalog.price[items[j]])
            text = (f"£{price:.2f}", f"${price:.2f}", f"{price:.2f} eur")[currency[j]]
            parts.append(PRICE_TEMPLATES[tpl[j, 2] % len(PRICE_TEMPLATES)].format(text))
        if has["date"][j]:
            day = datetime.fromtimestamp(
                int(ts_us[j]) // 1_000_000 - int(days_back[j]) * 86400, tz=UTC
            )
            text = day.strftime(DATE_FORMATS[tpl[j, 3] % len(DATE_FORMATS)]).lower()
            parts.append(DATE_TEMPLATES[tpl[j, 4] % len(DATE_TEMPLATES)].format(text))
        if has["quantity"][j]:
            parts.append(
                QUANTITY_TEMPLATES[tpl[j, 5] % len(QUANTITY_TEMPLATES)].format(1 + tpl[j, 5] % 4)
            )
        out.append(", ".join(parts))
    return out


def _intent_prior(rng: np.random.Generator) -> np.ndarray:
    """Class shares: out-of-scope fixed, in-scope classes within ±10% of each other's."""
    in_scope = 1 + rng.uniform(-0.1, 0.1, size=len(I.IN_SCOPE))
    in_scope *= (1 - OOS_SHARE) / in_scope.sum()
    return np.append(in_scope, OOS_SHARE)  # `oos` is the last intent


def write_messages(
    rng: np.random.Generator, out: Path, catalog: Catalog, user_ids: list[str], n: int
) -> tuple[int, dict[str, dict], dict[str, dict]]:
    """Write `messages.jsonl`; returns (row count, defects, label noise)."""
    sampler = SlotSampler(I.SLOTS, rng, FORM_EXPONENT)
    n_intents = len(I.INTENTS)
    intent = rng.choice(n_intents, size=n, p=_intent_prior(rng))
    oos = intent == n_intents - 1
    confusable = np.array([I.INTENTS.index(I.CONFUSABLE.get(x, x)) for x in I.INTENTS])
    issue_intent = np.where(rng.random(n) < CONFUSION_SHARE, confusable[intent], intent)
    req_form = sampler.draw(2 * intent, rng)
    iss_form = sampler.draw(2 * issue_intent + 1, rng)
    # 0: both slots; 1: only the request; 2: only the issue (with an intent-free filler).
    mode = np.where(rng.random(n) < ONE_SLOT_SHARE, rng.integers(1, 3, size=n), 0)
    ts_us = np.sort(V.EPOCH_US + (rng.random(n) * V.WINDOW_DAYS * V.DAY_US).astype(np.int64))
    contexts = _contexts(rng, catalog, oos, ts_us)
    u = rng.integers(0, 1 << 30, size=(n, 5))
    context_first = rng.random(n) < 0.3
    capitalise = rng.random(n) < 0.35

    ids = [f"M{j + 1:07d}" for j in range(n)]
    pool = np.arange(n)
    pii_rows: dict[str, np.ndarray] = {}
    for kind, share in PII_SHARES.items():
        taken = np.concatenate([np.zeros(0, dtype=np.int64), *pii_rows.values()])
        pii_rows[kind] = pick(rng, n, share, np.setdiff1d(pool, taken))
    pii_kind = {int(j): kind for kind, rows in pii_rows.items() for j in rows}
    empty = pick(rng, n, EMPTY_SHARE, np.setdiff1d(pool, list(pii_kind)))
    labeled = rng.random(n) < LABELED_SHARE
    labeled[empty] = False
    noisy = pick(rng, int(labeled.sum()), LABEL_NOISE_SHARE, np.flatnonzero(labeled))
    label = intent.copy()
    label[noisy] = (intent[noisy] + rng.integers(1, n_intents, size=len(noisy))) % n_intents
    has_user = rng.random(n) < USER_SHARE
    user = rng.integers(0, len(user_ids), size=n)
    empty_set = set(empty.tolist())

    stamps = iso_seconds_many(ts_us)
    pii_values: dict[str, list[str]] = {kind: [] for kind in PII_SHARES}
    with atomic_open(out / "messages.jsonl", "w") as f:
        for j in range(n):
            said = ""
            if j in pii_kind:
                said, value = pii.disclosure(pii_kind[j], rng)
                pii_values[pii_kind[j]].append(value)
            text = (
                ""
                if j in empty_set
                else _compose(
                    sampler,
                    int(intent[j]),
                    int(issue_intent[j]),
                    int(req_form[j]),
                    int(iss_form[j]),
                    int(mode[j]),
                    u[j],
                    contexts[j],
                    bool(context_first[j]),
                    bool(capitalise[j]),
                    said,
                )
            )
            record = {
                "message_id": ids[j],
                "user_id": user_ids[user[j]] if has_user[j] else None,
                "text": text,
                "ts": stamps[j],
                "intent": I.INTENTS[label[j]] if labeled[j] else None,
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    defects = {
        "messages_pii": {
            kind: {
                "count": len(rows),
                "message_ids": [ids[j] for j in rows],
                "values": pii_values[kind],
            }
            for kind, rows in pii_rows.items()
        },
        "messages_empty_text": {
            "message_ids": [ids[j] for j in empty],
            "rows": [int(j) + 1 for j in empty],
        },
    }
    noise = {
        "messages_label_noise": {
            "message_ids": [ids[j] for j in noisy],
            "true_intents": [I.INTENTS[intent[j]] for j in noisy],
        }
    }
    log.debug("messages.jsonl: %d messages, %d labeled", n, int(labeled.sum()))
    return n, defects, noise


def _compose(
    sampler: SlotSampler,
    intent: int,
    issue_intent: int,
    req_form: int,
    iss_form: int,
    mode: int,
    u: np.ndarray,
    context: str,
    context_first: bool,
    capitalise: bool,
    disclosure: str,
) -> str:
    """One message's text from its drawn parts."""
    req = sampler.text(2 * intent, req_form)
    iss = sampler.text(2 * issue_intent + 1, iss_form)
    filler = I.FILLERS[u[0] % len(I.FILLERS)]
    if mode == 0:
        core = ARRANGEMENTS[u[1] % len(ARRANGEMENTS)].format(req=req, iss=iss)
    elif mode == 1:
        core = req
    else:
        core = f"{filler}, {iss}"
    segments = [context, core] if context_first else [core, context]
    segments += [disclosure, I.CLOSINGS[u[2] % len(I.CLOSINGS)]]
    greeting = I.GREETINGS[u[3] % len(I.GREETINGS)]
    text = ""
    for seg in filter(None, segments):
        # A question mark already ends its sentence; anything else gets a full stop.
        text = f"{text}{' ' if text.endswith('?') else '. ' if text else ''}{seg}"
    if greeting:
        text = f"{greeting}, {text}" if u[4] % 2 else f"{greeting} {text}"
    return text[:1].upper() + text[1:] if capitalise else text
