"""A pretrained Hugging Face encoder as the text tower, behind the same interface as TextTower.

`transformers` is imported only here and only when a config asks for `text_init`, so the
rest of karpa_models runs without it. The encoder keeps its own tokenizer; its config is
stored in ModelConfig.text.hf_config so that a checkpoint rebuilds the architecture offline,
without the original folder or hub id.
"""

from __future__ import annotations

import json
import logging
from types import ModuleType
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import Tensor, nn

logger = logging.getLogger(__name__)


def _transformers() -> ModuleType:
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "model.text_init needs Hugging Face transformers: pip install 'karpa[hf]'"
        ) from err
    return transformers


def pretrained_config(name_or_path: str) -> dict[str, Any]:
    """The encoder's config as a JSON-safe dict (stored in checkpoints)."""
    cfg = _transformers().AutoConfig.from_pretrained(name_or_path)
    return json.loads(cfg.to_json_string())


def pretrained_tokenizer(name_or_path: str) -> Tokenizer:
    """The encoder's own fast tokenizer, as a plain `tokenizers.Tokenizer`."""
    hf_tok = _transformers().AutoTokenizer.from_pretrained(name_or_path)
    backend = getattr(hf_tok, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"{name_or_path} has no fast (tokenizers-backed) tokenizer")
    tok = Tokenizer.from_str(backend.to_str())
    # Padding and truncation are decided per batch by karpa (tokenizer.encode_texts).
    tok.no_padding()
    tok.no_truncation()
    return tok


class HFTextTower(nn.Module):
    """A `transformers.AutoModel` encoder. ids (B, T) int64, mask (B, T) bool -> (B, T, C).

    init_from: load pretrained weights from this folder or hub id; None builds the
    architecture from `hf_config` with fresh weights (to be overwritten by a checkpoint).
    """

    def __init__(self, hf_config: dict[str, Any], max_len: int, init_from: str | None):
        super().__init__()
        tf = _transformers()
        if init_from is not None:
            self.hf = tf.AutoModel.from_pretrained(init_from, dtype=torch.float32)
            logger.info("text tower initialised from pretrained %s", init_from)
        else:
            fields = dict(hf_config)
            config = tf.AutoConfig.for_model(fields.pop("model_type"), **fields)
            self.hf = tf.AutoModel.from_config(config)
        # A sentence vector here is a mean over tokens; BERT's pooler would get no gradient
        # (and would stall DDP's reducer), so it is dropped.
        if getattr(self.hf, "pooler", None) is not None:
            self.hf.pooler = None
        self.width = int(self.hf.config.hidden_size)
        limit = getattr(self.hf.config, "max_position_embeddings", max_len)
        self.max_len = min(max_len, int(limit))

    @property
    def token_embedding(self) -> Tensor:
        return self.hf.get_input_embeddings().weight  # (V, C)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        if ids.shape[1] > self.max_len:
            raise ValueError(f"text of {ids.shape[1]} tokens exceeds max_len {self.max_len}")
        out = self.hf(input_ids=ids, attention_mask=mask.long())
        return out.last_hidden_state  # (B, T, C)
