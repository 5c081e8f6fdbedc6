"""PretrainStep: the model plus every active objective, as the one module training wraps.

Data-parallel training wraps this module (DDP needs the whole loss inside `forward`);
checkpoints store `step.model` and `step.objectives` separately, so the foundation model
can be loaded without any pretraining head.
"""

from __future__ import annotations

from torch import Tensor, nn

from karpa_models.config import TrainConfig
from karpa_models.model import FoundationModel
from karpa_models.objectives import (
    ContrastiveAlignmentLoss,
    LossWeighting,
    MaskedItemLoss,
    MaskedPatchLoss,
    MaskedTokenLoss,
    SentenceContrastiveLoss,
)


class PretrainStep(nn.Module):
    def __init__(self, model: FoundationModel, train_cfg: TrainConfig, active: list[str]):
        super().__init__()
        self.model = model
        self.active = list(active)
        vocab = model.text.token_embedding.shape[0]
        heads: dict[str, nn.Module] = {}
        if "mlm" in active:
            heads["mlm"] = MaskedTokenLoss(model.text.width, vocab)
        if "text_contrastive" in active:
            heads["text_contrastive"] = SentenceContrastiveLoss(train_cfg.text_temperature)
        if "image_text" in active:
            heads["image_text"] = ContrastiveAlignmentLoss("image_text", train_cfg.init_temperature)
        if "masked_patch" in active:
            heads["masked_patch"] = MaskedPatchLoss(model.image.width, model.image.patch_dim)
        if {"masked_item", "content_behaviour"} & set(active) and model.behaviour is None:
            raise ValueError("behaviour objectives need a model with a behaviour tower")
        if "masked_item" in active:
            heads["masked_item"] = MaskedItemLoss(model.behaviour.width, model.behaviour.n_items)
        if "content_behaviour" in active:
            heads["content_behaviour"] = ContrastiveAlignmentLoss(
                "content_behaviour", train_cfg.init_temperature
            )
        self.objectives = nn.ModuleDict(heads)
        self.weighting = LossWeighting(self.active, train_cfg.weighting, train_cfg.loss_weights)

    def forward(
        self, batch: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
        """batch: PretrainBatches' dict (see there for keys and shapes).
        -> total loss, per-objective losses (scalar tensors), detached metrics."""
        losses: dict[str, Tensor] = {}
        metrics: dict[str, Tensor] = {}
        obj = self.objectives

        def record(name: str, result: tuple[Tensor, dict]) -> None:
            losses[name], extra = result
            metrics.update(extra)

        # Phase 1, text: two views of each text (independently masked, and cropped when
        # train.text_views is "crops"), each through the encoder once (dropout differs
        # too). Both views feed MLM; their pooled vectors feed InfoNCE.
        if "text_a_ids" in batch:
            h_a, pooled_a = self.model.text_features(
                batch["text_a_ids"], batch["text_a_mask"]
            )  # (B, T, C), (B, C)
            h_b, pooled_b = self.model.text_features(batch["text_b_ids"], batch["text_b_mask"])
            if "mlm" in obj:
                emb = self.model.text.token_embedding
                loss_a, met_a = obj["mlm"](h_a, batch["text_a_labels"], emb)
                loss_b, _ = obj["mlm"](h_b, batch["text_b_labels"], emb)
                record("mlm", (0.5 * (loss_a + loss_b), met_a))
            if "text_contrastive" in obj:
                record("text_contrastive", obj["text_contrastive"](pooled_a, pooled_b))

        # Phase 2, images: clean images align with their texts; masked copies reconstruct.
        if "pair_images" in batch:
            if "image_text" in obj:
                img = self.model.encode_image(batch["pair_images"])  # (P, D)
                txt = self.model.encode_text(batch["pair_ids"], batch["pair_mask"])  # (P, D)
                record("image_text", obj["image_text"](img, txt))
            if "masked_patch" in obj:
                hidden = self.model.image(batch["pair_images"], batch["patch_mask"])  # (P, N, C)
                pixels = self.model.image.patchify(batch["pair_images"])  # (P, N, p*p*3)
                record("masked_patch", obj["masked_patch"](hidden, pixels, batch["patch_mask"]))

        # Phase 3, behaviour: predict masked items over the catalogue's fused embeddings.
        if "seq_items" in batch:
            beh = self.model.behaviour
            hidden = self.model.encode_behaviour(batch["seq_items"], batch["seq_mask"])  # (S, L, C)
            table = beh.item_table()[: beh.n_items]  # (n_items, C)
            record("masked_item", obj["masked_item"](hidden, batch["seq_labels"], table))

        # Phase 4, items: an item's content (text + image) must find its behaviour embedding.
        if "item_idx" in batch:
            content = self.model.encode_item_content(
                batch["item_ids"],
                batch["item_mask"],
                batch.get("item_images"),
                batch.get("item_has_image"),
            )  # (I, D)
            behaviour = self.model.encode_item_behaviour(batch["item_idx"])  # (I, D)
            record("content_behaviour", obj["content_behaviour"](content, behaviour))

        total, weight_metrics = self.weighting(losses)
        metrics.update(weight_metrics)
        return total, losses, metrics
