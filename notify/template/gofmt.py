"""Go's fmt package as templates see it: Sprint, Sprintln, Sprintf and the %v of every value.

Go values are represented by Python values: str, int, float, bool, None (nil), lists
(slices), KV-like dicts (maps), `SafeHTML` (html/template.HTML) and `GoValue` objects that
describe their own Go type and printing (structs, time.Time).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from typing import Any

from notify.template.lexer import go_quote


class GoValue:
    """A value of a named Go type that templates can access: fields and methods by Go name.

    `go_members` maps a Go name to a Python attribute; `go_methods` maps a Go method name to
    (Python method name, parameter types). Parameter types are Go type names ("string",
    "[]string") used for argument conversion and error messages.
    """

    # No per-instance dict unless a subclass wants one: templates build many small values
    # (a Pair per label per render), and slotted ones are cheaper to make.
    __slots__ = ()

    go_type = "struct"
    go_fields: tuple[str, ...] = ()
    go_methods: dict[str, tuple[str, tuple[str, ...]]] = {}

    def go_field(self, name: str) -> Any:
        return getattr(self, "field_" + name)

    def go_string(self) -> str | None:
        """The String() method's result if the Go type is a fmt.Stringer, else None."""
        return None

    def go_struct_values(self) -> list[Any]:
        return [self.go_field(name) for name in self.go_fields]


class GoTypedInt(int):
    """An integer of a named Go type other than int (uint64, int64), for type names in output."""

    go_type = "int64"

    def __new__(cls, value: int, go_type: str) -> GoTypedInt:
        instance = super().__new__(cls, value)
        instance.go_type = go_type
        return instance


class GoNilPointer:
    """A typed nil pointer inside a struct (time.Time's location when it is UTC)."""

    def __init__(self, go_type: str) -> None:
        self.go_type = go_type


class SafeHTML(str):
    """html/template.HTML: trusted markup that the HTML escaper leaves alone."""

    __slots__ = ()


class TypedList(list[Any]):
    """A slice whose Go type name is known (e.g. template.Pairs); plain lists are []string."""

    go_type = "[]interface {}"
    go_methods: dict[str, tuple[str, tuple[str, ...]]] = {}


class TypedMap(dict[str, str]):
    go_type = "map[string]string"
    go_methods: dict[str, tuple[str, tuple[str, ...]]] = {}


class NoValue:
    """An invalid reflect.Value (e.g. a field of nil); prints as `<no value>`."""

    _instance: NoValue | None = None

    def __new__(cls) -> NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = NoValue()


def go_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoTypedInt | GoNilPointer):
        return value.go_type
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, SafeHTML):
        return "template.HTML"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (TypedList, TypedMap, GoValue)):
        return value.go_type
    if isinstance(value, list | tuple):
        return "[]string"
    if isinstance(value, dict):
        return "map[string]string"
    if value is None:
        return "<nil>"
    return type(value).__name__


# Floats -------------------------------------------------------------------------------------


def _digits(number: float, significant: int | None) -> tuple[str, int]:
    """Decimal digits (no trailing zeros) and decimal-point position of |number|.

    `significant=None` gives the shortest digits that round-trip (Go's and Python's repr).
    """
    number = abs(number)
    if number == 0:
        return "", 0
    text = repr(number) if significant is None else f"{number:.{significant - 1}e}"
    _sign, digit_tuple, exponent = decimal.Decimal(text).as_tuple()
    digits = "".join(str(d) for d in digit_tuple)
    assert isinstance(exponent, int)
    point = len(digits) + exponent
    stripped = digits.rstrip("0")
    return stripped, point


def _format_e(negative: bool, digits: str, point: int, precision: int, letter: str) -> str:
    first = digits[0] if digits else "0"
    text = "-" if negative else ""
    text += first
    if precision > 0:
        rest = digits[1 : precision + 1]
        text += "." + rest + "0" * (precision - len(rest))
    exponent = point - 1 if digits else 0
    sign = "-" if exponent < 0 else "+"
    exponent = abs(exponent)
    return f"{text}{letter}{sign}{exponent:02d}"


