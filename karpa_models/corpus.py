"""What pretraining and retrieval evaluation read: plain Python lists and numpy arrays.

No torch here, so the pipeline can build, validate, fingerprint and save a corpus without
importing a deep-learning framework.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

_FORMAT = "karpa-pretrain-corpus/1"


def no_images(size: int = 32) -> np.ndarray:
    return np.zeros((0, size, size, 3), dtype=np.uint8)


class CorpusError(ValueError):
    """A corpus field has the wrong shape, type or range; the message names the field."""


def _check_images(name: str, images: np.ndarray, rows: int | None) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise CorpusError(
            f"{name} must be a uint8 numpy array, got {getattr(images, 'dtype', type(images))}"
        )
    if images.ndim != 4 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
        raise CorpusError(f"{name} must have shape (N, S, S, 3), got {images.shape}")
    if rows is not None and len(images) != rows:
        raise CorpusError(f"{name} has {len(images)} rows, expected {rows}")


@dataclass
class PretrainCorpus:
    """Unlabeled, self-supervised training data for the foundation model.

    texts: free text (messages, news, descriptions). Every text of the corpus — these,
        the captions and the item texts — feeds the text objectives.
    captions, caption_images: image–text pairs; captions[i] describes caption_images[i],
        uint8 (N, S, S, 3) RGB.
    item_texts, item_images, item_has_image: the catalogue. Item i (0 <= i < n_items) is
        described by item_texts[i] (title and description) and, where item_has_image[i],
        by item_images[i]. item_images is (n_items, S, S, 3) uint8, or empty when no item
        has an image; rows without an image are ignored. Items with images are image–text
        pairs too.
    sequences: one int64 array per user of item indices in chronological order. These must
        come from the training period only: a validation or test event here leaks into
        every recommender fine-tuned from this model.
    """

    texts: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    caption_images: np.ndarray = field(default_factory=no_images)
    item_texts: list[str] = field(default_factory=list)
    item_images: np.ndarray = field(default_factory=no_images)
    item_has_image: np.ndarray | None = None  # default: True where item_images has a row
    sequences: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.item_has_image is None:
            self.item_has_image = np.full(
                self.n_items, len(self.item_images) == self.n_items, dtype=bool
            )
        self.sequences = [np.asarray(s, dtype=np.int64) for s in self.sequences]
        self.validate()

    @property
    def n_items(self) -> int:
        return len(self.item_texts)

    @property
    def image_size(self) -> int | None:
        for images in (self.caption_images, self.item_images):
            if len(images):
                return int(images.shape[1])
        return None

    def validate(self) -> None:
        """Raise CorpusError naming the field and the offending rows if the corpus is malformed."""
        for name in ("texts", "captions", "item_texts"):
            values = getattr(self, name)
            bad = [i for i, t in enumerate(values) if not isinstance(t, str)]
            if bad:
                raise CorpusError(
                    f"{name} must hold strings; {len(bad)} rows do not (first: row {bad[0]})"
                )
        _check_images("caption_images", self.caption_images, len(self.captions))
        has = np.asarray(self.item_has_image)
        if has.dtype != bool or has.shape != (self.n_items,):
            raise CorpusError(
                f"item_has_image must be bool of shape ({self.n_items},), "
                f"got {has.dtype} {has.shape}"
            )
        if len(self.item_images) or has.any():
            _check_images("item_images", self.item_images, self.n_items)
        sizes = {im.shape[1] for im in (self.caption_images, self.item_images) if len(im)}
        if len(sizes) > 1:
            raise CorpusError(f"caption_images and item_images differ in size: {sorted(sizes)}")
        for u, seq in enumerate(self.sequences):
            if seq.ndim != 1:
                raise CorpusError(f"sequences[{u}] must be 1-D, got shape {seq.shape}")
            if len(seq) and (seq.min() < 0 or seq.max() >= self.n_items):
                bad = int(seq.max() if seq.max() >= self.n_items else seq.min())
                raise CorpusError(
                    f"sequences[{u}] holds item index {bad} outside 0..{self.n_items - 1}"
                )

    def fingerprint(self) -> str:
        """Content hash: equal corpora give equal fingerprints (for stage caching)."""
        h = hashlib.sha256(_FORMAT.encode())
        for name in ("texts", "captions", "item_texts"):
            h.update(json.dumps(getattr(self, name)).encode())
        for arr in (self.caption_images, self.item_images, np.asarray(self.item_has_image)):
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        for seq in self.sequences:
            h.update(len(seq).to_bytes(8, "little"))
            h.update(seq.tobytes())
        return h.hexdigest()

    def save(self, folder: str | Path) -> Path:
        """Write texts as JSON and arrays as one .npz (for torchrun workers to read)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        lengths = np.array([len(s) for s in self.sequences], dtype=np.int64)
        flat = np.concatenate(self.sequences) if self.sequences else np.zeros(0, np.int64)
        tmp = folder / "arrays.tmp.npz"
        np.savez(
            tmp,
            caption_images=self.caption_images,
            item_images=self.item_images,
            item_has_image=np.asarray(self.item_has_image),
            seq_lengths=lengths,
            seq_items=flat,
        )
        tmp.replace(folder / "arrays.npz")
        texts = {
            "format": _FORMAT,
            "texts": self.texts,
            "captions": self.captions,
            "item_texts": self.item_texts,
        }
        (folder / "texts.json.tmp").write_text(json.dumps(texts))
        (folder / "texts.json.tmp").replace(folder / "texts.json")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> PretrainCorpus:
        folder = Path(folder)
        texts = json.loads((folder / "texts.json").read_text())
        if texts.get("format") != _FORMAT:
            raise CorpusError(
                f"{folder} is not a {_FORMAT} corpus (format {texts.get('format')!r})"
            )
        with np.load(folder / "arrays.npz") as arrays:
            splits = np.cumsum(arrays["seq_lengths"])[:-1]
            sequences = (
                list(np.split(arrays["seq_items"], splits)) if len(arrays["seq_lengths"]) else []
            )
            return cls(
                texts=texts["texts"],
                captions=texts["captions"],
                caption_images=arrays["caption_images"],
                item_texts=texts["item_texts"],
                item_images=arrays["item_images"],
                item_has_image=arrays["item_has_image"],
                sequences=sequences,
            )


@dataclass
class RetrievalSet:
    """Held-out data for zero-shot cross-modal retrieval (never seen in pretraining).

    captions[i] pairs with images[i] (uint8 (N, S, S, 3)). Optionally, catalogue items whose
    behaviour embedding was learned in pretraining: item_indices (M,) with their content
    (item_texts, item_images (M, S, S, 3) or None, item_has_image (M,) bool or None).
    """

    captions: list[str]
    images: np.ndarray
    item_indices: np.ndarray | None = None
    item_texts: list[str] | None = None
    item_images: np.ndarray | None = None
    item_has_image: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_images("images", self.images, len(self.captions))
        if self.item_indices is not None:
            self.item_indices = np.asarray(self.item_indices, dtype=np.int64)
            if self.item_texts is None or len(self.item_texts) != len(self.item_indices):
                raise CorpusError("item_texts must give one text per entry of item_indices")
            if self.item_images is not None:
                _check_images("item_images", self.item_images, len(self.item_indices))
