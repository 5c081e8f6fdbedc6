"""Finance news, `news.csv`: headlines about the companies that sell the item categories.

A headline names a company and one of its categories; its sentiment is carried by two
phrase slots (the market's *move* and its *reason*), each with eight forms drawn with a long
tail. Neutral news is the most common. Some headlines pair a move of one sentiment with a
reason of another (labeled by the move, the main clause), and a few labels are wrong.
About a quarter is labeled; most headlines have a short body that adds an analyst's view.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from karpa.demo import vocabulary as V
from karpa.demo.files import atomic_open, iso_seconds_many
from karpa.demo.forms import Slot, SlotSampler
from karpa.demo.sampling import pick

log = logging.getLogger(__name__)

SENTIMENT_SHARES = {"positive": 0.28, "negative": 0.22, "neutral": 0.50}
LABELED_SHARE = 0.25
MIXED_SHARE = 0.08
LABEL_NOISE_SHARE = 0.02
BODY_SHARE = 0.7
SECOND_COMPANY_SHARE = 0.3
FORM_EXPONENT = 0.7
# Headlines are edited: their phrases are never misspelled.
AS_WRITTEN = np.array([1.0, 0.0, 0.0])

_PHRASES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "positive": (
        [
            "shares soar",
            "stock jumps",
            "rallies",
            "beats forecasts",
            "posts record sales",
            "raises its outlook",
            "surges",
            "tops estimates",
        ],
        [
            "on strong demand for {cat}",
            "after a blockbuster {cat} launch",
            "as {cat} sales boom",
            "thanks to brisk {cat} orders",
            "amid a sellout {cat} season",
            "on fatter {cat} margins",
            "after {cat} exports climb",
            "as shoppers snap up {cat}",
        ],
        [
            "Analysts expect further gains.",
            "Brokers raised their price targets.",
            "Investors cheered the update.",
            "The company lifted its dividend.",
            "Management sounded upbeat on the call.",
            "Momentum looks set to continue.",
            "Several funds added to their stakes.",
            "Margins widened for a third quarter.",
        ],
    ),
    "negative": (
        [
            "shares slump",
            "stock tumbles",
            "misses forecasts",
            "cuts guidance",
            "plunges",
            "issues profit warning",
            "sinks",
            "falls short of estimates",
        ],
        [
            "after a {cat} recall",
            "as {cat} demand dries up",
            "on weak {cat} sales",
            "amid a {cat} supply crunch",
            "as unsold {cat} piles up",
            "as {cat} returns spike",
            "over a faulty {cat} batch",
            "as rivals undercut its {cat}",
        ],
        [
            "Analysts warned of more pain ahead.",
            "Brokers cut their price targets.",
            "Investors fled the stock.",
            "The dividend was suspended.",
            "Management struck a cautious tone.",
            "Credit agencies put it on watch.",
            "Several funds trimmed their stakes.",
            "Margins shrank for a third quarter.",
        ],
    ),
    "neutral": (
        [
            "unveils a new {cat} range",
            "to open a flagship store",
            "names new finance chief",
            "schedules its earnings call",
            "moves its headquarters",
            "confirms dividend date",
            "launches a {cat} line",
            "reorganises its {cat} division",
        ],
        [
            "ahead of the spring season",
            "as planned",
            "in line with guidance",
            "with the board's backing",
            "for the coming quarter",
            "according to a filing",
            "effective next month",
            "following a board review",
        ],
        [
            "Analysts kept their estimates unchanged.",
            "No further details were given.",
            "The shares were little changed.",
            "The move had been widely expected.",
            "A full report is due next month.",
            "Trading volumes were average.",
            "The company declined to comment further.",
            "Terms were not disclosed.",
        ],
    ),
}
SENTIMENTS = tuple(SENTIMENT_SHARES)
# Slot rows: sentiment s's move is row 3*s, its reason 3*s + 1, its analyst view 3*s + 2.
SLOTS = tuple(
    Slot(f"{s}.{part}", tuple(forms))
    for s in SENTIMENTS
    for part, forms in zip(("move", "reason", "view"), _PHRASES[s], strict=True)
)
SECOND_MENTIONS = (
    "Rival {name} was little changed.",
    "Peer {name} also moved.",
    "{name} is due to report next week.",
    "Shares of {name} followed.",
)
HEADLINE_FORMS = (
    "{company} {move} {reason}",
    "{company} {move}, {reason}",
    "{reason_cap}, {company} {move}",
)


def surface_forms() -> dict[str, list[str]]:
    """The phrases that carry each sentiment (with `{cat}` where a category goes)."""
    return {
        s: [f for r in range(3) for f in SLOTS[3 * i + r].forms] for i, s in enumerate(SENTIMENTS)
    }


def write_news(rng: np.random.Generator, out: Path, n: int) -> tuple[int, dict[str, dict]]:
    """Write `news.csv`; returns (row count, label noise)."""
    sampler = SlotSampler(SLOTS, rng, FORM_EXPONENT, AS_WRITTEN)
    n_sent = len(SENTIMENTS)
    sentiment = rng.choice(n_sent, size=n, p=list(SENTIMENT_SHARES.values()))
    reason_sentiment = np.where(
        rng.random(n) < MIXED_SHARE,
        (sentiment + rng.integers(1, n_sent, size=n)) % n_sent,
        sentiment,
    )
    move = sampler.draw(3 * sentiment, rng)
    reason = sampler.draw(3 * reason_sentiment + 1, rng)
    view = sampler.draw(3 * sentiment + 2, rng)
    company_p = np.array([1.0 / (r + 1) ** 0.8 for r in range(len(V.COMPANIES))])
    company = rng.choice(len(V.COMPANIES), size=n, p=company_p / company_p.sum())
    second = np.where(
        rng.random(n) < SECOND_COMPANY_SHARE,
        (company + rng.integers(1, len(V.COMPANIES), size=n)) % len(V.COMPANIES),
        -1,
    )
    u = rng.random((n, 5))
    has_body = rng.random(n) < BODY_SHARE
    ts_us = np.sort(V.EPOCH_US + (rng.random(n) * V.WINDOW_DAYS * V.DAY_US).astype(np.int64))
    labeled = rng.random(n) < LABELED_SHARE
    noisy = pick(rng, int(labeled.sum()), LABEL_NOISE_SHARE, np.flatnonzero(labeled))
    label = sentiment.copy()
    label[noisy] = (sentiment[noisy] + rng.integers(1, n_sent, size=len(noisy))) % n_sent

    ids = [f"N{j + 1:06d}" for j in range(n)]
    stamps = iso_seconds_many(ts_us)
    with atomic_open(out / "news.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["news_id", "ts", "headline", "body", "entities", "sentiment"])
        for j in range(n):
            c = V.COMPANIES[company[j]]
            cat = c.categories[int(u[j, 0] * len(c.categories))]
            forms = V.CATEGORY_FORMS[cat]
            cat_form = forms[int(u[j, 1] * len(forms))]
            mv = sampler.text(3 * sentiment[j], move[j])
            rs = sampler.text(3 * reason_sentiment[j] + 1, reason[j])
            name = c.ticker if u[j, 2] < 0.15 else c.name
            # Every headline names a category: as "<category> maker X" if no phrase does.
            if "{cat}" not in mv + rs:
                name = f"{cat_form.capitalize()} maker {name}"
            mv, rs = mv.format(cat=cat_form), rs.format(cat=cat_form)
            headline = HEADLINE_FORMS[int(u[j, 3] * len(HEADLINE_FORMS))].format(
                company=name, move=mv, reason=rs, reason_cap=rs[:1].upper() + rs[1:]
            )
            tickers = [c.ticker]
            body = ""
            if has_body[j]:
                parts = [
                    f"{c.name} ({c.ticker}) shares were in focus.",
                    sampler.text(3 * sentiment[j] + 2, view[j]),
                ]
                if second[j] >= 0:
                    other = V.COMPANIES[second[j]]
                    mention = SECOND_MENTIONS[int(u[j, 4] * len(SECOND_MENTIONS))]
                    parts.append(mention.format(name=other.name))
                    tickers.append(other.ticker)
                body = " ".join(parts)
            w.writerow(
                [
                    ids[j],
                    stamps[j],
                    headline,
                    body,
                    "|".join(tickers),
                    SENTIMENTS[label[j]] if labeled[j] else "",
                ]
            )
    log.debug("news.csv: %d headlines, %d labeled", n, int(labeled.sum()))
    return n, {
        "news_label_noise": {
            "news_ids": [ids[j] for j in noisy],
            "true_sentiments": [SENTIMENTS[sentiment[j]] for j in noisy],
        }
    }
