"""The MLflow Model Registry: versions, aliases, and the audit trail of every alias move.

A new version gets the alias `challenger`; only the gate moves `champion`. Every decision
(promoted or refused) is written three times, each for its reader: as tags on the model
version (the MLflow UI), as one JSON line in `<home>/audit.jsonl` (append-only, what
`karpa models history` prints) and in the promote stage's MLflow run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from karpa.tracking.fluent import tracking_uri as pointing_at
from karpa.tracking.guard import GuardedClient

CHAMPION, CHALLENGER = "champion", "challenger"


class Registry:
    def __init__(self, tracking_uri: str, audit_log: Path) -> None:
        self.tracking_uri = tracking_uri
        self.client = GuardedClient(
            MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        )
        self.audit_log = audit_log

    def register(
        self,
        name: str,
        model_uri: str,
        run_id: str | None,
        tags: dict[str, str],
        key: dict[str, str] | None = None,
    ) -> str:
        """A new version of `name` from a logged model; it becomes the challenger.

        With `key` (tags that name who registers it, e.g. the pipeline run and the
        application), registering is idempotent: a retry finds the version that an earlier
        attempt made and returns it, instead of registering a duplicate.
        """
        if key:
            found = self.find_version(name, key)
            if found is not None:
                if self.alias_version(name, CHALLENGER) != found:
                    self.move(name, CHALLENGER, found, "registered as the newest version")
                return found
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(
                name,
                description=f"karpa {name.removeprefix('karpa-')}: champion and "
                "challenger versions, moved only by the promotion gate",
            )
        # A logged model (`models:/m-<id>`) is linked by id, so the registry shows its lineage.
        model_id = (
            model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
        )
        # A local registry store finds that logged model through MLflow's global tracking
        # URI, not this client's (karpa.tracking.fluent says why).
        with pointing_at(self.tracking_uri):
            version = self.client.create_model_version(
                name, model_uri, run_id=run_id, tags={**tags, **(key or {})}, model_id=model_id
            )
        self.move(name, CHALLENGER, str(version.version), "registered as the newest version")
        return str(version.version)

    def find_version(self, name: str, tags: dict[str, str]) -> str | None:
        """The newest version of `name` that carries every one of `tags`, or None."""
        where = " and ".join(
            [
                f"name = '{_quoted(name)}'",
                *(f"tags.`{k}` = '{_quoted(v)}'" for k, v in tags.items()),
            ]
        )
        try:
            found = self.client.search_model_versions(where)
        except MlflowException:
            return None
        versions = [
            int(v.version)
            for v in found
            if all(v.tags.get(k) == value for k, value in tags.items())
        ]
        return str(max(versions)) if versions else None

    def recorded_decision(self, name: str, version: str) -> tuple[bool, str, dict] | None:
        """The gate's decision already recorded on a version (promoted, reason, figures)."""
        tags = self.client.get_model_version(name, version).tags
        if "karpa.decision" not in tags:
            return None
        try:
            figures = json.loads(tags.get("karpa.figures", "{}"))
        except json.JSONDecodeError:  # cut at 5,000 characters
            figures = {}
        return tags["karpa.decision"] == "promoted", tags.get("karpa.reason", ""), figures

    def alias_version(self, name: str, alias: str) -> str | None:
        found = self.alias_info(name, alias)
        return None if found is None else str(found.version)

    def alias_info(self, name: str, alias: str) -> ModelVersion | None:
        """The version behind `name@alias` (its run id, source and tags), or None."""
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None

    def model_uri(self, name: str, alias: str = CHAMPION) -> str:
        return f"models:/{name}@{alias}"

    def move(
        self,
        name: str,
        alias: str,
        version: str,
        reason: str,
        figures: dict[str, Any] | None = None,
    ) -> None:
        previous = self.alias_version(name, alias)
        self.client.set_registered_model_alias(name, alias, version)
        self._audit(
            {
                "event": "alias",
                "model": name,
                "alias": alias,
                "version": version,
                "previous": previous,
                "reason": reason,
                "figures": figures or {},
            }
        )

    def record_decision(
        self, name: str, version: str, promote: bool, reason: str, figures: dict[str, Any]
    ) -> None:
        tags = {
            "karpa.decision": "promoted" if promote else "refused",
            "karpa.reason": reason[:5000],
            "karpa.figures": json.dumps(figures, default=str)[:5000],
        }
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)
        self._audit(
            {
                "event": "decision",
                "model": name,
                "version": version,
                "promoted": promote,
                "reason": reason,
                "figures": figures,
            }
        )
        if promote:
            self.move(name, CHAMPION, version, reason, figures)

    def _audit(self, entry: dict[str, Any]) -> None:
        entry = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **entry}
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        with self.audit_log.open("a") as f:
            f.write(json.dumps(entry, default=str) + "\n")


def _quoted(value: str) -> str:
    return value.replace("'", "\\'")


def history(audit_log: Path, name: str) -> list[dict[str, Any]]:
    """Every audit entry of one registered model, oldest first."""
    if not audit_log.is_file():
        return []
    rows = [json.loads(line) for line in audit_log.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("model") == name]


def explaining_predictor(tracking_uri: str, model_uri: str):
    """The logged model as `DataFrame -> DataFrame` answering with explanations, or None
    when its signature has no `explain` param (a version logged before explanations)."""
    with pointing_at(tracking_uri):
        model = mlflow.pyfunc.load_model(model_uri)
    schema = model.metadata.get_params_schema()
    if schema is None or "explain" not in {p.name for p in schema.params}:
        return None
    return lambda frame: model.predict(frame, params={"explain": True})


def load_predictor(tracking_uri: str, model_uri: str):
    """A logged pyfunc model as a plain `DataFrame -> DataFrame` function."""
    with pointing_at(tracking_uri):
        model = mlflow.pyfunc.load_model(model_uri)
    return model.predict
