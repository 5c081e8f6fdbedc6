"""Transformer building blocks shared by every tower, nanoGPT-style but bidirectional.

Defined bottom-up: attention -> MLP -> pre-LN block -> encoder stack. A padding mask
(True = real token) keeps padded positions out of every key set; a per-query mask (the
recommender's causal one) narrows each query's keys further.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from types import MethodType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


class SelfAttention(nn.Module):
    """Multi-head self-attention. x (B, T, C) -> (B, T, C).

    mask: None (every position sees every position), (B, T) bool — the keys each row may
    attend to (bidirectional over the real tokens) — or (B, T, T) bool — the keys each
    query may attend to (a causal mask, for instance).
    """

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        assert width % heads == 0
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B, nh, T, hs)
        if mask is None or mask.dim() == 3:
            attn_mask = None if mask is None else mask[:, None]  # (B, 1, T, T) query x key
        else:
            attn_mask = mask[:, None, None, :]  # (B, 1, 1, T) keys
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, width: int, ratio: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(width, ratio * width)
        self.proj = nn.Linear(ratio * width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-LN residual block: normalising before each sublayer keeps deep stacks trainable
    without learning-rate warmup tricks."""

    def __init__(self, width: int, heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, dropout)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_ratio, dropout)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """A stack of pre-LN blocks and a final LayerNorm. x (B, T, C), mask (B, T) or
    (B, T, T) (see SelfAttention) -> (B, T, C).

    Every query must be allowed at least one key (a row that may attend to nothing has an
    undefined softmax).
    """

    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.apply(init_weights)
        # GPT-2's scaled init of residual projections keeps the residual stream's variance
        # independent of depth.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    # Activation checkpointing: keep only each block's input for the backward pass and
    # recompute the block's inside there (about one more forward pass), so a training
    # step holds one block's activations at a time instead of every block's.
    checkpointing: bool = False

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        recompute = self.checkpointing and self.training and torch.is_grad_enabled()
        for block in self.blocks:
            # The recomputation replays the forward's RNG state: the same dropout masks.
            x = checkpoint(block, x, mask, use_reentrant=False) if recompute else block(x, mask)
        return self.ln_f(x)


def set_activation_checkpointing(model: nn.Module, on: bool) -> None:
    """Switch activation checkpointing on or off in every Encoder of `model`, and in every
    Hugging Face encoder (a pretrained text start): by its own switch where it has one,
    else by karpa's checkpoint of each of its layers (MPNet, all-mpnet-base-v2's
    architecture, has no switch)."""
    for module in model.modules():
        if isinstance(module, Encoder):
            module.checkpointing = on
        elif hasattr(module, "activation_checkpointing_enable"):
            if not module.supports_gradient_checkpointing:
                checkpoint_layers(module, on)
                continue
            # transformers' PreTrainedModel: the same non-reentrant torch checkpoint per
            # layer, active in training mode only, as in Encoder.
            if on:
                # An encoder keeps no key/value cache; saying so spares transformers'
                # warning that a cache and checkpointing do not mix.
                module.config.use_cache = False
                module.activation_checkpointing_enable({"use_reentrant": False})
            elif module.is_activation_checkpointing:
                module.activation_checkpointing_disable()


def checkpoint_layers(model: nn.Module, on: bool) -> None:
    """Checkpoint each layer of `model`'s stack of layers (its first ModuleList of one
    class: `encoder.layer` in BERT-like encoders), as Encoder does its blocks; off again
    restores each layer's own forward. The layers and their weights stay where they are,
    so state dicts and saved checkpoints do not change."""
    stack = next(
        (
            m
            for m in model.modules()
            if isinstance(m, nn.ModuleList) and len(m) and len({type(c) for c in m}) == 1
        ),
        None,
    )
    if stack is None:
        raise ValueError(f"{type(model).__name__}: no stack of layers to checkpoint")
    for layer in stack:
        if on:
            # Bound to the layer itself, so a deep copy of the model rebinds to the copy.
            layer.forward = MethodType(_checkpointed_forward, layer)
        else:
            layer.__dict__.pop("forward", None)


def _checkpointed_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """The layer's own forward, under a non-reentrant checkpoint in training with gradients
    (the recomputation replays the forward's RNG state: the same dropout masks)."""
    forward = type(self).forward.__get__(self)
    if self.training and torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)


@contextmanager
def activation_checkpointing(model: nn.Module, on: bool) -> Iterator[nn.Module]:
    """`set_activation_checkpointing(model, on)` for the block, switched off again after:
    a trained copy is kept, saved and served without it."""
    set_activation_checkpointing(model, on)
    try:
        yield model
    finally:
        if on:
            set_activation_checkpointing(model, False)


def init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Average of the real positions. hidden (B, T, C), mask (B, T) bool -> (B, C)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
