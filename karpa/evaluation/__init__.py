"""Evaluation library for the fine-tune/evaluate stage and the promotion gate.

Pure numpy / scikit-learn / matplotlib; nothing here imports Prefect, MLflow or torch, so
every function can be tested and reused on plain arrays. One concept per module:

- `classification`: accuracy, macro/per-class F1, out-of-scope metrics, calibration (ECE),
  the out-of-scope threshold chosen on validation probabilities.
- `ranking`: HR@K, NDCG@K, MRR under full ranking or sampled negatives, with the protocol
  returned next to the numbers.
- `bootstrap`: percentile bootstrap intervals and the paired bootstrap for a difference.
- `slices`: metrics by slice (length, class, popularity, cold start, history length).
- `perturb`: seeded, label-preserving perturbations of texts and item histories.
- `robustness`: the same examples clean and perturbed, as slices with intervals.
- `baselines`: TF-IDF + logistic regression; popularity, item-kNN and EASE recommenders.
- `plots`: reliability diagram, confusion matrix, learning curve (PNG, Agg).
- `model_card`: a model card per application, as markdown and self-contained HTML.

Submodules are imported where used (no re-exports here) so that importing one metric does
not pull in matplotlib or scikit-learn's text stack.
"""
