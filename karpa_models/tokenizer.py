"""Text tokenization: a lowercase WordPiece vocabulary trained on the corpus with HF `tokenizers`.

The same `tokenizers.Tokenizer` type also carries a pretrained encoder's own vocabulary
(see hf_text.py), so everything downstream handles one tokenizer type. Texts are encoded
once into padded numpy arrays; masking and batching then never touch strings again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
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
    trainers,
)

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_FINGERPRINT_VERSION = "karpa-wordpiece-v1"


def train_tokenizer(texts: Sequence[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train a lowercase BERT-style WordPiece tokenizer on `texts`.

    Encodings are wrapped as `[CLS] text [SEP]`, ids 0..4 are the special tokens in
    SPECIAL_TOKENS order, and the vocabulary is at most `vocab_size` (less on a small corpus).

    Not reproducible bit for bit: HF's trainer breaks count ties in hash-map order, so two
    runs on the same texts can differ in ids and in a few merges (huggingface/tokenizers
    #1794). Train once, then reuse the saved tokenizer (cache it by tokenizer_fingerprint).
    """
    if not texts:
        raise ValueError("train_tokenizer needs at least one text")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    logger.info(
        "trained WordPiece tokenizer: %d tokens from %d texts", tok.get_vocab_size(), len(texts)
    )
    return tok


def tokenizer_fingerprint(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> str:
    """Cache key of `train_tokenizer(texts, vocab_size)`: the inputs that define it.

    The caller saves a trained tokenizer under this key and reuses it while the key is
    unchanged, which also keeps runs reproducible (retraining is not, see train_tokenizer).
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
