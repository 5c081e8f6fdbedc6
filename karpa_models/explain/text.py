"""One JSON-ready explanation per text: label, probability, top words with their
attributions, and the nearest labeled training examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from karpa_models.explain.neighbours import NeighbourIndex, sentence_vectors
from karpa_models.explain.tokens import attribute_tokens
from karpa_models.finetune.predictors import FineTunedClassifier


def explain_texts(
    clf: FineTunedClassifier,
    texts: Sequence[str],
    index: NeighbourIndex | None,
    n_steps: int = 16,
    top_words: int = 5,
    n_neighbours: int = 3,
) -> list[dict[str, Any]]:
    """Per text: {"label", "probability", "explained_class", "words": [{"word",
    "attribution"}], "attribution_delta", "nearest": [{"text", "label", "similarity"}]}.

    The explained class is the top in-scope class; "label" is the out-of-scope label
    instead when the classifier's threshold rejects the text (its words then say what
    little pulled towards the top class). `nearest` is empty without an index.
    """
    attributions = attribute_tokens(clf.model, clf.tokenizer, texts, clf.max_len, n_steps=n_steps)
    nearest: list[list[tuple[int, float]]] = [[] for _ in texts]
    if index is not None and len(index) > 0:
        queries = sentence_vectors(clf.model, clf.tokenizer, texts, clf.max_len, clf.runtime)
        nearest = index.nearest(queries, n_neighbours)
    out = []
    for a, near in zip(attributions, nearest, strict=True):
        label = clf.classes[a.target]
        if clf.oos_threshold is not None and a.probability < clf.oos_threshold:
            label = clf.oos_label
        out.append(
            {
                "label": label,
                "probability": a.probability,
                "explained_class": clf.classes[a.target],
                "words": [{"word": w, "attribution": s} for w, s in a.top_words(top_words)],
                "attribution_delta": a.delta,
                "nearest": [
                    {
                        "text": index.texts[row],
                        "label": clf.classes[int(index.labels[row])],
                        "similarity": sim,
                    }
                    for row, sim in near
                ]
                if index is not None
                else [],
            }
        )
    return out
