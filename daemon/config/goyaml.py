"""Decoding and encoding YAML the way Go's gopkg.in/yaml.v2 (2.4) does for Alertmanager.

Alertmanager's users see yaml.v2's behaviour in two places, so we reproduce it:
- strict decoding (`UnmarshalStrict`): unknown and duplicated keys, and values of the wrong
  kind, are *type errors*; they accumulate in document order and are reported together as
  `yaml: unmarshal errors:\n  line N: ...`. Any other error (a custom validation inside a
  struct's UnmarshalYAML) aborts decoding at once with only its own text.
- encoding (`config.original` in `/api/v2/status`): struct field order, `omitempty`, the
  quoting rules (a string that would read back as another type is double-quoted), block
  sequences not indented under their key, flow sequences where a field says so.

Decoding walks PyYAML's node graph (for line numbers and raw scalar text) with a schema of
`Kind` objects; each kind turns a node into a plain Python value. Structs decode to dicts
in Go field order, so the same dict can be re-encoded and handed to the rest of the daemon.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import yaml

# yaml.v2 cuts a scalar shown in a type error to this many characters (plus "...").
_TYPE_ERROR_VALUE_LIMIT = 10
_TYPE_ERROR_VALUE_PREFIX = 7


class ConfigError(Exception):
    """An invalid configuration; the message is Alertmanager's text for the same input."""


class CustomError(Exception):
    """A validation error raised inside a struct hook: aborts decoding with its text."""


@dataclasses.dataclass
class DecodeContext:
    type_errors: list[str] = dataclasses.field(default_factory=list)

    def type_error(self, node: yaml.Node, message: str) -> None:
        self.type_errors.append(f"line {node.start_mark.line + 1}: {message}")


# ---------------------------------------------------------------------------------------
# yaml.v2's implicit typing of plain scalars (YAML 1.1 flavour)

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUES = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSES = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_SPECIAL_FLOATS = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"}
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_GO_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[1-9][0-9]*|0)\Z")
_TIMESTAMP_START = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ]|\Z)")
_BASE_60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")
_INT64_MIN, _UINT64_MAX = -(1 << 63), (1 << 64) - 1


def _go_int(text: str) -> int | None:
    plain = text.replace("_", "")
    if not _GO_INT.match(plain):
        return None
    sign = -1 if plain.startswith("-") else 1
    digits = plain.lstrip("+-")
    lowered = digits.lower()
    if lowered.startswith("0x"):
        value = int(digits[2:], 16)
    elif lowered.startswith("0b"):
        value = int(digits[2:], 2)
    elif lowered.startswith("0o"):
        value = int(digits[2:], 8)
    elif len(digits) > 1 and digits.startswith("0"):
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    value *= sign
    return value if _INT64_MIN <= value <= _UINT64_MAX else None


def resolve_plain(text: str) -> tuple[str, Any]:
    """The tag yaml.v2 gives an untagged plain scalar, and its value."""
    if text in _NULLS:
        return "!!null", None
    if text in _TRUES:
        return "!!bool", True
    if text in _FALSES:
        return "!!bool", False
    if text == "<<":
        return "!!merge", text
    if text in _SPECIAL_FLOATS:
        return "!!float", float(text.replace(".", "").replace("Inf", "inf").replace("INF", "inf"))
    if text[:1] in "0123456789+-.":
        if _TIMESTAMP_START.match(text):
            return "!!timestamp", text
        integer = _go_int(text)
        if integer is not None:
            return "!!int", integer
        plain = text.replace("_", "")
        if _YAML_STYLE_FLOAT.match(plain):
            return "!!float", float(plain)
    return "!!str", text


