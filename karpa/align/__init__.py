"""Alignment: one consistent, leakage-free multimodal view of the data for every later stage."""
