"""The built-in demo world: a generated shop whose data makes pretraining matter.

`generate_world(out, scale=1.0, seed=0)` writes raw source files into `out` and returns the
manifest it also writes as `out/world.json`. The same seed and scale give byte-identical
files (every part draws from its own seeded stream; timestamps are offsets from
2026-01-01T00:00:00Z; PNG and Parquet encoder settings are fixed). Scale 1 takes a couple
of seconds; scale 10 has ten times the rows and writes events in bounded-memory chunks.

The world
---------
A clothing shop with 8 categories (clothing: shirt, trousers, dress, jacket; accessories:
shoes, bag, hat, scarf), 11 colours, 4 patterns and 8 materials. Ten listed companies sell
those categories and brand the items. Every latent attribute shows in several modalities:

- ``items.csv`` (item_id, title, description, category, attributes, price, created_at):
  about 1,000 items at scale 1. ``attributes`` is a JSON object with the canonical colour,
  pattern, material and price_band. Titles and descriptions name colour, pattern and
  category by one of several surface forms each (colour: 8 forms such as red / crimson /
  scarlet / ruby), drawn with a long tail; about 97% of descriptions name the colour.
- ``images/<item_id>__<k>.png``: 0-2 photos per item (10% none, 70% one, 20% two), 32×32
  RGB. Category is the silhouette, colour the fill (jittered per item and per photo),
  pattern an overlay of stripes, dots or checks; placement, lighting and noise vary.
- ``events.parquet`` (user_id, item_id, event_type, value, ts, session_id): about 2,000
  users and 100,000 events at scale 1. Users prefer 1-3 categories and 1-2 colours; every
  item looked at starts a view → click → cart → purchase → rating funnel inside a session,
  deeper for preferred items; a clothing purchase is often followed by a same-colour
  accessory. ``value`` is the quantity for cart and purchase, stars (1-5) for rating, null
  otherwise. Popularity has a long tail; 8% of items are new and have no history at all
  (listed in ``world.json["latent"]["cold_items"]``). Rows are ordered by user, then time.
- ``messages.jsonl`` (message_id, user_id, text, ts, intent): about 20,000 customer-service
  chats at scale 1; 30% have no user_id and 20% are labeled with one of 12 intents or
  ``oos`` (out of scope, 8% of messages). Each intent is carried by two slots with eight
  base forms each, every form also misspelled in two fixed ways, drawn with a Zipf-like
  tail: ten labeled examples per class see about a third of the forms that the unlabeled
  text shows, so TF-IDF on 10 labels per class scores far below TF-IDF on 200. Greetings,
  item mentions, order numbers (``order #48213``), prices, dates and quantities are shared
  by all intents. 30% of messages state only one slot, 6% borrow a confusable intent's
  issue, and 2.5% of labels are wrong (listed under ``noise``).
- ``news.csv`` (news_id, ts, headline, body, entities, sentiment): about 8,000 headlines at
  scale 1 about the companies and the categories they sell; ``entities`` holds tickers
  separated by ``|``; sentiment (positive / negative / neutral, neutral the most common)
  is labeled on 25% and empty otherwise. Sentiment is carried by phrase slots with a long
  tail; 8% of headlines pair a move with a reason of another sentiment (labeled by the
  move) and 2% of labels are wrong. 30% have an empty body.

Planted defects (all listed in ``world.json["defects"]`` with ids and 1-based row numbers,
which count data rows after the header, as the canonical ``_row`` column does):

- ``items_missing_title``, ``items_missing_description``: empty title / description.
- ``items_duplicate_id``: a later row re-lists an existing item_id (new price and
  created_at); ``first_rows`` are the originals, ``rows`` the duplicates.
- ``images_corrupt`` (random bytes) and ``images_empty`` (zero bytes) under a .png name.
- ``events_unknown_item`` (an item_id no item has) and ``events_missing_user`` (null).
- ``messages_pii``: per type (email, phone, card, iban) the count, message ids and the
  exact values; cards pass the Luhn check and IBANs their mod-97 check. Ordinary numbers
  (order ids, prices, dates, quantities) appear in many other messages, so a scrubber's
  false positives show.
- ``messages_empty_text``: messages whose text is the empty string (never labeled).

Every defect entry also has a ``count``. ``world.json`` further holds ``seed``, ``scale``,
``generator_version``, ``counts`` (rows per file; images: files), ``vocabulary``
(attribute values and their surface forms, companies, event types, sentiments, intents),
``latent`` and ``noise`` (wrong labels with their true values).
"""

from karpa.demo.world import generate_world

__all__ = ["generate_world"]