def node_tag(node: yaml.Node) -> str:
    """The short tag yaml.v2 reports for a node in type errors."""
    if isinstance(node, yaml.MappingNode):
        return "!!map"
    if isinstance(node, yaml.SequenceNode):
        return "!!seq"
    assert isinstance(node, yaml.ScalarNode)
    if node.tag and not node.tag.startswith("tag:yaml.org,2002:") and node.tag != "!":
        return node.tag
    if node.style in ("'", '"', "|", ">"):
        return "!!str"
    if node.tag and node.tag.startswith("tag:yaml.org,2002:") and node.tag != "tag:yaml.org,2002:str":
        explicit = "!!" + node.tag.rsplit(":", 1)[1]
        if explicit != resolve_plain(node.value)[0]:
            return explicit
    if node.tag == "tag:yaml.org,2002:str" and node.style is None:
        return resolve_plain(node.value)[0]
    return resolve_plain(node.value)[0] if node.style is None else "!!str"


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style is None and node.value in _NULLS


def cannot_unmarshal(context: DecodeContext, node: yaml.Node, go_type: str) -> None:
    tag = node_tag(node)
    shown = ""
    if isinstance(node, yaml.ScalarNode):
        value = node.value
        if len(value) > _TYPE_ERROR_VALUE_LIMIT:
            value = value[:_TYPE_ERROR_VALUE_PREFIX] + "..."
        shown = f" `{value}`"
    context.type_error(node, f"cannot unmarshal {tag}{shown} into {go_type}")


# ---------------------------------------------------------------------------------------
# Kinds: how one Go type decodes from a node and encodes back


class Kind:
    go_type = "interface {}"

    def zero(self) -> Any:
        return None

    def decode(self, node: yaml.Node, context: DecodeContext) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        """The value yaml.v2 would emit; `OMIT` to leave the key out."""
        return value

    def is_zero(self, value: Any) -> bool:
        return value is None or value == self.zero()


OMIT = object()


class FlowList(list[Any]):
    """A sequence yaml.v2 emits in flow style (`[a, b]`), for `yaml:",flow"` fields."""


class StrKind(Kind):
    go_type = "string"

    def zero(self) -> Any:
        return ""

    def decode(self, node: yaml.Node, context: DecodeContext) -> Any:
        if isinstance(node, yaml.ScalarNode):
            if is_null(node):
                return ""
            if node_tag(node) == "!!binary":
                cannot_unmarshal(context, node, self.go_type)
                return ""
            return node.value
        cannot_unmarshal(context, node, self.go_type)
        return ""


class SecretKind(StrKind):
    """prometheus/common and Alertmanager `Secret`: printed as `<secret>` when set."""

    def encode(self, value: Any) -> Any:
        return "<secret>" if value else None


class BoolKind(Kind):
    go_type = "bool"

    def zero(self) -> Any:
        return False

    def decode(self, node: yaml.Node, context: DecodeContext) -> Any:
        if is_null(node):
            return False
        if isinstance(node, yaml.ScalarNode) and node.style is None:
            tag, value = resolve_plain(node.value)
            if tag == "!!bool" and node_tag(node) == "!!bool":
                return value
        cannot_unmarshal(context, node, self.go_type)
        return False


class IntKind(Kind):
    def __init__(self, go_type: str, minimum: int, maximum: int) -> None:
        self.go_type = go_type
        self.minimum = minimum
        self.maximum = maximum

    def zero(self) -> Any:
        return 0

    def decode(self, node: yaml.Node, context: DecodeContext) -> Any:
        if is_null(node):
            return 0
        if isinstance(node, yaml.ScalarNode) and node.style is None:
            tag, value = resolve_plain(node.value)
            if tag == "!!int" and self.minimum <= value <= self.maximum:
                return value
            if tag == "!!float" and value == int(value) and self.minimum <= value <= self.maximum:
                return int(value)
        cannot_unmarshal(context, node, self.go_type)
        return 0


INT64 = IntKind("int64", -(1 << 63), (1 << 63) - 1)
UINT64 = IntKind("uint64", 0, (1 << 64) - 1)
STR = StrKind()
SECRET = SecretKind()
BOOL = BoolKind()


