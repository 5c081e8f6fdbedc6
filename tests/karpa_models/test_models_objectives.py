"""Each objective on hand-made cases where the right answer is known."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from karpa_models.objectives import (
    IGNORE,
    ContrastiveAlignmentLoss,
    LossWeighting,
    MaskedItemLoss,
    MaskedPatchLoss,
    MaskedTokenLoss,
    SentenceContrastiveLoss,
    info_nce,
)


def test_perfect_match_with_low_temperature_gives_near_zero_contrastive_loss():
    a = torch.eye(8, 16)  # orthonormal rows
    loss, acc = info_nce(a, a.clone(), logit_scale=100.0)
    assert loss.item() < 1e-6 and acc.item() == 1.0
    # The same vectors paired wrongly cost a lot; pairing at random costs about log(N).
    wrong, _ = info_nce(a, a.roll(1, dims=0), 100.0)
    assert wrong.item() > 50
    rand, _ = info_nce(torch.randn(64, 16), torch.randn(64, 16), 1.0)
    assert abs(rand.item() - math.log(64)) < 0.5


def test_sentence_contrastive_uses_its_fixed_temperature():
    a = F.normalize(torch.randn(6, 4), dim=-1)
    loss, metrics = SentenceContrastiveLoss(temperature=0.05)(a, a)
    expected, _ = info_nce(a, a, 20.0)
    assert torch.allclose(loss, expected) and "text_contrastive_acc" in metrics


def test_learnable_temperature_is_clamped_at_100():
    obj = ContrastiveAlignmentLoss("image_text", init_temperature=0.07)
    assert abs(obj.logit_scale.exp().item() - 1 / 0.07) < 1e-4
    with torch.no_grad():
        obj.logit_scale.fill_(10.0)  # e^10, far above the clamp
    x = torch.eye(4, 8)
    _, metrics = obj(x, x)
    assert abs(metrics["image_text_logit_scale"].item() - 100.0) < 1e-3
    # The temperature is learnable below the clamp.
    with torch.no_grad():
        obj.logit_scale.fill_(math.log(10.0))
    loss, _ = obj(torch.randn(4, 8), torch.randn(4, 8))
    loss.backward()
    assert obj.logit_scale.grad is not None and obj.logit_scale.grad.abs() > 0


def test_masked_token_loss_ignores_unmasked_positions():
    torch.manual_seed(0)
    obj = MaskedTokenLoss(width=8, vocab=20)
    emb = torch.randn(20, 8)
    hidden = torch.randn(2, 5, 8, requires_grad=True)
    labels = torch.full((2, 5), IGNORE)
    labels[0, 1], labels[1, 3] = 7, 2
    loss, metrics = obj(hidden, labels, emb)
    loss.backward()
    grad = hidden.grad.abs().sum(-1)
    assert grad[0, 1] > 0 and grad[1, 3] > 0
    assert grad.sum() == grad[0, 1] + grad[1, 3]  # nothing flows to unmasked positions
    changed = hidden.detach().clone()
    changed[0, 0] += 5.0  # an unmasked position
    assert torch.allclose(obj(changed, labels, emb)[0], loss)
    # No target at all: zero loss, not NaN.
    empty, _ = obj(hidden, torch.full((2, 5), IGNORE), emb)
    assert empty.item() == 0.0
    assert 0.0 <= metrics["mlm_acc"].item() <= 1.0


def test_masked_item_loss_learns_to_point_at_the_right_item():
    torch.manual_seed(0)
    obj = MaskedItemLoss(width=8, n_items=6)
    table = torch.randn(6, 8)
    hidden = torch.randn(3, 4, 8, requires_grad=True)
    labels = torch.full((3, 4), IGNORE)
    labels[:, 2] = torch.tensor([0, 3, 5])
    opt = torch.optim.Adam([hidden, *obj.parameters()], lr=0.05)
    first = None
    for _ in range(100):
        loss, metrics = obj(hidden, labels, table)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first and metrics["masked_item_acc"].item() == 1.0


def test_masked_patch_loss_counts_masked_patches_only():
    obj = MaskedPatchLoss(width=4, patch_dim=3)
    with torch.no_grad():
        obj.decoder.weight.zero_()
        obj.decoder.bias.zero_()
    pixels = torch.zeros(1, 3, 3)
    pixels[0, 0] = 1.0  # a patch the decoder (predicting 0) gets wrong
    mask = torch.tensor([[False, True, True]])
    assert obj(torch.randn(1, 3, 4), pixels, mask)[0].item() == 0.0
    mask[0, 0] = True
    assert abs(obj(torch.randn(1, 3, 4), pixels, mask)[0].item() - 1 / 3) < 1e-6


def test_static_and_uncertainty_weighting():
    losses = {"mlm": torch.tensor(2.0), "image_text": torch.tensor(3.0)}
    static, _ = LossWeighting(["mlm", "image_text"], "static", {"mlm": 0.5, "image_text": 2.0})(
        losses
    )
    assert static.item() == 0.5 * 2 + 2 * 3
    learned = LossWeighting(["mlm", "image_text"], "uncertainty", {})
    with torch.no_grad():
        learned.log_vars["mlm"].fill_(math.log(2.0))
    total, metrics = learned(losses)
    # exp(-s) L + s: with s = log 2 the loss is halved and log 2 added.
    assert abs(total.item() - (2.0 / 2 + math.log(2.0) + 3.0)) < 1e-6
    assert abs(metrics["weight_mlm"].item() - 0.5) < 1e-6
    total.backward()
    assert learned.log_vars["mlm"].grad is not None
