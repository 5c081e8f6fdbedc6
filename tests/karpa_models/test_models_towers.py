"""Shapes and masks of every tower, and the FoundationModel's encode/embed API."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from karpa_models.config import BehaviourConfig, ImageConfig, ModelConfig, TextConfig
from karpa_models.layers import Encoder, mean_pool, set_activation_checkpointing
from karpa_models.model import build_model
from karpa_models.tokenizer import train_tokenizer
from karpa_models.towers import BehaviourTower, ImageTower, TextTower

TEXT = TextConfig(vocab_size=50, max_len=12, width=16, layers=2, heads=2, dropout=0.0)
IMAGE = ImageConfig(image_size=32, patch_size=8, width=16, layers=1, heads=2)
BEHAVIOUR = BehaviourConfig(n_items=10, max_len=8, width=16, layers=1, heads=2, dropout=0.0)


def test_text_tower_shapes_and_padding_is_invisible():
    torch.manual_seed(0)
    tower = TextTower(TEXT).eval()
    ids = torch.randint(5, 50, (3, 10))
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 6:] = False
    out = tower(ids, mask)
    assert out.shape == (3, 10, 16)
    # Changing what sits in padded positions must not change any real position's state.
    other = ids.clone()
    other[1, 6:] = 0
    assert torch.allclose(tower(other, mask)[1, :6], out[1, :6], atol=1e-6)
    with pytest.raises(ValueError, match="exceeds the tower's max_len"):
        tower(torch.zeros(1, 13, dtype=torch.long), torch.ones(1, 13, dtype=torch.bool))


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert mean_pool(hidden, torch.tensor([[True, True, False]])).item() == 2.0


def test_image_tower_patches_and_patch_mask():
    torch.manual_seed(0)
    tower = ImageTower(IMAGE).eval()
    images = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    out = tower(images)
    assert out.shape == (2, 16, 16)
    pixels = tower.patchify(images)
    assert pixels.shape == (2, 16, 8 * 8 * 3) and pixels.min() >= -1 and pixels.max() <= 1
    # Patch 5 of image 0 is row 1, column 1 of the 4x4 grid.
    assert torch.allclose(pixels[0, 5].view(8, 8, 3), images[0, 8:16, 8:16].float() / 127.5 - 1)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, 5] = True
    masked = tower(images, mask)
    assert not torch.allclose(masked[0], out[0]) and torch.allclose(masked[1], out[1])
    with pytest.raises(ValueError, match="expects 32x32"):
        tower(torch.zeros(1, 16, 16, 3, dtype=torch.uint8))


def test_behaviour_tower_fuses_content_so_items_without_history_have_embeddings():
    torch.manual_seed(0)
    tower = BehaviourTower(BEHAVIOUR, embed_dim=8).eval()
    items = torch.tensor([[1, 2, 3, 10, 10], [4, 11, 10, 10, 10]])  # 10 = PAD, 11 = MASK
    mask = items != tower.pad_id
    assert tower(items, mask).shape == (2, 5, 16)
    assert tower.item_table().shape == (12, 16)
    with torch.no_grad():
        tower.id_emb.weight[7].zero_()  # an item never seen in any sequence...
        tower.content[7] = torch.randn(8)  # ...but with content
    expected = tower.content_proj(tower.content[7])
    assert torch.allclose(tower.item_table()[7], expected) and expected.abs().sum() > 0


def _model(n_items: int = 10):
    tok = train_tokenizer(["a red mug", "a blue lamp", "green sock"] * 5, vocab_size=60)
    cfg = ModelConfig(
        embed_dim=8,
        text=dataclasses.replace(TEXT, vocab_size=tok.get_vocab_size()),
        image=IMAGE,
        behaviour=dataclasses.replace(BEHAVIOUR, n_items=n_items),
    )
    torch.manual_seed(0)
    model = build_model(cfg)
    model.set_tokenizer(tok)
    return model


def test_foundation_model_encoders_map_into_one_shared_space():
    model = _model()
    ids = torch.randint(5, 20, (4, 6))
    mask = torch.ones(4, 6, dtype=torch.bool)
    images = torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)
    assert model.encode_text(ids, mask).shape == (4, 8)
    assert model.encode_image(images).shape == (4, 8)
    has = torch.tensor([True, False, True, False])
    assert model.encode_item_content(ids, mask, images, has).shape == (4, 8)
    assert model.encode_item_behaviour(torch.arange(4)).shape == (4, 8)
    seq = torch.tensor([[1, 2, 11]])
    assert model.encode_behaviour(seq, torch.ones_like(seq, dtype=torch.bool)).shape == (1, 3, 16)


def test_embed_helpers_take_raw_inputs_and_return_unit_vectors():
    model = _model().train()
    text = model.embed_text(["a red mug", "GREEN sock", ""])
    assert text.shape == (3, 8) and text.dtype == np.float32
    assert np.allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)
    assert model.training  # restored after the eval-mode helper
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    assert model.embed_images(images).shape == (5, 8)
    new_items = model.embed_items(["blue lamp", "red mug"], images[:2], np.array([True, False]))
    assert new_items.shape == (2, 8)
    # Without an image an item's content is its text alone.
    assert np.allclose(new_items[1], model.embed_text(["red mug"])[0], atol=1e-5)
    assert model.item_behaviour_embeddings().shape == (10, 8)
    assert model.embed_text([]).shape == (0, 8)


def test_model_without_catalogue_has_no_behaviour_tower():
    model = _model(n_items=0)
    assert model.behaviour is None
    with pytest.raises(ValueError, match="no behaviour tower"):
        model.item_behaviour_embeddings()


def test_activation_checkpointing_recomputes_blocks_in_backward_with_the_same_gradients():
    torch.manual_seed(0)
    enc = Encoder(width=16, layers=2, heads=2, mlp_ratio=2, dropout=0.1).train()
    x = torch.randn(3, 5, 16)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    calls = []
    for block in enc.blocks:
        # A pre-hook: the recomputation may stop as soon as it has what backward needs.
        block.register_forward_pre_hook(lambda *_: calls.append(1))

    def grads() -> list[torch.Tensor]:
        enc.zero_grad()
        torch.manual_seed(1)  # the same dropout masks in both runs
        enc(x, mask).pow(2).sum().backward()
        return [p.grad.clone() for p in enc.parameters()]

    kept = grads()
    assert len(calls) == 2  # one forward per block
    set_activation_checkpointing(enc, True)
    calls.clear()
    recomputed = grads()
    assert len(calls) == 4  # and each block once more in the backward pass
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(kept, recomputed, strict=True))
    with torch.no_grad():
        calls.clear()
        enc(x, mask)
        assert len(calls) == 2  # nothing to recompute without gradients
