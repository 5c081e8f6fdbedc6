"""Architecture and hyperparameter search with Optuna (`karpa search`).

`space`: the typed space at work (sample, apply). `trial`: one trial, pretrain and
fine-tune at a reduced budget, scored on validation. `objectives`: quality, latency of one
request, size. `study`: the stored, resumable, pruned multi-objective study. `front`: the
Pareto front as a table and a plot. `preset`: a chosen trial written as a model preset.
"""
