"""The distributional start of a text tower: tokens that keep the same company in the
corpus start close together, whatever their spelling, and the pretraining applies it
only to a tower trained from scratch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from karpa_models import pretraining
from karpa_models.config import TrainConfig
from karpa_models.cooccurrence import (
    cooccurrence_vectors,
    init_token_embeddings,
    starts_from_cooccurrence,
)
from karpa_models.tokenizer import SpecialTokens, train_tokenizer

# Two concepts, each written two ways that never meet in one text: only their company
# (the other words of the texts they occur in) says that they mean the same.
RED, ENGINE = ("crimson", "scarlet"), ("piston", "gearbox")
RED_COMPANY = ("dress", "silk", "gown", "evening", "velvet")
ENGINE_COMPANY = ("car", "motor", "fuel", "garage", "diesel")


def _texts(seed: int = 0, n: int = 400) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        forms, company = (RED, RED_COMPANY) if rng.random() < 0.5 else (ENGINE, ENGINE_COMPANY)
        words = [forms[int(rng.integers(2))], *rng.choice(company, size=3, replace=False)]
        out.append(" ".join(rng.permutation(words)))
    return out


@pytest.fixture(scope="module")
def tokenizer():
    tok = train_tokenizer(_texts(), vocab_size=300)
    for word in (*RED, *ENGINE):
        assert tok.token_to_id(word) is not None, f"{word} should be one token"
    return tok


def _cos(vectors: np.ndarray, tok, a: str, b: str) -> float:
    return float(vectors[tok.token_to_id(a)] @ vectors[tok.token_to_id(b)])


def test_substitutes_that_never_meet_start_close_and_apart_from_other_concepts(tokenizer):
    found = cooccurrence_vectors(tokenizer, _texts(), width=16, seed=0)
    same = _cos(found.vectors, tokenizer, "crimson", "scarlet")
    other = max(_cos(found.vectors, tokenizer, r, e) for r in RED for e in ENGINE)
    assert same > 0.9 and other < 0.3, (same, other)
    assert _cos(found.vectors, tokenizer, "piston", "gearbox") > 0.9
    seen_norms = np.linalg.norm(found.vectors[found.seen], axis=1)
    np.testing.assert_allclose(seen_norms, 1.0, atol=1e-5)
    # Special tokens take no part: they sit in every text and mean nothing.
    for special in SpecialTokens.of(tokenizer).all_ids:
        assert not found.seen[special] and not found.vectors[special].any()


def test_the_vectors_are_the_same_every_time(tokenizer):
    a = cooccurrence_vectors(tokenizer, _texts(), width=16, seed=3)
    b = cooccurrence_vectors(tokenizer, _texts(), width=16, seed=3)
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_the_embedding_keeps_its_own_rows_where_there_is_no_company(tokenizer):
    torch.manual_seed(0)
    embedding = nn.Embedding(tokenizer.get_vocab_size(), 16)
    before = embedding.weight.detach().clone()
    found = init_token_embeddings(embedding, tokenizer, _texts(), seed=0)
    after = embedding.weight.detach()
    unseen = torch.from_numpy(~found.seen)
    assert torch.equal(after[unseen], before[unseen])
    assert torch.allclose(after[~unseen], torch.from_numpy(found.vectors[found.seen]))
    vocab = tokenizer.get_vocab_size()
    with pytest.raises(ValueError, match=f"has {vocab} tokens, the embedding 12 rows"):
        init_token_embeddings(nn.Embedding(12, 16), tokenizer, _texts())


def test_a_pretrained_text_start_keeps_its_own_embeddings(make_configs):
    model_cfg, train_cfg = make_configs(token_init="cooccurrence")
    assert starts_from_cooccurrence(model_cfg, train_cfg)
    pretrained = dataclasses.replace(model_cfg, text_init="some/encoder")
    assert not starts_from_cooccurrence(pretrained, train_cfg)
    assert not starts_from_cooccurrence(
        model_cfg, dataclasses.replace(train_cfg, token_init="random")
    )


def test_an_unknown_start_is_one_sentence():
    with pytest.raises(ValueError, match=r"train.token_init must be one of random, cooccurrence"):
        TrainConfig(token_init="glove")


@pytest.mark.parametrize(("token_init", "calls"), [("cooccurrence", 1), ("random", 0)])
def test_pretraining_starts_a_scratch_tower_from_cooccurrence_only_when_asked(
    corpus, make_configs, tmp_path, monkeypatch, token_init, calls
):
    seen = []
    real = pretraining.init_token_embeddings

    def spy(embedding, tokenizer, texts, seed=0):
        seen.append(len(texts))
        return real(embedding, tokenizer, texts, seed)

    monkeypatch.setattr(pretraining, "init_token_embeddings", spy)
    model_cfg, train_cfg = make_configs(steps=2, token_init=token_init)
    pretraining.pretrain(corpus, model_cfg, train_cfg, tmp_path)
    assert len(seen) == calls
    if calls:  # every text the text objectives see, item texts and captions included
        assert seen == [len(pretraining.corpus_texts(corpus))]
    # A resumed run keeps its checkpoint's embeddings: no second start.
    pretraining.pretrain(corpus, model_cfg, dataclasses.replace(train_cfg, steps=3), tmp_path)
    assert len(seen) == calls
