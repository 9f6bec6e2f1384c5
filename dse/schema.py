"""A small declarative schema: validates plain data (parsed YAML) and emits JSON Schema.

The sweep-file validator and the published JSON Schema (`configs/sweep.schema.json`) are
generated from the same declarations, so they cannot drift apart. Every error names the YAML
path of the offending entry, what was given and what is valid (with close matches for
misspelled keys and names).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dse.errors import Number, UserError, suggest
from dse.errors import at as _at


class Node:
    doc: str = ""

    def check(self, value: Any, path: str) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def json(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def _with_doc(self, out: dict) -> dict:
        if self.doc:
            out["description"] = self.doc
        return out


@dataclass
class Num(Number, Node):
    """A `Number` in a schema: it also emits its JSON Schema."""

    def json(self) -> dict:
        out: dict = {"type": "integer" if self.integer else "number"}
        if self.minimum is not None:
            out["exclusiveMinimum" if self.open_min else "minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return self._with_doc(out)


@dataclass
class Str(Node):
    """A string, optionally one of `choices` or accepted by `validate` (which raises
    UserError)."""

    choices: Sequence[str] | None = None
    validate: Callable[[str], Any] | None = None
    doc: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise UserError(f"{_at(path)}: expected a string, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise UserError(
                f"{_at(path)}: {value!r} is not valid{suggest(value, self.choices)}; "
                f"valid choices: {', '.join(map(str, self.choices))}"
            )
        if self.validate is not None:
            try:
                self.validate(value)
            except UserError as exc:
                raise UserError(f"{_at(path)}: {exc}") from None
        return value

    def json(self) -> dict:
        out: dict = {"type": "string"}
        if self.choices is not None:
            out["enum"] = list(self.choices)
        return self._with_doc(out)


@dataclass
class Bool(Node):
    doc: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise UserError(f"{_at(path)}: expected true or false, got {value!r}")
        return value

    def json(self) -> dict:
        return self._with_doc({"type": "boolean"})


@dataclass
class Any_(Node):
    doc: str = ""

    def check(self, value: Any, path: str) -> Any:
        return value

    def json(self) -> dict:
        return self._with_doc({})


@dataclass
class OneOf(Node):
    """The first alternative that accepts the value; the error lists what was expected."""

    options: Sequence[Node] = ()
    doc: str = ""

    def check(self, value: Any, path: str) -> Any:
        errors = []
        for opt in self.options:
            try:
                return opt.check(value, path)
            except UserError as exc:
                errors.append(str(exc))
        # the most specific message: the one from an alternative of the value's own shape
        raise UserError(max(errors, key=_specificity))

    def json(self) -> dict:
        return self._with_doc({"anyOf": [o.json() for o in self.options]})


def _specificity(message: str) -> int:
    return 0 if "expected" in message.split(":", 1)[-1][:20] else len(message)


@dataclass
class ListOf(Node):
    item: Node = field(default_factory=Any_)
    min_items: int = 0
    doc: str = ""
    max_items: int | None = None

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise UserError(f"{_at(path)}: expected a list, got {value!r}")
        if len(value) < self.min_items:
            raise UserError(
                f"{_at(path)}: needs at least {self.min_items} entries, got none"
                if not value
                else f"{_at(path)}: needs at least {self.min_items}"
            )
        if self.max_items is not None and len(value) > self.max_items:
            raise UserError(
                f"{_at(path)}: at most {self.max_items} entries, got {len(value)}: {value!r}"
            )
        return [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def json(self) -> dict:
        out = {"type": "array", "items": self.item.json(), "minItems": self.min_items}
        if self.max_items is not None:
            out["maxItems"] = self.max_items
        return self._with_doc(out)


@dataclass
class MapOf(Node):
    """A mapping whose keys are checked by `key` and values by `value`."""

    value: Node = field(default_factory=Any_)
    key: Str = field(default_factory=Str)
    doc: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            raise UserError(f"{_at(path)}: expected a mapping, got {value!r}")
        out = {}
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            self.key.check(k, sub)
            out[k] = self.value.check(v, sub)
        return out

    def json(self) -> dict:
        out: dict = {"type": "object", "additionalProperties": self.value.json()}
        if self.key.choices is not None:
            out["propertyNames"] = {"enum": list(self.key.choices)}
        return self._with_doc(out)


@dataclass
class Record(Node):
    """A mapping with known keys; `required` keys must be present, others get `defaults`."""

    fields: Mapping[str, Node] = field(default_factory=dict)
    required: Sequence[str] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""

    def check(self, value: Any, path: str) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise UserError(f"{_at(path)}: expected a mapping, got {value!r}")
        for k in value:
            if k not in self.fields:
                sub = f"{path}.{k}" if path else str(k)
                raise UserError(
                    f"{sub}: unknown key {k!r}{suggest(str(k), self.fields)}; valid keys: "
                    + ", ".join(self.fields)
                )
        for k in self.required:
            if k not in value:
                raise UserError(f"{_at(path)}: missing required key {k!r}")
        out = {}
        for k, node in self.fields.items():
            sub = f"{path}.{k}" if path else k
            if k in value:
                out[k] = node.check(value[k], sub)
            elif k in self.defaults:
                out[k] = node.check(self.defaults[k], sub)
        return out

    def json(self) -> dict:
        props = {}
        for k, node in self.fields.items():
            props[k] = node.json()
            if k in self.defaults:
                props[k]["default"] = self.defaults[k]
        out = {"type": "object", "properties": props, "additionalProperties": False}
        if self.required:
            out["required"] = list(self.required)
        return self._with_doc(out)
