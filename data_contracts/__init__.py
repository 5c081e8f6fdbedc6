"""Data contracts: one YAML per canonical table, compiled to Great Expectations.

Public API (pure functions; no Prefect, no MLflow):
- `load_contract`, `load_contracts`, `parse_contract`, `Contract.fingerprint`;
- `validate_table`, `validate_tables` -> `TableResult` (accepted, quarantine, outcomes);
- `stop_sentence`: None, or the one sentence saying why a run stops;
- `scrub_text`, `scrub_frame`: emails, phones, cards, IBANs -> placeholders, with counts;
- `profile_table`, `compute_drift`: JSON profiles and drift findings;
- `render_validation_report` (self-contained HTML), `render_markdown_summary`.
Great Expectations is imported only when a table is validated.
"""

from data_contracts.drift import DriftFinding, compute_drift
from data_contracts.images import check_image, scan_images
from data_contracts.loader import ContractError, load_contract, load_contracts, parse_contract
from data_contracts.model import Contract
from data_contracts.outcomes import RuleOutcome, TableResult
from data_contracts.pii import scrub_frame, scrub_text
from data_contracts.profile import profile_table
from data_contracts.report import render_markdown_summary, render_validation_report
from data_contracts.stop import stop_sentence
from data_contracts.validate import validate_table, validate_tables

__all__ = [
    "Contract",
    "ContractError",
    "DriftFinding",
    "RuleOutcome",
    "TableResult",
    "check_image",
    "compute_drift",
    "load_contract",
    "load_contracts",
    "parse_contract",
    "profile_table",
    "render_markdown_summary",
    "render_validation_report",
    "scan_images",
    "scrub_frame",
    "scrub_text",
    "stop_sentence",
    "validate_table",
    "validate_tables",
]
