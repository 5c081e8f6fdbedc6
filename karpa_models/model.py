"""FoundationModel: three towers and their projections into one shared embedding space.

CLIP-like API: one `encode_<modality>()` per tower returning unnormalised vectors in the
shared space (D = cfg.embed_dim). The `embed_*` helpers are the inference side: raw inputs
(strings, uint8 images) in, L2-normalised float32 numpy out, in eval mode and no grad.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn

from karpa_models.config import ModelConfig
from karpa_models.hf_text import HFTextTower, pretrained_config
from karpa_models.layers import init_weights, mean_pool
from karpa_models.tokenizer import EncodedTexts, encode_texts
from karpa_models.towers import BehaviourTower, ImageTower, TextTower

logger = logging.getLogger(__name__)


class FoundationModel(nn.Module):
    """Text, image and behaviour towers with linear projections to the shared space.

    load_pretrained: with `cfg.text_init` set, load the pretrained encoder's weights (a
    fresh start); False builds the same architecture from `cfg.text.hf_config` for a
    checkpoint to fill (resume, load_foundation), which needs neither network nor folder.
    """

    def __init__(self, cfg: ModelConfig, load_pretrained: bool = False):
        super().__init__()
        self.cfg = cfg
        D = cfg.embed_dim
        if cfg.text_init:
            if cfg.text.hf_config is None:
                raise ValueError(
                    "cfg.text.hf_config is unset: build text_init models with build_model()"
                )
            init_from = cfg.text_init if load_pretrained else None
            self.text: TextTower | HFTextTower = HFTextTower(
                cfg.text.hf_config, cfg.text.max_len, init_from
            )
        else:
            self.text = TextTower(cfg.text)
        self.image = ImageTower(cfg.image)
        self.behaviour = BehaviourTower(cfg.behaviour, D) if cfg.behaviour.n_items > 0 else None
        self.text_proj = nn.Linear(self.text.width, D, bias=False)
        self.image_proj = nn.Linear(self.image.width, D, bias=False)
        # An item's behaviour view: its collaborative (id) embedding, seen from the shared space.
        self.item_proj = nn.Linear(cfg.behaviour.width, D, bias=False) if self.behaviour else None
        for proj in (self.text_proj, self.image_proj, self.item_proj):
            if proj is not None:
                init_weights(proj)
        self.tokenizer: Tokenizer | None = None  # attached by pretrain / load_foundation

    # ---- towers -------------------------------------------------------------------------

    def text_features(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """ids (B, T), mask (B, T) -> hidden (B, T, C) and mean-pooled sentence vector (B, C)."""
        hidden = self.text(ids, mask)
        return hidden, mean_pool(hidden, mask)

    def encode_text(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids (B, T) int64, mask (B, T) bool -> (B, D)."""
        return self.text_proj(self.text_features(ids, mask)[1])

    def encode_image(self, images: Tensor, patch_mask: Tensor | None = None) -> Tensor:
        """images (B, H, W, 3) uint8 -> (B, D), the mean over patch states."""
        return self.image_proj(self.image(images, patch_mask).mean(dim=1))

    def encode_item_content(
        self,
        ids: Tensor,
        mask: Tensor,
        images: Tensor | None = None,
        has_image: Tensor | None = None,
    ) -> Tensor:
        """An item's content vector from its text and, where it has one, its image.

        ids, mask (B, T); images (B, H, W, 3) uint8 or None; has_image (B,) bool -> (B, D).
        Both parts are normalised before the sum so that neither modality dominates.
        """
        content = F.normalize(self.encode_text(ids, mask), dim=-1)  # (B, D)
        if images is not None and has_image is not None and bool(has_image.any()):
            img = F.normalize(self.encode_image(images), dim=-1)  # (B, D)
            content = content + img * has_image.unsqueeze(-1).to(img.dtype)
        return content

    def _require_behaviour(self) -> BehaviourTower:
        if self.behaviour is None or self.item_proj is None:
            raise ValueError("this model has no behaviour tower (model.behaviour.n_items is 0)")
        return self.behaviour

    def encode_item_behaviour(self, item_idx: Tensor) -> Tensor:
        """Catalogue indices (B,) -> (B, D): the items' collaborative embeddings."""
        beh = self._require_behaviour()
        return self.item_proj(beh.id_emb(item_idx))

    def encode_behaviour(self, items: Tensor, mask: Tensor) -> Tensor:
        """Item-index sequences (B, L), mask (B, L) -> contextual states (B, L, C_b).

        Put MASK (n_items + 1) after a history to ask for the next item. Pretraining scores
        a masked state against `behaviour.item_table()[:n_items]` through the masked-item
        decoder, saved in checkpoints under "objectives" (masked_item.*), where a
        next-item head can start from.
        """
        return self._require_behaviour()(items, mask)

    @torch.no_grad()
    def refresh_item_content(
        self,
        texts: EncodedTexts,
        images: np.ndarray | None,
        has_image: np.ndarray | None,
        batch_size: int = 256,
    ) -> None:
        """Recompute the behaviour tower's cached content vectors for every catalogue item."""
        beh = self._require_behaviour()
        device = beh.content.device
        with _eval_mode(self):
            for start in range(0, len(texts), batch_size):
                rows = np.arange(start, min(start + batch_size, len(texts)))
                ids, mask = texts.take(rows)
                img = hi = None
                if images is not None and has_image is not None and has_image[rows].any():
                    img = torch.from_numpy(images[rows]).to(device)
                    hi = torch.from_numpy(has_image[rows]).to(device)
                vec = self.encode_item_content(
                    torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device), img, hi
                )
                beh.content[start : start + len(rows)] = vec.float()

    # ---- inference helpers (raw inputs in, normalised numpy out) -------------------------

    def set_tokenizer(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _encode(self, texts: Sequence[str]) -> EncodedTexts:
        if self.tokenizer is None:
            raise ValueError(
                "no tokenizer attached: use load_foundation() or model.set_tokenizer()"
            )
        return encode_texts(self.tokenizer, texts, self.text.max_len)

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """list of N strings -> (N, D) float32, L2-normalised."""
        enc = self._encode(texts)
        out = []
        with _eval_mode(self):
            for rows in _chunks(len(texts), batch_size):
                ids, mask = (torch.from_numpy(a).to(self.device) for a in enc.take(rows))
                out.append(F.normalize(self.encode_text(ids, mask).float(), dim=-1).cpu())
        return _stack(out, self.cfg.embed_dim)

    @torch.no_grad()
    def embed_images(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, D) float32, L2-normalised."""
        out = []
        with _eval_mode(self):
            for rows in _chunks(len(images), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[rows])).to(self.device)
                out.append(F.normalize(self.encode_image(x).float(), dim=-1).cpu())
        return _stack(out, self.cfg.embed_dim)

    @torch.no_grad()
    def embed_items(
        self,
        texts: Sequence[str],
        images: np.ndarray | None = None,
        has_image: np.ndarray | None = None,
        batch_size: int = 256,
    ) -> np.ndarray:
        """Content embeddings of (possibly brand-new) items: N texts, optional (N, H, W, 3)
        uint8 images with has_image (N,) bool -> (N, D) float32, L2-normalised."""
        if images is not None and has_image is None:
            has_image = np.ones(len(texts), dtype=bool)
        enc = self._encode(texts)
        out = []
        with _eval_mode(self):
            for rows in _chunks(len(texts), batch_size):
                ids, mask = (torch.from_numpy(a).to(self.device) for a in enc.take(rows))
                img = hi = None
                if images is not None and has_image is not None:
                    img = torch.from_numpy(np.ascontiguousarray(images[rows])).to(self.device)
                    hi = torch.from_numpy(np.asarray(has_image[rows], dtype=bool)).to(self.device)
                vec = self.encode_item_content(ids, mask, img, hi)
                out.append(F.normalize(vec.float(), dim=-1).cpu())
        return _stack(out, self.cfg.embed_dim)

    @torch.no_grad()
    def item_behaviour_embeddings(self) -> np.ndarray:
        """Every catalogue item's behaviour view: (n_items, D) float32, L2-normalised."""
        beh = self._require_behaviour()
        with _eval_mode(self):
            idx = torch.arange(beh.n_items, device=self.device)
            return F.normalize(self.encode_item_behaviour(idx).float(), dim=-1).cpu().numpy()


def build_model(cfg: ModelConfig) -> FoundationModel:
    """Build a model for training from `cfg`, starting the text tower from `cfg.text_init`
    (pretrained weights, and its config recorded in cfg.text.hf_config) when it is set."""
    if cfg.text_init and cfg.text.hf_config is None:
        cfg = resolve_text_init(cfg)
    model = FoundationModel(cfg, load_pretrained=bool(cfg.text_init))
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("built FoundationModel: %.2fM parameters", n_params / 1e6)
    return model


def resolve_text_init(cfg: ModelConfig) -> ModelConfig:
    """Record the pretrained encoder's config (and its real sizes) in `cfg.text`, so the
    model config saved in checkpoints describes the architecture actually trained."""
    if not cfg.text_init:
        return cfg
    hf = pretrained_config(cfg.text_init)
    sizes = {
        "vocab_size": hf.get("vocab_size", cfg.text.vocab_size),
        "width": hf.get("hidden_size", cfg.text.width),
        "layers": hf.get("num_hidden_layers", cfg.text.layers),
        "heads": hf.get("num_attention_heads", cfg.text.heads),
    }
    return dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, hf_config=hf, **sizes))


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _chunks(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n))


def _stack(parts: list[Tensor], dim: int) -> np.ndarray:
    if not parts:
        return np.zeros((0, dim), dtype=np.float32)
    return torch.cat(parts).numpy().astype(np.float32, copy=False)