class ScalarStrKind(StrKind):
    """A Go type with its own UnmarshalYAML that first reads a string, then converts it.

    `convert` raises ValueError/CustomError with the Go error text; `render` is MarshalYAML.
    A null node leaves the field at its zero value (the unmarshaler is not called)."""

    def __init__(
        self,
        convert: Callable[[str], Any],
        render: Callable[[Any], Any] = lambda value: value,
        zero: Any = None,
        go_type: str = "string",
    ) -> None:
        self.convert = convert
        self.render = render
        self._zero = zero
        self.go_type = go_type

    def zero(self) -> Any:
        return self._zero

    def decode(self, node: yaml.Node, context: DecodeContext) -> Any:
        if is_null(node):
            return self._zero
        before = len(context.type_errors)
        text = STR.decode(node, context)
        if len(context.type_errors) > before:
            return self._zero
        try:
            return self.convert(text)
        except (ValueError, CustomError) as error:
            raise CustomError(str(error)) from None

    def encode(self, value: Any) -> Any:
        return None if value is None else self.render(value)


class ListKind(Kind):
    def __init__(self, item: Kind, flow: bool = False, go_type: str | None = None) -> None:
        self.item = item
        self.flow = flow
        self.go_type = go_type or f"[]{item.go_type}"

    def zero(self) -> Any:
        return []

    def decode(self, node: yaml.Node, context: DecodeContext) -> Any:
        if is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            cannot_unmarshal(context, node, self.go_type)
            return []
        result = []
        for item_node in node.value:
            if is_null(item_node) and isinstance(self.item, StructKind) and self.item.pointer:
                # Alertmanager stores a nil pointer here and then crashes on it; refuse it.
                line = item_node.start_mark.line + 1
                raise CustomError(f"line {line}: a null entry is not allowed in {self.go_type}")
            result.append(self.item.decode(item_node, context))
        return result

    def encode(self, value: Any) -> Any:
        items = [self.item.encode(item) for item in value]
        return FlowList(items) if self.flow else items

    def is_zero(self, value: Any) -> bool:
        return not value


class MapKind(Kind):
    def __init__(self, value_kind: Kind, go_type: str | None = None) -> None:
        self.value_kind = value_kind
        self.go_type = go_type or f"map[string]{value_kind.go_type}"

    def zero(self) -> Any:
        return {}

    def decode(self, node: yaml.Node, context: DecodeContext) -> Any:
        if is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            cannot_unmarshal(context, node, self.go_type)
            return {}
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = STR.decode(key_node, context)
            if key in result:
                context.type_error(key_node, f"key {go_quote_for_error(key)} already set in map")
                continue
            result[key] = self.value_kind.decode(value_node, context)
        return result

    def encode(self, value: Any) -> Any:
        return {key: self.value_kind.encode(value[key]) for key in sorted(value, key=_yaml_v2_key_order)}

    def is_zero(self, value: Any) -> bool:
        return not value


def go_quote_for_error(text: str) -> str:
    from daemon.matchers import go_quote

    return go_quote(text)


def _yaml_v2_key_order(key: str) -> tuple[Any, ...]:
    """yaml.v2 sorts map keys "naturally": runs of digits compare as numbers."""
    parts: list[Any] = []
    for digits, letters in re.findall(r"(\d+)|(\D+)", key):
        parts.append((0, int(digits), "") if digits else (1, 0, letters))
    return tuple(parts)


@dataclasses.dataclass
class Field:
    key: str
    kind: Kind
    omitempty: bool = True


# A struct hook validates/normalises the decoded dict in place (Go's UnmarshalYAML body
# after `unmarshal((*plain)(c))`); raise CustomError to fail.
Hook = Callable[[dict[str, Any]], None]


