"""Text tokenization: a lowercase WordPiece vocabulary learnt on the corpus, run by HF `tokenizers`.

The same `tokenizers.Tokenizer` type also carries a pretrained encoder's own vocabulary
(see hf_text.py), so everything downstream handles one tokenizer type. Texts are encoded
once into padded numpy arrays; masking and batching then never touch strings again.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tokenizers
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_FINGERPRINT_VERSION = "karpa-wordpiece-v2"


def _bert_wordpiece(vocab: dict[str, int] | None = None) -> Tokenizer:
    """An (empty or given-vocabulary) lowercase BERT WordPiece pipeline."""
    model = (
        models.WordPiece(vocab, unk_token="[UNK]") if vocab else models.WordPiece(unk_token="[UNK]")
    )
    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def train_tokenizer(texts: Sequence[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train a lowercase BERT-style WordPiece tokenizer on `texts`, deterministically.

    Encodings are wrapped as `[CLS] text [SEP]`, ids 0..4 are the special tokens in
    SPECIAL_TOKENS order, and the vocabulary is at most `vocab_size` (less on a small corpus).

    The vocabulary is learnt as HF's WordPieceTrainer learns it (BPE merges over the
    pre-tokenized words, "##" marking a word's continuation, a merge only while its pair
    occurs at least `min_frequency` times), but here: HF's trainer breaks count ties in
    hash-map order, so two runs on the same texts differed in ids and in merges
    (huggingface/tokenizers#1794). Here ties go to the pair first in string order and ids
    follow a fixed order, so the same texts always give the same tokenizer.
    """
    if not texts:
        raise ValueError("train_tokenizer needs at least one text")
    tok = _bert_wordpiece()
    words = _word_counts(tok, texts)
    vocab = wordpiece_vocab(words, vocab_size, min_frequency)
    tok = _bert_wordpiece(vocab)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    logger.info(
        "trained WordPiece tokenizer: %d tokens from %d texts", tok.get_vocab_size(), len(texts)
    )
    return tok


def _word_counts(tok: Tokenizer, texts: Sequence[str]) -> Counter[str]:
    """How often each pre-tokenized word occurs, after the tokenizer's normalisation."""
    normalizer, pre = tok.normalizer, tok.pre_tokenizer
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


_PREFIX = "##"
_MAX_WORD_CHARS = 100  # WordPiece's max_input_chars_per_word: longer words are [UNK] anyway


