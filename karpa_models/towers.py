"""The three modality towers. Each maps raw ids or pixels to per-position hidden states;
pooling and the projection into the shared space live in FoundationModel."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from karpa_models.config import BehaviourConfig, ImageConfig, TextConfig
from karpa_models.layers import Encoder, init_weights


class TextTower(nn.Module):
    """Pre-LN Transformer over token ids. ids (B, T) int64, mask (B, T) bool -> (B, T, C)."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.width = cfg.width
        self.max_len = cfg.max_len
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.width)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.width)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg.width, cfg.layers, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        init_weights(self.tok_emb)
        init_weights(self.pos_emb)

    @property
    def token_embedding(self) -> Tensor:
        """(V, C): tied to the masked-token decoder, so rare tokens learn from both ends."""
        return self.tok_emb.weight

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        n_tokens = ids.shape[1]
        if n_tokens > self.max_len:
            raise ValueError(
                f"text of {n_tokens} tokens exceeds the tower's max_len {self.max_len}"
            )
        pos = torch.arange(n_tokens, device=ids.device)  # (T,)
        x = self.drop(self.tok_emb(ids) + self.pos_emb(pos))  # (B, T, C)
        return self.encoder(x, mask)


def sincos_2d(side: int, width: int) -> Tensor:
    """Fixed 2-D sine-cosine position embeddings (MAE): (side * side, width), row-major.
    Half the channels encode the row, half the column, at geometric frequencies."""
    assert width % 4 == 0
    quarter = width // 4
    freq = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)  # (W/4,)
    coords = torch.arange(side, dtype=torch.float32)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")  # (side, side) each
    parts = []
    for c in (rows.reshape(-1), cols.reshape(-1)):
        angle = c[:, None] * freq[None, :]  # (N, W/4)
        parts += [angle.sin(), angle.cos()]
    return torch.cat(parts, dim=1)  # (N, W)


class ImageTower(nn.Module):
    """ViT over non-overlapping square patches.

    images (B, H, W, 3) uint8, patch_mask (B, N) bool or None -> (B, N, C), N = (H / p)².
    Masked patches (True) have their embedding replaced by a learned mask token.

    Positions are fixed 2-D sine-cosine embeddings (as in MAE). With learned ones (std
    0.02) our synthetic colour-and-position captions were matched on colour only: the
    learned positions stayed too weak for the pooled vector to say *where* things are.
    """

    def __init__(self, cfg: ImageConfig):
        super().__init__()
        self.width = cfg.width
        self.image_size = cfg.image_size
        self.patch_size = cfg.patch_size
        self.n_patches = (cfg.image_size // cfg.patch_size) ** 2
        self.patch_dim = 3 * cfg.patch_size**2
        self.patch_embed = nn.Linear(self.patch_dim, cfg.width)
        side = cfg.image_size // cfg.patch_size
        self.register_buffer("pos_emb", sincos_2d(side, cfg.width).unsqueeze(0), persistent=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg.width, cfg.layers, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        init_weights(self.patch_embed)

    def patchify(self, images: Tensor) -> Tensor:
        """uint8 (B, H, W, 3) -> pixels in [-1, 1] as (B, N, p*p*3), row-major patches."""
        B, H, W, _ = images.shape
        if self.image_size != H or self.image_size != W:
            raise ValueError(
                f"images are {H}x{W}, the tower expects {self.image_size}x{self.image_size}"
            )
        p = self.patch_size
        x = images.float() / 127.5 - 1.0  # (B, H, W, 3)
        x = x.view(B, H // p, p, W // p, p, 3).permute(0, 1, 3, 2, 4, 5)  # (B, h, w, p, p, 3)
        return x.reshape(B, self.n_patches, self.patch_dim)  # (B, N, p*p*3)

    def forward(self, images: Tensor, patch_mask: Tensor | None = None) -> Tensor:
        x = self.patch_embed(self.patchify(images))  # (B, N, C)
        if patch_mask is not None:
            x = torch.where(patch_mask.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        x = self.drop(x + self.pos_emb)  # (B, N, C)
        return self.encoder(x, None)


class BehaviourTower(nn.Module):
    """Bidirectional Transformer over item-index sequences (BERT4Rec-like), whose item
    embeddings are fused with the items' content vectors.

    An item's input embedding is `id_emb[i] + content_proj(content[i])`, where `content` is
    a (n_items, D) buffer of the items' text+image vectors in the shared space, refreshed
    by the trainer. An item with no history keeps a near-zero id embedding, so its
    embedding comes from its content alone.

    Index conventions: items 0..n_items-1, PAD = n_items, MASK = n_items + 1.
    items (B, L) int64, mask (B, L) bool -> (B, L, C).
    """

    def __init__(self, cfg: BehaviourConfig, embed_dim: int):
        super().__init__()
        self.width = cfg.width
        self.max_len = cfg.max_len
        self.n_items = cfg.n_items
        self.pad_id = cfg.n_items
        self.mask_id = cfg.n_items + 1
        self.id_emb = nn.Embedding(cfg.n_items + 2, cfg.width)
        self.content_proj = nn.Linear(embed_dim, cfg.width, bias=False)
        # Persistent: the content cache is part of the model state, so a resumed run and a
        # loaded checkpoint see exactly the vectors training saw.
        self.register_buffer("content", torch.zeros(cfg.n_items, embed_dim))
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.width)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg.width, cfg.layers, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        init_weights(self.id_emb)
        init_weights(self.pos_emb)
        init_weights(self.content_proj)

    def item_table(self) -> Tensor:
        """Fused embeddings of every index, specials included: (n_items + 2, C)."""
        fused = self.id_emb.weight[: self.n_items] + self.content_proj(self.content)  # (n, C)
        return torch.cat([fused, self.id_emb.weight[self.n_items :]], dim=0)  # (n + 2, C)

    def forward(self, items: Tensor, mask: Tensor) -> Tensor:
        n_items = items.shape[1]
        if n_items > self.max_len:
            raise ValueError(
                f"sequence of {n_items} items exceeds the tower's max_len {self.max_len}"
            )
        pos = torch.arange(n_items, device=items.device)  # (L,)
        x = self.item_table()[items] + self.pos_emb(pos)  # (B, L, C)
        return self.encoder(self.drop(x), mask)
