"""The training loop: overfitting, exact resume, checkpoint format, failure on NaN."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from karpa_models.batches import PretrainBatches
from karpa_models.checkpoint import CHECKPOINT_NAME
from karpa_models.corpus import PretrainCorpus, RetrievalSet
from karpa_models.engine import NonFiniteLossError
from karpa_models.model import build_model
from karpa_models.objectives import MaskedItemLoss
from karpa_models.pretrain_step import PretrainStep
from karpa_models.pretraining import concrete_model_config, corpus_texts, load_foundation, pretrain
from karpa_models.retrieval import evaluate_retrieval
from karpa_models.tokenizer import train_tokenizer

ALL = ["mlm", "text_contrastive", "image_text", "masked_item", "content_behaviour", "masked_patch"]


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer(corpus_texts(corpus), 500)


class Killed(Exception):
    pass


def _all_weights(path) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)
    weights = {f"model.{k}": v for k, v in state["model"].items()}
    weights.update({f"objectives.{k}": v for k, v in state["objectives"].items()})
    return weights


def test_one_batch_overfits(corpus, tokenizer, make_configs):
    model_cfg, train_cfg = make_configs(loss_weights={"masked_patch": 1.0})
    cfg = concrete_model_config(model_cfg, tokenizer, corpus)
    torch.manual_seed(0)
    model = build_model(cfg)
    batches = PretrainBatches(corpus, tokenizer, cfg, train_cfg)
    step = PretrainStep(model, train_cfg, batches.active)
    assert sorted(step.active) == sorted(ALL)
    batch = batches[0]
    del batch["n_samples"], batch["n_tokens"]
    model.refresh_item_content(*batches.item_content_inputs())
    opt = torch.optim.AdamW(step.parameters(), lr=3e-3)
    step.eval()  # no dropout: the same batch must become easy, not merely easier
    first = None
    for _ in range(120):
        total, losses, _ = step(batch)
        first = first or {k: v.item() for k, v in losses.items()}
        opt.zero_grad()
        total.backward()
        opt.step()
    last = {k: v.item() for k, v in losses.items()}
    for name in ALL:
        assert last[name] < 0.25 * first[name], (name, first[name], last[name])


def test_kill_and_resume_reaches_the_same_weights(tmp_path, corpus, tokenizer, make_configs):
    model_cfg, train_cfg = make_configs(steps=6, checkpoint_every=3, content_refresh_every=2)
    straight = pretrain(corpus, model_cfg, train_cfg, tmp_path / "a", tokenizer=tokenizer)
    assert straight.steps == 6 and straight.resumed_from_step == 0

    def kill_at_3(metrics, step):
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        pretrain(
            corpus, model_cfg, train_cfg, tmp_path / "b", on_metrics=kill_at_3, tokenizer=tokenizer
        )
    assert torch.load(tmp_path / "b" / CHECKPOINT_NAME, weights_only=True)["step"] == 3
    seen = []
    resumed = pretrain(
        corpus, model_cfg, train_cfg, tmp_path / "b", on_metrics=lambda m, s: seen.append(s)
    )
    assert resumed.resumed_from_step == 3 and seen == [4, 5, 6]
    a, b = _all_weights(straight.checkpoint_path), _all_weights(resumed.checkpoint_path)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different
    # The optimiser's moments agree too, so training could go on identically.
    opt_a = torch.load(straight.checkpoint_path, weights_only=True)["optimizer"]["state"]
    opt_b = torch.load(resumed.checkpoint_path, weights_only=True)["optimizer"]["state"]
    assert all(torch.equal(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)


def test_checkpoint_is_plain_data_and_loads_offline(tmp_path, corpus, tokenizer, make_configs):
    model_cfg, train_cfg = make_configs(steps=2, checkpoint_every=10)
    metrics = []
    result = pretrain(
        corpus,
        model_cfg,
        train_cfg,
        tmp_path,
        on_metrics=lambda m, s: metrics.append((s, m)),
        tokenizer=tokenizer,
    )
    state = torch.load(result.checkpoint_path, weights_only=True)
    assert set(state) >= {
        "model",
        "optimizer",
        "scheduler",
        "rng",
        "step",
        "model_config",
        "train_config",
    }
    assert isinstance(state["model_config"], dict) and isinstance(state["train_config"], dict)
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["model"])  # unwrapped
    assert (tmp_path / "tokenizer.json").is_file()
    # Every objective is reported on its own, with learning rate and throughput.
    step, last = metrics[-1]
    assert step == 2
    for name in result.active_objectives:
        assert np.isfinite(last[f"loss/{name}"])
    assert {"loss/total", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "eta_s"} <= set(last)
    assert result.samples_per_s > 0 and set(result.final_losses) >= set(result.active_objectives)
    # The first and the last logging window's losses, as reported (losses fall, or not).
    first_step, first = metrics[0]
    assert first_step < step
    assert result.first_losses == {k[5:]: v for k, v in first.items() if k.startswith("loss/")}
    assert result.final_losses == {k[5:]: v for k, v in last.items() if k.startswith("loss/")}
    model, tok, cfg = load_foundation(result.checkpoint_path)
    assert not model.training and cfg.behaviour.n_items == corpus.n_items
    assert tok.to_str() == tokenizer.to_str()
    same = model.embed_text(["a crimson mug"])
    again, _, _ = load_foundation(result.checkpoint_path)
    assert np.allclose(same, again.embed_text(["a crimson mug"]))
    # Zero-shot retrieval reports item content -> behaviour recall next to its chance level.
    items = np.arange(20)
    held_out = RetrievalSet(
        captions=corpus.captions[:10],
        images=corpus.caption_images[:10],
        item_indices=items,
        item_texts=[corpus.item_texts[i] for i in items],
        item_images=corpus.item_images[items],
        item_has_image=corpus.item_has_image[items],
    )
    scores = evaluate_retrieval(model, tok, held_out)
    assert scores["chance/recall@1"] == 0.1 and scores["content_to_behaviour/chance@10"] == 0.5
    assert 0.0 <= scores["content_to_behaviour/recall@10"] <= 1.0 and scores["n_items"] == 20


def test_non_finite_loss_names_step_and_objective(
    tmp_path, corpus, tokenizer, make_configs, monkeypatch
):
    model_cfg, train_cfg = make_configs(steps=4, checkpoint_every=1)
    real_forward = MaskedItemLoss.forward
    calls = []

    def nan_on_third_call(self, hidden, labels, table):
        loss, metrics = real_forward(self, hidden, labels, table)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 3 else loss), metrics

    monkeypatch.setattr(MaskedItemLoss, "forward", nan_on_third_call)
    with pytest.raises(NonFiniteLossError, match=r"step 3 of 4 in objective\(s\) masked_item=nan"):
        pretrain(corpus, model_cfg, train_cfg, tmp_path, tokenizer=tokenizer)
    # The poisoned step never reached the weights or the checkpoint.
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_missing_modalities_switch_their_objectives_off(tmp_path, corpus, make_configs):
    model_cfg, train_cfg = make_configs(steps=2, weighting="uncertainty")
    text_only = PretrainCorpus(texts=corpus.texts)
    result = pretrain(text_only, model_cfg, train_cfg, tmp_path)
    assert result.active_objectives == ["mlm", "text_contrastive"]
    model, _, cfg = load_foundation(result.checkpoint_path)
    assert model.behaviour is None and cfg.text.vocab_size == model.text.tok_emb.num_embeddings


def test_one_command_gives_the_same_foundation_twice(tmp_path, corpus, make_configs):
    # No tokenizer passed: each run trains its own vocabulary, which must not differ.
    model_cfg, train_cfg = make_configs(steps=2, checkpoint_every=2)
    a = pretrain(corpus, model_cfg, train_cfg, tmp_path / "a")
    b = pretrain(corpus, model_cfg, train_cfg, tmp_path / "b")
    assert a.tokenizer_path.read_text() == b.tokenizer_path.read_text()
    assert a.first_losses == b.first_losses
    wa, wb = _all_weights(a.checkpoint_path), _all_weights(b.checkpoint_path)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_loader_workers_do_not_change_the_run(tmp_path, corpus, tokenizer, make_configs):
    model_cfg, train_cfg = make_configs(steps=3, checkpoint_every=3)
    inline = pretrain(corpus, model_cfg, train_cfg, tmp_path / "w0", tokenizer=tokenizer)
    workers = dataclasses.replace(train_cfg, num_workers=2)
    parallel = pretrain(corpus, model_cfg, workers, tmp_path / "w2", tokenizer=tokenizer)
    a, b = _all_weights(inline.checkpoint_path), _all_weights(parallel.checkpoint_path)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_trains_in_bf16_and_saves_a_cpu_loadable_checkpoint(tmp_path, corpus, make_configs):
    model_cfg, train_cfg = make_configs(steps=3, device="cuda", loss_weights={"masked_patch": 1.0})
    result = pretrain(corpus, model_cfg, train_cfg, tmp_path)
    assert all(np.isfinite(v) for v in result.final_losses.values())
    model, _, _ = load_foundation(result.checkpoint_path)  # map_location cpu
    assert model.device.type == "cpu"
    assert model.embed_text(["a red mug"]).dtype == np.float32


def test_activation_checkpointing_does_not_change_the_run(
    tmp_path, corpus, tokenizer, make_configs
):
    model_cfg, train_cfg = make_configs(steps=3, checkpoint_every=3)
    kept = pretrain(corpus, model_cfg, train_cfg, tmp_path / "kept", tokenizer=tokenizer)
    recomputing = dataclasses.replace(train_cfg, activation_checkpointing=True)
    again = pretrain(corpus, model_cfg, recomputing, tmp_path / "again", tokenizer=tokenizer)
    a, b = _all_weights(kept.checkpoint_path), _all_weights(again.checkpoint_path)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert kept.final_losses == pytest.approx(again.final_losses, abs=1e-5)