def _format_f(negative: bool, digits: str, point: int, precision: int) -> str:
    text = "-" if negative else ""
    if point > 0:
        integer = digits[:point]
        text += integer + "0" * (point - len(integer))
    else:
        text += "0"
    if precision > 0:
        fraction = []
        for index in range(precision):
            position = point + index
            fraction.append(digits[position] if 0 <= position < len(digits) else "0")
        text += "." + "".join(fraction)
    return text


def format_float(number: float, verb: str, precision: int = -1) -> str:
    """strconv.FormatFloat(number, verb, precision, 64) for verbs e E f F g G."""
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "+Inf" if number > 0 else "-Inf"
    negative = number < 0 or (number == 0 and str(number).startswith("-"))
    lower = verb.lower()
    if lower == "f":
        if precision < 0:
            digits, point = _digits(number, None)
            return _format_f(negative, digits, point, max(len(digits) - point, 0))
        return ("-" if negative and f"{abs(number):.{precision}f}" else "") + f"{abs(number):.{precision}f}"
    if lower == "e":
        if precision < 0:
            digits, point = _digits(number, None)
            return _format_e(negative, digits, point, max(len(digits) - 1, 0), verb)
        digits, point = _digits(number, precision + 1)
        return _format_e(negative, digits, point, precision, verb)
    # %g
    shortest = precision < 0
    if shortest:
        digits, point = _digits(number, None)
        precision = len(digits)
        exponent_limit = 6
    else:
        if precision == 0:
            precision = 1
        digits, point = _digits(number, precision)
        exponent_limit = precision
        if exponent_limit > len(digits) and len(digits) >= point:
            exponent_limit = len(digits)
    exponent = point - 1
    if exponent < -4 or exponent >= exponent_limit:
        if precision > len(digits):
            precision = len(digits)
        return _format_e(negative, digits, point, precision - 1, "e" if verb == "g" else "E")
    if precision > point:
        precision = len(digits)
    return _format_f(negative, digits, point, max(precision - point, 0))


# Printing values ----------------------------------------------------------------------------


def format_value(value: Any, verb: str = "v") -> str:
    """The %v (or %s) text of a value without flags, as fmt prints it."""
    if value.__class__ is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value, "g")
    if isinstance(value, str):
        return str.__str__(value)
    if value is None or isinstance(value, GoNilPointer):
        return "<nil>"
    if value is NO_VALUE:
        return "<no value>"
    if isinstance(value, GoValue):
        text = value.go_string()
        if text is not None:
            return text
        return "{" + " ".join(format_value(item, verb) for item in value.go_struct_values()) + "}"
    if isinstance(value, Mapping):
        pairs = (f"{format_value(key, verb)}:{format_value(value[key], verb)}" for key in sorted(value))
        return "map[" + " ".join(pairs) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(format_value(item, verb) for item in value) + "]"
    return str(value)


def sprint(args: Sequence[Any]) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    for index, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if index > 0 and not is_string and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintln(args: Sequence[Any]) -> str:
    return " ".join(format_value(arg) for arg in args) + "\n"


class _Spec:
    __slots__ = ("minus", "plus", "precision", "sharp", "space", "width", "zero")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.width: int | None = None
        self.precision: int | None = None

    def pad(self, text: str, numeric_sign_aware: bool = False) -> str:
        if self.width is None or len(text) >= self.width:
            return text
        fill = self.width - len(text)
        if self.minus:
            return text + " " * fill
        if self.zero:
            if numeric_sign_aware and text[:1] in "+- ":
                return text[0] + "0" * fill + text[1:]
            return "0" * fill + text
        return " " * fill + text


def _bad_verb(verb: str, value: Any, spec: _Spec | None = None) -> str:
    """`%!verb(type=value)`; Go prints the value with %v and the flags, width and precision given."""
    if value is None:
        return f"%!{verb}(<nil>)"
    shown = format_with_verb(value, "v", spec) if spec is not None else format_value(value)
    return f"%!{verb}({go_type_name(value)}={shown})"


