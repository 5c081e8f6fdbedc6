"""Tokenizer, configs, corpus and batch construction: the data side of pretraining."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from karpa_models.batches import (
    PretrainBatches,
    crop_sequences,
    crop_texts,
    global_positions,
    mask_items,
    mask_tokens,
    split_texts,
)
from karpa_models.config import ModelConfig, TrainConfig, load_preset, preset_names
from karpa_models.corpus import CorpusError, PretrainCorpus
from karpa_models.objectives import IGNORE
from karpa_models.pretraining import concrete_model_config, corpus_texts
from karpa_models.tokenizer import (
    SpecialTokens,
    encode_texts,
    load_tokenizer,
    save_tokenizer,
    tokenizer_fingerprint,
    train_tokenizer,
    wordpiece_vocab,
)

TEXTS = [
    "The Crimson mug is lovely",
    "a red mug",
    "refund my order please",
    "where is my order",
] * 20


def test_tokenizer_is_lowercase_wordpiece_wrapped_in_cls_sep(tmp_path):
    tok = train_tokenizer(TEXTS, vocab_size=200)
    assert tok.get_vocab_size() <= 200
    enc = tok.encode("The CRIMSON Mug")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert tok.encode("crimson").ids == tok.encode("CRIMSON").ids
    loaded = load_tokenizer(save_tokenizer(tok, tmp_path / "tok.json"))
    assert loaded.encode("a red mug").ids == tok.encode("a red mug").ids
    assert loaded.to_str() == tok.to_str()
    assert [tok.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


_TRAIN_IN_A_FRESH_PROCESS = """
import json, sys
from karpa_models.tokenizer import train_tokenizer
texts = json.loads(sys.stdin.read())
print(train_tokenizer(texts, vocab_size=120).to_str())
"""


def test_tokenizer_training_is_deterministic_across_processes():
    # Many equal pair counts: HF's trainer broke these ties in hash-map order, which is
    # seeded afresh in every process (tokenizers#1794), so compare two fresh processes.
    texts = [f"{a}{b} {b}{a}x" for a in "pqrstuvw" for b in "klmnoz"] * 3 + TEXTS
    runs = [
        subprocess.run(
            [sys.executable, "-c", _TRAIN_IN_A_FRESH_PROCESS],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert runs[0] == train_tokenizer(texts, vocab_size=120).to_str()


def test_wordpiece_vocab_merges_the_most_frequent_pair_and_breaks_ties_by_string():
    vocab = wordpiece_vocab({"ab": 5, "cd": 5, "ef": 2}, vocab_size=13, min_frequency=2)
    ids = list(vocab)
    assert ids[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert ids[5:11] == ["a", "c", "e", "##b", "##d", "##f"]
    assert ids[11:] == ["ab", "cd"]  # 5 and 5: "ab" first by string; "ef" (2) left out
    assert list(wordpiece_vocab({"ef": 1}, 100, min_frequency=2))[-1] == "##f"  # too rare


def test_fingerprint_tracks_texts_and_vocab_size():
    fp = tokenizer_fingerprint(TEXTS, 200)
    assert fp == tokenizer_fingerprint(list(TEXTS), 200)
    assert fp != tokenizer_fingerprint(TEXTS, 300)
    assert tokenizer_fingerprint(["ab", "c"], 200) != tokenizer_fingerprint(["a", "bc"], 200)


def test_encode_texts_truncates_but_keeps_the_closing_token():
    tok = train_tokenizer(TEXTS, vocab_size=200)
    special = SpecialTokens.of(tok)
    enc = encode_texts(tok, ["a red mug " * 20, "a red mug"], max_len=8)
    assert enc.ids.shape == (2, 8)
    assert enc.lengths.tolist()[0] == 8
    assert enc.ids[0, 7] == tok.token_to_id("[SEP]")
    assert (enc.ids[1, enc.lengths[1] :] == special.pad).all()
    ids, mask = enc.take(np.array([1]))
    assert ids.shape == mask.shape == (1, enc.lengths[1]) and mask.all()


def test_presets_load_and_configs_round_trip():
    assert {"tiny", "small", "base"} <= set(preset_names())
    for name in ("tiny", "small", "base"):
        model, train = load_preset(name)
        assert ModelConfig.from_dict(model.to_dict()) == model
        assert TrainConfig.from_dict(train.to_dict()) == train
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict({"text": {"widht": 3}})
    with pytest.raises(ValueError, match="unknown objectives"):
        TrainConfig(loss_weights={"mlm": 1.0, "typo": 1.0})
    with pytest.raises(FileNotFoundError, match="no model preset"):
        load_preset("huge")


def test_corpus_validation_names_the_field():
    with pytest.raises(CorpusError, match=r"sequences\[1\] holds item index 5 outside 0..1"):
        PretrainCorpus(item_texts=["a", "b"], sequences=[np.array([0, 1]), np.array([5])])
    with pytest.raises(CorpusError, match="caption_images has 0 rows, expected 1"):
        PretrainCorpus(captions=["a red square"])
    with pytest.raises(CorpusError, match="uint8"):
        PretrainCorpus(captions=["x"], caption_images=np.zeros((1, 32, 32, 3), np.float32))


def test_corpus_save_load_round_trip(tmp_path, corpus):
    loaded = PretrainCorpus.load(corpus.save(tmp_path / "corpus"))
    assert loaded.fingerprint() == corpus.fingerprint()
    assert [s.tolist() for s in loaded.sequences] == [s.tolist() for s in corpus.sequences]


def test_mask_tokens_never_touches_specials_and_targets_every_row():
    tok = train_tokenizer(TEXTS, vocab_size=200)
    special = SpecialTokens.of(tok)
    enc = encode_texts(tok, TEXTS, max_len=16)
    ids, mask = enc.take(np.arange(len(TEXTS)))
    rng = np.random.default_rng(0)
    inputs, labels = mask_tokens(ids, mask, special, tok.get_vocab_size(), 0.15, rng)
    target = labels != IGNORE
    assert target.any(1).all()  # every text contributes
    assert not np.isin(ids[target], special.all_ids).any()  # never CLS/SEP/PAD
    assert (inputs[~target] == ids[~target]).all()  # untouched elsewhere
    assert (labels[target] == ids[target]).all()
    # On long texts the at-least-one guarantee is rare and the share is the configured 15%.
    words = np.random.default_rng(1).integers(10, 100, size=(200, 64))
    _, many = mask_tokens(words, np.ones_like(words, bool), special, 100, 0.15, rng)
    assert 0.13 < (many != IGNORE).mean() < 0.17


def test_sequences_crop_and_mask_items():
    rng = np.random.default_rng(0)
    seqs = [np.arange(40), np.array([3, 4])]
    items, mask = crop_sequences(seqs, max_len=8, pad=99, rng=rng)
    assert items.shape == (2, 8) and mask.sum(1).tolist() == [8, 2]
    assert (np.diff(items[0]) == 1).all()  # a contiguous window, order kept
    inputs, labels = mask_items(items, mask, mask_id=100, prob=0.2, rng=rng)
    target = labels != IGNORE
    assert target.any(1).all() and not target[~mask].any()
    assert (inputs[target] == 100).all() and (labels[target] == items[target]).all()


def test_text_crops_keep_the_outer_tokens_and_a_contiguous_span():
    rng = np.random.default_rng(0)
    ids = np.array(
        [[2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 3], [2, 20, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    )
    mask = ids != 0
    for _ in range(20):
        out, m = crop_texts(ids, mask, 0.3, 0.6, pad=0, rng=rng)
        n = m.sum(1)
        assert 3 + 2 <= n[0] <= 6 + 2 and n[1] == 3  # 3-6 of the 10 words; one word stays
        assert out[0, 0] == 2 and out[0, n[0] - 1] == 3 and (out[~m] == 0).all()
        body = out[0, 1 : n[0] - 1]
        assert (np.diff(body) == 1).all() and body[0] >= 10 and body[-1] <= 19
        assert out[1, : n[1]].tolist() == [2, 20, 3]


def test_split_views_are_two_disjoint_parts_cut_between_words():
    rng = np.random.default_rng(0)
    # Token 12 and 16 continue a word ("##..."): a cut never falls before them.
    word_start = np.ones(30, dtype=bool)
    word_start[[12, 16]] = False
    ids = np.array(
        [[2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 3], [2, 20, 21, 3, 0, 0, 0, 0, 0, 0, 0, 0]]
    )
    mask = ids != 0
    cuts = set()
    for _ in range(30):
        (a, ma), (b, mb) = split_texts(ids, mask, word_start, 0.3, 0.7, pad=0, rng=rng)
        na, nb = ma.sum(1), mb.sum(1)
        body_a, body_b = a[0, 1 : na[0] - 1], b[0, 1 : nb[0] - 1]
        # Together the two parts are the text, in order, with no token in both.
        assert body_a.tolist() + body_b.tolist() == list(range(10, 20))
        assert a[0, 0] == b[0, 0] == 2 and a[0, na[0] - 1] == b[0, nb[0] - 1] == 3
        assert body_b[0] not in (12, 16) and 2 <= len(body_a) <= 8
        assert a[1, : na[1]].tolist() == [2, 20, 3] and b[1, : nb[1]].tolist() == [2, 21, 3]
        cuts.add(len(body_a))
    assert len(cuts) > 2  # the cut moves


def test_crop_views_are_two_different_spans_of_the_same_texts(corpus, make_configs):
    model_cfg, train_cfg = make_configs(text_views="crops")
    tok = train_tokenizer(corpus_texts(corpus), 500)
    cfg = concrete_model_config(model_cfg, tok, corpus)
    batch = PretrainBatches(corpus, tok, cfg, train_cfg)[0]
    a, b = batch["text_a_mask"], batch["text_b_mask"]
    assert a.shape[0] == b.shape[0] == batch["text_a_ids"].shape[0]
    assert batch["text_a_ids"].shape == a.shape and batch["text_b_labels"].shape == b.shape
    assert not np.array_equal(a.sum(1).numpy(), b.sum(1).numpy())  # independent lengths
    split = PretrainBatches(corpus, tok, cfg, make_configs(text_views="split")[1])[0]
    a_ids, b_ids = split["text_a_ids"], split["text_b_ids"]
    assert a_ids.shape[0] == b_ids.shape[0] and split["text_b_labels"].shape == b_ids.shape
    with pytest.raises(ValueError, match="text_views"):
        make_configs(text_views="shuffled")
    with pytest.raises(ValueError, match="crop_ratio"):
        make_configs(crop_ratio=(0.8, 0.2))


def test_global_positions_are_epoch_permutations_and_ranks_are_disjoint():
    seen = np.concatenate(
        [global_positions(s, pool=10, batch=5, seed=0, stream=0) for s in range(4)]
    )
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))
    assert not np.array_equal(seen[:10], seen[10:])  # a fresh order each epoch


def test_batches_shard_one_global_batch_across_ranks(corpus, make_configs):
    model_cfg, train_cfg = make_configs()
    tok = train_tokenizer(corpus_texts(corpus), 500)
    cfg = concrete_model_config(model_cfg, tok, corpus)
    single = PretrainBatches(corpus, tok, cfg, train_cfg)
    ranks = [PretrainBatches(corpus, tok, cfg, train_cfg, rank=r, world_size=2) for r in (0, 1)]
    whole = single[3]
    halves = [r[3] for r in ranks]
    assert set(single.active) == {
        "mlm",
        "text_contrastive",
        "image_text",
        "masked_item",
        "content_behaviour",
    }
    both = np.concatenate([h["item_idx"].numpy() for h in halves])
    assert np.array_equal(np.sort(both), np.sort(whole["item_idx"].numpy()))
    assert len(set(halves[0]["item_idx"].tolist()) & set(halves[1]["item_idx"].tolist())) == 0
    assert whole["pair_images"].shape == (16, 32, 32, 3)
    # A batch depends on the step only: building it twice gives the same tensors.
    again = single[3]
    assert all(np.array_equal(whole[k].numpy(), again[k].numpy()) for k in whole)


def test_karpa_models_imports_no_pipeline_framework():
    import subprocess
    import sys

    code = (
        "import pkgutil, importlib, sys, karpa_models\n"
        "for m in pkgutil.iter_modules(karpa_models.__path__):\n"
        "    importlib.import_module('karpa_models.' + m.name)\n"
        "bad = sorted({n.split('.')[0] for n in sys.modules} & {'prefect', 'mlflow', 'pandas'})\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
