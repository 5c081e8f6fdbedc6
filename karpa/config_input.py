"""What people type into a run configuration, and what they are told when it is wrong.

`--set KEY=VALUE` overrides (and the form's free-form overrides) are parsed here, and a
pydantic validation error of the run schema becomes one sentence that names the file, the
key and, for an unknown key, the nearest valid key at that level (`did you mean ...?`).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from karpa.errors import ConfigError, first_line

SET_EXAMPLE = "ingest.batch_rows=50000"


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """`; did you mean 'prefix.choice'?` for the closest choice, or nothing."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {prefix + match[0]!r}?" if match else ""


def keys_of(section: Any) -> dict[str, Any]:
    """A section's keys as a user writes them (aliases where there are), with each key's
    type: a pydantic model's fields or a dataclass's."""
    fields = getattr(section, "model_fields", None)
    if fields is not None:
        return {(f.alias or name): f.annotation for name, f in fields.items()}
    if dataclasses.is_dataclass(section):
        return {f.name: f.type for f in dataclasses.fields(section)}
    return {}


def _section(annotation: Any) -> Any:
    """The section type an annotation holds (through `X | None` and `Annotated`), or None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _section(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found = [_section(a) for a in typing.get_args(annotation) if a is not type(None)]
        return next((f for f in found if f is not None), None)
    return annotation if keys_of(annotation) else None


def key_pattern(root: Any) -> str:
    """A regular expression of every key an override may set (for a JSON-schema pattern,
    so Prefect's API refuses an unknown key before a flow run exists): a section, or one
    of its keys, recursively, as a tree (`data(\\.(root|sources(...)?))?`); a mapping
    (data.sources.<table>) takes any name."""
    return "(" + "|".join(key + _below(a) for key, a in keys_of(root).items()) + ")"


def _below(annotation: Any) -> str:
    """The pattern of what may follow a key of this type: `.name` for a mapping (and what
    its values allow), `.key` of a section, or nothing for a plain value."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _below(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return max((_below(a) for a in typing.get_args(annotation)), key=len)
    if origin is dict:
        return rf"(\.[A-Za-z0-9_-]+{_below(typing.get_args(annotation)[1])})?"
    section = _section(annotation)
    return rf"(\.{key_pattern(section)})?" if section is not None else ""


def section_at(root: type[BaseModel], path: list[str]) -> Any:
    """The section type found by walking `path` from the root, or None. A mapping of
    sections (data.sources.<table>) takes any key."""
    current: Any = root
    parts = list(path)
    while parts:
        keys = keys_of(current)
        part = parts.pop(0)
        if part not in keys:
            return None
        current = keys[part]
        if typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
            if not parts:
                return None
            parts.pop(0)
    return current


def sentence(error: dict[str, Any], source: str, root: type[BaseModel]) -> str:
    """One pydantic error of the run schema as one sentence, after `source: ` (the file,
    and how it was changed) when there is a source."""
    loc = [str(p) for p in error["loc"]]
    key = ".".join(loc)
    where = f"{source}: " if source else ""
    # A dataclass section (finetune.<app>.privacy) says "unexpected_keyword_argument".
    if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        near = did_you_mean(
            loc[-1], keys_of(section_at(root, loc[:-1])), prefix="".join(f"{p}." for p in loc[:-1])
        )
        return f"{where}unknown key {key!r}{near}"
    if error["type"] == "value_error":
        # Our own validators' messages are sentences already, with the value in them.
        return f"{where}{key}: {error['ctx']['error']}"
    return f"{where}{key}: {error['msg']} (got {error.get('input')!r})"


def explain(err: ValidationError, source: str, root: type[BaseModel]) -> ConfigError:
    return ConfigError(sentence(err.errors()[0], source, root))


def parse_override(text: str, option: str = "--set") -> tuple[str, Any]:
    """`key.path=value`, the value parsed as YAML (so numbers and lists keep their type)."""
    if "=" not in text:
        raise ConfigError(
            f"{option} {text!r}: expected KEY=VALUE, for example {SET_EXAMPLE}".lstrip()
        )
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{option} {text!r}: the value is not valid YAML ({first_line(exc)})".lstrip()
        ) from None
    return key.strip(), value


def set_path(tree: dict[str, Any], dotted: str, value: Any, option: str = "--set") -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{option} {dotted}: {part!r} is a value, not a section".lstrip())
    node[parts[-1]] = value


def check_override(root: type[BaseModel], key: str, value: Any, source: str) -> None:
    """Check one override against the schema without the file it will apply to: the key
    must exist and the value must fit it. Keys the file would supply are not asked for,
    unless the override sets their whole section."""
    tree: dict[str, Any] = {}
    set_path(tree, key, value, option=source)
    parts = key.split(".")
    try:
        root.model_validate(tree)
    except ValidationError as err:
        for error in err.errors():
            loc = [str(p) for p in error["loc"]]
            if error["type"] == "missing" and loc[: len(parts)] != parts:
                continue
            raise ConfigError(sentence(error, source, root)) from None