class StructKind(Kind):
    def __init__(
        self,
        go_type: str,
        fields: list[Field],
        hook: Hook | None = None,
        defaults: Callable[[], dict[str, Any]] | None = None,
        pointer: bool = True,
        custom_unmarshaler: bool = True,
    ) -> None:
        # Structs whose UnmarshalYAML decodes into a local `plain` type report that name.
        self.go_type = go_type
        self.fields = {field.key: field for field in fields}
        self.hook = hook
        self.defaults = defaults
        self.pointer = pointer
        self.custom_unmarshaler = custom_unmarshaler

    def empty(self) -> dict[str, Any]:
        value = {key: field.kind.zero() for key, field in self.fields.items()}
        if self.defaults is not None:
            value.update(self.defaults())
        return value

    def zero(self) -> Any:
        return None if self.pointer else self.empty()

    def decode(self, node: yaml.Node, context: DecodeContext) -> Any:
        if is_null(node):
            return self.zero()
        value = self.empty()
        if not isinstance(node, yaml.MappingNode):
            cannot_unmarshal(context, node, self.go_type)
            return self.zero()
        before = len(context.type_errors)
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = STR.decode(key_node, context) if isinstance(key_node, yaml.ScalarNode) else None
            field = self.fields.get(key) if key is not None else None
            if field is None:
                context.type_error(key_node, f"field {key} not found in type {self.go_type}")
                continue
            if key in seen:
                context.type_error(key_node, f"field {key} already set in type {self.go_type}")
                continue
            seen.add(field.key)
            value[field.key] = field.kind.decode(value_node, context)
        if len(context.type_errors) > before and self.custom_unmarshaler:
            # Go's UnmarshalYAML returns the type errors before validating; the field
            # keeps its zero value.
            return self.zero()
        if self.hook is not None:
            self.hook(value)
        return value

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        result: dict[str, Any] = {}
        for key, field in self.fields.items():
            item = value.get(key)
            if field.omitempty and field.kind.is_zero(item):
                continue
            encoded = field.kind.encode(item) if item is not None else None
            if encoded is OMIT or (encoded is None and field.omitempty):
                continue
            result[key] = encoded
        return result

    def is_zero(self, value: Any) -> bool:
        if value is None:
            return True
        if self.pointer:
            return False
        return all(field.kind.is_zero(value.get(key)) for key, field in self.fields.items())


# ---------------------------------------------------------------------------------------
# Encoding


class _GoDumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    if "\n" in text:
        style: str | None = "|"
    elif resolve_plain(text)[0] != "!!str" or _BASE_60_FLOAT.match(text):
        style = '"'
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=False)


def _represent_flow_list(dumper: yaml.SafeDumper, data: FlowList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=False)


_GoDumper.add_representer(str, _represent_str)
_GoDumper.add_representer(dict, _represent_dict)
_GoDumper.add_representer(FlowList, _represent_flow_list)
_GoDumper.add_representer(list, _represent_list)


def dump(document: Any) -> str:
    if isinstance(document, dict) and not document:
        return "{}\n"
    return yaml.dump(document, Dumper=_GoDumper, allow_unicode=True, sort_keys=False, width=80)


# ---------------------------------------------------------------------------------------
# Parsing


# PyYAML and libyaml (which yaml.v2 ports) word a few common problems differently.
_LIBYAML_PROBLEMS = {
    "mapping values are not allowed here": "mapping values are not allowed in this context",
    "expected <block end>, but found '<block mapping start>'": "did not find expected key",
    "expected <block end>, but found '<scalar>'": "did not find expected key",
    "expected <block end>, but found '<block sequence start>'": "did not find expected key",
    "expected <block end>, but found '-'": "did not find expected key",
}


def compose(text: str) -> yaml.Node | None:
    """The document's node graph; yaml.v2's error text for syntax errors."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = error.problem or error.context or "syntax error"
        problem = _LIBYAML_PROBLEMS.get(problem, problem)
        raise ConfigError(f"yaml: line {line}: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"yaml: {error}") from None


def unmarshal_strict(text: str, kind: StructKind) -> dict[str, Any] | None:
    """Decode a document into `kind`; None for an empty document."""
    root = compose(text)
    if root is None:
        return None
    context = DecodeContext()
    try:
        value = kind.decode(root, context)
    except CustomError as error:
        raise ConfigError(str(error)) from None
    if context.type_errors:
        raise ConfigError("yaml: unmarshal errors:\n  " + "\n  ".join(context.type_errors))
    return value  # type: ignore[no-any-return]
