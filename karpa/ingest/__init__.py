"""Ingestion: sources (CSV, JSONL, Parquet, image folders; local or fsspec) -> canonical tables."""