def _format_integer(value: int, verb: str, spec: _Spec) -> str:
    negative = value < 0
    magnitude = abs(value)
    if verb in "dv":
        digits = str(magnitude)
    elif verb == "b":
        digits = format(magnitude, "b")
    elif verb == "o" or verb == "O":
        digits = format(magnitude, "o")
    elif verb == "x":
        digits = format(magnitude, "x")
    elif verb == "X":
        digits = format(magnitude, "X")
    elif verb == "c":
        return spec.pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd")
    elif verb == "q":
        char = chr(value) if 0 <= value <= 0x10FFFF else "\ufffd"
        quoted = "'" + go_quote(char)[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
        return spec.pad(quoted)
    elif verb == "U":
        return spec.pad(f"U+{value:04X}")
    else:
        return _bad_verb(verb, value, spec)
    if spec.precision is not None:
        digits = digits.zfill(spec.precision) if spec.precision else ("" if magnitude == 0 else digits)
    if spec.sharp:
        if verb == "x":
            digits = "0x" + digits
        elif verb == "X":
            digits = "0X" + digits
        elif verb == "o" and not digits.startswith("0"):
            digits = "0" + digits
        elif verb == "b":
            digits = "0b" + digits
    if verb == "O":
        digits = "0o" + digits
    sign = "-" if negative else "+" if spec.plus else " " if spec.space else ""
    text = sign + digits
    if spec.zero and spec.precision is None and not spec.minus and spec.width is not None:
        return spec.pad(text, numeric_sign_aware=True)
    saved_zero = spec.zero
    spec.zero = False
    padded = spec.pad(text)
    spec.zero = saved_zero
    return padded


def _format_float_verb(value: float, verb: str, spec: _Spec) -> str:
    if verb not in "veEfFgGxX" or verb in "xX":
        return _bad_verb(verb, value, spec)
    go_verb = "g" if verb == "v" else "f" if verb == "F" else verb
    precision = -1 if spec.precision is None else spec.precision
    if go_verb in "eEf" and spec.precision is None:
        precision = 6
    text = format_float(value, go_verb, precision)
    if spec.sharp and "." not in text and "e" not in text.lower():
        text += "."
    if not text.startswith("-"):
        if spec.plus:
            text = "+" + text
        elif spec.space:
            text = " " + text
    if text.lstrip("+-") in ("Inf", "NaN"):
        saved_zero = spec.zero
        spec.zero = False
        padded = spec.pad(text)
        spec.zero = saved_zero
        return padded
    return spec.pad(text, numeric_sign_aware=True)


def _format_string(value: str, verb: str, spec: _Spec) -> str:
    text = str.__str__(value)
    if spec.precision is not None and verb in "sv":
        text = text[: spec.precision]
    if verb in "sv":
        return spec.pad(text)
    if verb == "q":
        if spec.precision is not None:
            text = text[: spec.precision]
        if (
            spec.sharp
            and "`" not in text
            and all(c == "\t" or (c.isprintable() and c != "\ufeff") for c in text)
        ):
            return spec.pad("`" + text + "`")
        quoted = go_quote(text)
        if spec.plus:
            quoted = "".join(c if ord(c) < 0x80 else _ascii_escape(c) for c in quoted)
        return spec.pad(quoted)
    if verb in "xX":
        data = text.encode()
        if spec.precision is not None:
            data = data[: spec.precision]
        pieces = [format(byte, "02x" if verb == "x" else "02X") for byte in data]
        if spec.space:
            prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
            return spec.pad(" ".join(prefix + piece for piece in pieces))
        prefix = ("0x" if verb == "x" else "0X") if spec.sharp and pieces else ""
        return spec.pad(prefix + "".join(pieces))
    return _bad_verb(verb, value, spec)


def _ascii_escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def format_with_verb(value: Any, verb: str, spec: _Spec) -> str:
    if isinstance(value, bool):
        if verb in "tv":
            return spec.pad("true" if value else "false")
        return _bad_verb(verb, value, spec)
    if isinstance(value, int):
        return _format_integer(value, verb, spec)
    if isinstance(value, float):
        return _format_float_verb(value, verb, spec)
    if isinstance(value, str):
        return _format_string(value, verb, spec)
    if value is None:
        if verb == "v":
            return spec.pad("<nil>")
        return _bad_verb(verb, value, spec)
    if value is NO_VALUE:
        return spec.pad("<no value>") if verb == "v" else f"%!{verb}(<no value>)"
    if isinstance(value, GoNilPointer):
        if verb == "v":
            return spec.pad("<nil>")
        if verb in "bodxX":
            return _format_integer(0, verb, spec)
        return f"%!{verb}({value.go_type}={spec.pad('<nil>')})"
    if isinstance(value, GoValue):
        text = value.go_string()
        if text is not None and verb in "vsqxX":
            return _format_string(text, "s" if verb == "v" else verb, spec)
        # Flags, width and precision apply to each element, never to the container.
        parts = [format_with_verb(item, verb, spec) for item in value.go_struct_values()]
        return "{" + " ".join(parts) + "}"
    if isinstance(value, Mapping):
        pairs = [
            f"{format_with_verb(key, verb, spec)}:{format_with_verb(value[key], verb, spec)}"
            for key in sorted(value)
        ]
        return "map[" + " ".join(pairs) + "]"
    if isinstance(value, Sequence):
        parts = [format_with_verb(item, verb, spec) for item in value]
        return "[" + " ".join(parts) + "]"
    return spec.pad(str(value))


def _star_operand(args: Sequence[Any], index: int) -> int | None:
    """The operand a `*` width or precision takes, or None when there is no int there
    (Go then writes %!(BADWIDTH) or %!(BADPREC))."""
    if index < len(args) and isinstance(args[index], int) and not isinstance(args[index], bool):
        value: int = args[index]
        return value
    return None


def sprintf(template: str, args: Sequence[Any]) -> str:
    """fmt.Sprintf with Go's verbs, flags, widths, precisions and error annotations."""
    out: list[str] = []
    arg_index = 0
    length = len(template)
    index = 0
    while index < length:
        percent = template.find("%", index)
        if percent < 0:
            out.append(template[index:])
            break
        out.append(template[index:percent])
        index = percent + 1
        spec = _Spec()
        while index < length and template[index] in "+-# 0":
            flag = template[index]
            if flag == "+":
                spec.plus = True
            elif flag == "-":
                spec.minus = True
                spec.zero = False
            elif flag == "#":
                spec.sharp = True
            elif flag == " ":
                spec.space = True
            elif flag == "0":
                spec.zero = not spec.minus
            index += 1
        if index < length and template[index] == "*":
            index += 1
            width = _star_operand(args, arg_index)
            if width is not None:
                if width < 0:
                    spec.minus, spec.zero, width = True, False, -width
                spec.width = width
            else:
                out.append("%!(BADWIDTH)")
            arg_index += 1
        else:
            start = index
            while index < length and template[index].isdigit():
                index += 1
            if index > start:
                spec.width = int(template[start:index])
        if index < length and template[index] == ".":
            index += 1
            if index < length and template[index] == "*":
                index += 1
                precision = _star_operand(args, arg_index)
                if precision is not None:
                    spec.precision = precision if precision >= 0 else None
                else:
                    out.append("%!(BADPREC)")
                arg_index += 1
            else:
                start = index
                while index < length and template[index].isdigit():
                    index += 1
                spec.precision = int(template[start:index]) if index > start else 0
        if index >= length:
            out.append("%!(NOVERB)")
            break
        verb = template[index]
        index += 1
        if verb == "%":
            out.append("%")
            continue
        if arg_index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        value = args[arg_index]
        arg_index += 1
        if verb == "w":
            verb = "v"
        out.append(format_with_verb(value, verb, spec))
    if arg_index < len(args):
        extras = ", ".join(
            "<nil>" if arg is None else f"{go_type_name(arg)}={format_value(arg)}" for arg in args[arg_index:]
        )
        out.append(f"%!(EXTRA {extras})")
    return "".join(out)