def wordpiece_vocab(
    word_counts: Mapping[str, int], vocab_size: int, min_frequency: int = 2
) -> dict[str, int]:
    """BPE-style WordPiece vocabulary of `word_counts` -> {token: id}, a pure function.

    Ids: the special tokens, every word-initial character, every "##" continuation
    character (both sorted), then merged tokens in the order they were learnt. Each merge
    takes the most frequent adjacent pair; ties go to the smallest (left, right) strings.
    """
    vocab: dict[str, int] = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    items = sorted((w, c) for w, c in word_counts.items() if w and len(w) <= _MAX_WORD_CHARS)
    words = [[w[0]] + [_PREFIX + ch for ch in w[1:]] for w, _ in items]
    counts = [c for _, c in items]
    for symbol in sorted({s for w in words for s in w if not s.startswith(_PREFIX)}):
        vocab.setdefault(symbol, len(vocab))
    for symbol in sorted({s for w in words for s in w if s.startswith(_PREFIX)}):
        vocab.setdefault(symbol, len(vocab))

    pair_counts: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}

    def add_pairs(i: int, sign: int) -> set[tuple[str, str]]:
        w, c = words[i], counts[i]
        touched = set()
        for pair in itertools.pairwise(w):
            pair_counts[pair] = pair_counts.get(pair, 0) + sign * c
            if sign > 0:
                where.setdefault(pair, set()).add(i)
            touched.add(pair)
        return touched

    for i in range(len(words)):
        add_pairs(i, +1)
    heap = [(-c, a, b) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, a, b = heapq.heappop(heap)
        if pair_counts.get((a, b), 0) != -neg:
            continue  # a stale entry: the pair's count changed and was pushed again
        if -neg < min_frequency:
            break
        merged = a + b[len(_PREFIX) :] if b.startswith(_PREFIX) else a + b
        vocab.setdefault(merged, len(vocab))
        touched: set[tuple[str, str]] = set()
        for i in sorted(where.pop((a, b), ())):
            touched |= add_pairs(i, -1)
            words[i] = _merge(words[i], a, b, merged)
            touched |= add_pairs(i, +1)
        for pair in sorted(touched):
            count = pair_counts.get(pair, 0)
            if count > 0 and pair != (a, b):
                heapq.heappush(heap, (-count, *pair))
        pair_counts.pop((a, b), None)
    return vocab


def _merge(word: list[str], a: str, b: str, merged: str) -> list[str]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
            out.append(merged)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def tokenizer_fingerprint(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> str:
    """Cache key of `train_tokenizer(texts, vocab_size)`: the inputs that define it.

    The caller saves a trained tokenizer under this key and reuses it while the key is
    unchanged (training is deterministic, so this saves time, not reproducibility).
    """
    h = hashlib.sha256()
    h.update(
        f"{_FINGERPRINT_VERSION}|{tokenizers.__version__}|{vocab_size}|{min_frequency}".encode()
    )
    for text in texts:
        data = text.encode("utf-8")
        # Length-prefix each text so that ["ab", "c"] and ["a", "bc"] hash differently.
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def save_tokenizer(tokenizer: Tokenizer, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tokenizer.save(str(tmp))
    tmp.replace(path)  # atomic: a crash never leaves a half-written tokenizer.json
    return path


def load_tokenizer(path: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))


_CANDIDATES = {
    "pad": ("[PAD]", "<pad>"),
    "mask": ("[MASK]", "<mask>"),
    "cls": ("[CLS]", "<s>"),
    "sep": ("[SEP]", "</s>"),
    "unk": ("[UNK]", "<unk>"),
}


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special tokens that masking must know about, found by their usual spellings."""

    pad: int
    mask: int
    all_ids: tuple[int, ...]  # never chosen as masked-token targets or random replacements

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> SpecialTokens:
        found = {}
        for role, spellings in _CANDIDATES.items():
            ids = [
                tokenizer.token_to_id(s) for s in spellings if tokenizer.token_to_id(s) is not None
            ]
            found[role] = ids[0] if ids else None
        for role in ("pad", "mask"):
            if found[role] is None:
                raise ValueError(f"tokenizer has no {role} token (looked for {_CANDIDATES[role]})")
        all_ids = tuple(sorted({i for i in found.values() if i is not None}))
        return cls(pad=found["pad"], mask=found["mask"], all_ids=all_ids)


@dataclass(frozen=True)
class EncodedTexts:
    """Texts as token ids: ids (N, max_len) int64 right-padded with the pad id, lengths (N,)."""

    ids: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows trimmed to their longest member: ids (B, T) int64 and mask (B, T) bool."""
        lengths = self.lengths[rows]
        t = max(int(lengths.max(initial=1)), 1)
        ids = self.ids[rows, :t]
        mask = np.arange(t)[None, :] < lengths[:, None]
        return ids, mask

    @staticmethod
    def concat(parts: Sequence[EncodedTexts]) -> EncodedTexts:
        return EncodedTexts(
            ids=np.concatenate([p.ids for p in parts]),
            lengths=np.concatenate([p.lengths for p in parts]),
        )


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str], max_len: int) -> EncodedTexts:
    """Tokenize `texts`, truncated to `max_len` tokens (the closing special token is kept)."""
    tok = Tokenizer.from_str(tokenizer.to_str())  # a copy: truncation settings stay local
    tok.no_padding()
    tok.enable_truncation(max_length=max_len)
    pad = SpecialTokens.of(tok).pad
    ids = np.full((len(texts), max_len), pad, dtype=np.int64)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for row, enc in enumerate(tok.encode_batch(list(texts))):
        n = len(enc.ids)
        ids[row, :n] = enc.ids
        lengths[row] = n
    # An empty string still yields [CLS] [SEP]; a tokenizer without a post-processor may
    # yield nothing, and a zero-length row would attend to nothing.
    empty = lengths == 0
    if empty.any():
        lengths[empty] = 1
    return EncodedTexts(ids=ids, lengths=lengths)
