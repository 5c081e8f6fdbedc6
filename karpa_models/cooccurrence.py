"""Token vectors from in-text co-occurrence: the distributional start of a text tower.

Words that stand in for one another ("crimson", "scarlet" and "red"; a misspelling and
the word it misspells; two phrasings of one request) keep the same company: the other
words of the texts they occur in. A truncated SVD of the positive pointwise mutual
information between tokens that occur in one text (the LSA / GloVe family; Levy &
Goldberg 2014 show skip-gram factorises a shifted PMI matrix) places such substitutes
together, from the unlabeled corpus alone, in seconds on a CPU. A text tower trained
from random weights starts from these vectors (`train.token_init: cooccurrence`) and the
gradient objectives go on from there; what each part contributes is measured by
bench/pretrain_checks.py (README, "The distributional start").

Deterministic: the same tokenizer, texts and seed give the same vectors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from tokenizers import Tokenizer
from torch import nn

from karpa_models.config import ModelConfig, TrainConfig
from karpa_models.tokenizer import SpecialTokens

logger = logging.getLogger(__name__)


def starts_from_cooccurrence(model_cfg: ModelConfig, train_cfg: TrainConfig) -> bool:
    """Whether pretraining starts the token embeddings from co-occurrence: asked for, and
    the text tower is trained from scratch (a pretrained start keeps its own)."""
    return train_cfg.token_init == "cooccurrence" and not model_cfg.text_init


@dataclass(frozen=True)
class TokenVectors:
    vectors: np.ndarray  # (V, C) float32; rows of `seen` tokens unit norm, others zero
    seen: np.ndarray  # (V,) bool: the token co-occurred with another in some text
    seconds: float


def _presence(tokenizer: Tokenizer, texts: Sequence[str], skip: Sequence[int]) -> sp.csr_matrix:
    """(N, V) binary: which tokens occur in each text (special tokens left out)."""
    vocab = tokenizer.get_vocab_size()
    keep = np.ones(vocab, dtype=bool)
    keep[list(skip)] = False
    indptr, indices = [0], []
    for enc in tokenizer.encode_batch(list(texts)):
        ids = np.unique(np.asarray(enc.ids, dtype=np.int64))
        ids = ids[keep[ids]]
        indices.append(ids)
        indptr.append(indptr[-1] + len(ids))
    flat = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    data = np.ones(len(flat), dtype=np.float32)
    return sp.csr_matrix((data, flat, np.asarray(indptr)), shape=(len(texts), vocab))


def ppmi(presence: sp.csr_matrix) -> sp.csr_matrix:
    """(V, V) positive PMI of two tokens occurring in one text, from (N, V) presence."""
    counts = (presence.T @ presence).tocoo()  # (V, V) texts holding both tokens
    off = counts.row != counts.col  # a token's company, not itself
    rows, cols, joint = counts.row[off], counts.col[off], counts.data[off].astype(np.float64)
    vocab = presence.shape[1]
    marginal = np.bincount(rows, weights=joint, minlength=vocab)  # (V,)
    total = joint.sum()
    if total == 0:
        return sp.csr_matrix((vocab, vocab), dtype=np.float32)
    pmi = np.log(joint * total / (marginal[rows] * marginal[cols]))
    positive = pmi > 0
    return sp.csr_matrix(
        (pmi[positive].astype(np.float32), (rows[positive], cols[positive])),
        shape=(vocab, vocab),
    )


def cooccurrence_vectors(
    tokenizer: Tokenizer, texts: Sequence[str], width: int, seed: int = 0
) -> TokenVectors:
    """(V, width) token vectors: truncated SVD of the in-text PPMI matrix, rows L2-normalised.

    Tokens that never share a text with another (special tokens, unseen pieces) get a zero
    row and seen=False: the caller keeps their random initialisation."""
    from sklearn.decomposition import TruncatedSVD

    started = time.perf_counter()
    vocab = tokenizer.get_vocab_size()
    matrix = ppmi(_presence(tokenizer, texts, SpecialTokens.of(tokenizer).all_ids))
    seen = np.asarray(matrix.getnnz(axis=1) > 0)
    vectors = np.zeros((vocab, width), dtype=np.float32)
    rank = min(width, int(seen.sum()) - 1, vocab - 1)
    if rank >= 1:
        svd = TruncatedSVD(rank, algorithm="randomized", n_iter=7, random_state=seed)
        reduced = svd.fit_transform(matrix[seen]).astype(np.float32)  # (V_seen, rank) = U S
        norms = np.linalg.norm(reduced, axis=1, keepdims=True)
        vectors[seen, :rank] = reduced / np.maximum(norms, 1e-12)
    else:
        seen[:] = False
    return TokenVectors(vectors, seen, time.perf_counter() - started)


@torch.no_grad()
def init_token_embeddings(
    embedding: nn.Embedding, tokenizer: Tokenizer, texts: Sequence[str], seed: int = 0
) -> TokenVectors:
    """Overwrite the rows of `embedding` (V, C) whose tokens co-occur in `texts` with their
    co-occurrence vectors; the other rows keep their initialisation. -> what was set."""
    vocab, width = embedding.weight.shape
    if tokenizer.get_vocab_size() != vocab:
        raise ValueError(
            f"the tokenizer has {tokenizer.get_vocab_size()} tokens, the embedding {vocab} rows"
        )
    found = cooccurrence_vectors(tokenizer, texts, width, seed)
    rows = torch.from_numpy(np.flatnonzero(found.seen)).to(embedding.weight.device)
    embedding.weight[rows] = torch.from_numpy(found.vectors[found.seen]).to(embedding.weight)
    logger.info(
        "token embeddings from in-text co-occurrence: %d of %d tokens set from %d texts in %.1f s",
        int(found.seen.sum()),
        vocab,
        len(texts),
        found.seconds,
    )
    return found
