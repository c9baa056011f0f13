"""Pipelines compiled into closures, and the run-time support of compiled templates.

A pipeline (`.Labels.SortedPairs`, `len .Alerts`, `printf "%s" .X | toUpper`) becomes one
closure per command; field and method lookups are resolved once per (Go type, name) and
remembered at each use site, because a field in a template nearly always meets one type.
Forms that are rare or that need the interpreter's bookkeeping (`and`/`or`, chained calls on
parenthesised pipelines, methods given arguments) call the evaluator's own methods.

Compiled code decides only the successful path: on anything else it raises `Fallback`, and
the template is re-run on the interpreter, which reports what Go would.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from notify.template import nodes as n
from notify.template.errors import TemplateExecError
from notify.template.evaluator import _MISSING, Evaluator, Writer
from notify.template.functions import Function
from notify.template.gofmt import NO_VALUE, GoValue, NoValue, format_value
from notify.template.html import Context, value_escaper

# (run, dot) -> the pipeline's value.
Expression = Callable[["CompiledEvaluator", Any], Any]
# (run, dot, final) -> a command's value; `final` is the previous command's or _MISSING.
Command = Callable[["CompiledEvaluator", Any, Any], Any]
# (run, dot, Go parameter type) -> an argument checked against that type.
Argument = Callable[["CompiledEvaluator", Any, str], Any]


# Output is measured every this many written pieces (at loop iterations and template calls),
# so the size bound costs nothing per write; memory overshoots by at most that many pieces.
OUTPUT_CHECK_PIECES = 512
# (Go type, field name) -> accessor. Types are few; names come from templates, so the bound
# keeps generated templates from growing the cache without limit.
MAX_CACHED_ACCESSORS = 4096


class Fallback(Exception):
    """The compiled code met something only the interpreter reports exactly."""


class CompiledWriter(Writer):
    """The output of a compiled run: pieces appended directly, measured in batches."""

    def __init__(self, max_chars: int) -> None:
        super().__init__(max_chars)
        self.measured = 0  # pieces already added to `size`

    def measure(self) -> int:
        """Add the pieces written since the last measurement to `size`; return the length of
        `parts` at which to measure next."""
        parts = self.parts
        self.size += sum(map(len, parts[self.measured :]))
        self.measured = len(parts)
        if self.size > self.max_chars:
            raise Fallback
        return self.measured + OUTPUT_CHECK_PIECES


class CompiledEvaluator(Evaluator):
    """The state of one compiled run: the evaluator's (variables, steps, depth), which the
    compiled code shares with the evaluator methods it calls, and the output."""

    def __init__(
        self,
        trees: Mapping[str, n.Tree],
        functions: Mapping[str, Function],
        max_output_chars: int,
        max_steps: int,
    ) -> None:
        self.output = CompiledWriter(max_output_chars)
        super().__init__(trees, functions, self.output, max_steps)
        self.emit = self.output.parts.append


def _fallback(*_: Any) -> Any:
    raise Fallback


# Field access --------------------------------------------------------------------------------

_accessors: dict[tuple[type, str], Callable[[Any], Any]] = {}


def _no_value(_: Any) -> Any:
    return NO_VALUE


def _accessor(kind: type, name: str) -> Callable[[Any], Any]:
    """How `.name` reads a value of this type with no arguments (the evaluator's eval_field)."""
    if kind is NoValue or kind is type(None):
        return _no_value
    methods = getattr(kind, "go_methods", None)
    if methods and name in methods:
        python_name, params = methods[name]
        if params:
            return _fallback  # a method needing arguments was given none: an error
        return operator.methodcaller(python_name)
    if issubclass(kind, GoValue) and name in kind.go_fields:
        if kind.go_field is GoValue.go_field:
            return operator.attrgetter("field_" + name)
        return lambda receiver: receiver.go_field(name)
    if issubclass(kind, Mapping):
        return lambda receiver: receiver.get(name, "")
    return _fallback


def accessor_for(kind: type, name: str) -> Callable[[Any], Any]:
    key = (kind, name)
    accessor = _accessors.get(key)
    if accessor is None:
        if len(_accessors) >= MAX_CACHED_ACCESSORS:
            _accessors.clear()
        accessor = _accessors[key] = _accessor(kind, name)
    return accessor


def read_field_slowly(namespace: dict[str, Any], site: int, name: str, receiver: Any) -> Any:
    """Read `.name` at a field site of generated code whose last type was another one, and
    make this type the site's remembered one (the global siteSITE: type and accessor)."""
    accessor = accessor_for(receiver.__class__, name)
    namespace[f"site{site}"] = (receiver.__class__, accessor)
    return accessor(receiver)


def _field_reader(name: str) -> Callable[[Any], Any]:
    """Reads `.name`; a field in a template almost always reads values of one type."""
    # The type last read and its accessor, replaced as one value.
    cache: list[tuple[Any, Any]] = [(None, None)]

    def read(receiver: Any) -> Any:
        seen = cache[0]
        if receiver.__class__ is seen[0]:
            return seen[1](receiver)
        accessor = accessor_for(receiver.__class__, name)
        cache[0] = (receiver.__class__, accessor)
        return accessor(receiver)

    return read


def _field_chain(idents: Sequence[str]) -> Callable[[Any], Any]:
    """Reads `.a.b.c` from a receiver, none of them given arguments."""
    if len(idents) == 1:
        return _field_reader(idents[0])
    if len(idents) == 2:
        first, second = _field_reader(idents[0]), _field_reader(idents[1])
        return lambda receiver: second(first(receiver))

    readers = [_field_reader(ident) for ident in idents]

    def read_all(receiver: Any) -> Any:
        for reader in readers:
            receiver = reader(receiver)
        return receiver

    return read_all


# Values and printing ------------------------------------------------------------------------


def printable_text(value: Any) -> str:
    """The text `{{ value }}` prints, or Fallback for values Go cannot print."""
    if isinstance(value, GoValue | list | dict | str | int | float | type(None)) or value is NO_VALUE:
        return format_value(value)
    raise Fallback


def _check_printable(value: Any) -> None:
    if not (isinstance(value, GoValue | list | dict | str | int | float | type(None)) or value is NO_VALUE):
        raise Fallback


def html_printer(context: Context, escaped_by: str | None) -> Callable[[Any], str]:
    """The escaper for a value printed in `context` (already nudged)."""
    escaper = value_escaper(context, escaped_by)

    def print_in_context(value: Any) -> str:
        if value.__class__ is not str:
            _check_printable(value)
        return escaper(value)

    return print_in_context


def final_escaper(pipe: n.PipeNode) -> str | None:
    last = pipe.cmds[-1].args[0] if pipe.cmds else None
    if isinstance(last, n.IdentifierNode) and last.name in ("html", "urlquery"):
        return last.name
    return None


# The compiler ---------------------------------------------------------------------------------


class ExpressionCompiler:
    """Compiles pipelines for one template set."""

    def __init__(self, functions: Mapping[str, Function]) -> None:
        self.functions = functions

    def pipeline(self, pipe: n.PipeNode) -> tuple[Expression, int]:
        """The pipeline as an expression, and the steps the interpreter counts for it at most."""
        cost = command_count(pipe)
        commands = [self.command(cmd, has_final=position > 0) for position, cmd in enumerate(pipe.cmds)]
        value: Expression
        simple = _simple_expression(pipe)
        if simple is not None:
            value = simple
        elif len(commands) == 1:
            (only,) = commands
            value = lambda ev, dot: only(ev, dot, _MISSING)  # noqa: E731
        elif not commands:
            value = lambda ev, dot: NO_VALUE  # noqa: E731
        else:

            def value(ev: CompiledEvaluator, dot: Any) -> Any:
                result: Any = _MISSING
                for command in commands:
                    result = command(ev, dot, result)
                return result

        if not pipe.decls:
            return value, cost
        names = [variable.idents[0] for variable in pipe.decls]
        is_assign = pipe.is_assign

        def declare(ev: CompiledEvaluator, dot: Any) -> Any:
            result = value(ev, dot)
            for name in names:
                if is_assign:
                    ev.set_variable(name, result)
                else:
                    ev.variables.append((name, result))
            return result

        return declare, cost

    def command(self, cmd: n.CommandNode, has_final: bool) -> Command:
        first = cmd.args[0]
        extra = cmd.args[1:]
        if isinstance(first, n.FieldNode):
            return self.field_command(first.idents, first, cmd.args, lambda ev, dot: dot)
        if isinstance(first, n.VariableNode):
            name = first.idents[0]
            if len(first.idents) == 1:
                if extra:
                    return _fallback
                return lambda ev, dot, final: _fallback() if final is not _MISSING else ev.variable(name)
            return self.field_command(first.idents[1:], first, cmd.args, lambda ev, dot: ev.variable(name))
        if isinstance(first, n.IdentifierNode):
            return self.function_command(first, cmd, has_final)
        if isinstance(first, n.PipeNode):
            if extra:
                return _fallback
            inner, _ = self.pipeline(first)
            return lambda ev, dot, final: _fallback() if final is not _MISSING else inner(ev, dot)
        if isinstance(first, n.ChainNode):
            chain = first
            args = cmd.args
            return lambda ev, dot, final: ev.eval_chain(dot, chain, args, final)
        if extra:
            return _fallback
        if isinstance(first, n.StringNode | n.BoolNode):
            constant = first.value
            return lambda ev, dot, final: _fallback() if final is not _MISSING else constant
        if isinstance(first, n.DotNode):
            return lambda ev, dot, final: _fallback() if final is not _MISSING else dot
        if isinstance(first, n.NumberNode):
            number = first
            return lambda ev, dot, final: _fallback() if final is not _MISSING else ev.ideal_constant(number)
        return _fallback

    def field_command(
        self, idents: Sequence[str], node: n.Node, args: Sequence[n.Node], receiver: Expression
    ) -> Command:
        """`.a.b.c args...`: all but the last field read plainly; the last may be a method
        given the arguments (left to the evaluator, which checks them against its signature)."""
        if len(args) > 1:
            return self.method_call(idents, node, args, receiver)
        read = _field_chain(idents)
        last = idents[-1]
        leading = _field_chain(idents[:-1]) if len(idents) > 1 else None

        def read_fields(ev: CompiledEvaluator, dot: Any, final: Any) -> Any:
            if final is _MISSING:
                return read(receiver(ev, dot))
            value = receiver(ev, dot)
            if leading is not None:
                value = leading(value)
            return ev.eval_field(dot, last, node, args, final, value)

        return read_fields

    def method_call(
        self, idents: Sequence[str], node: n.Node, args: Sequence[n.Node], receiver: Expression
    ) -> Command:
        """`.a.b.Method args...`: the method and its parameter types are known only once the
        receiver is; anything but a method with the right number of arguments is left to
        the evaluator (fields given arguments, maps, errors)."""
        leading = _field_chain(idents[:-1]) if len(idents) > 1 else None
        name = idents[-1]
        arg_nodes = list(args[1:])
        raws = [self.raw_argument(arg) for arg in arg_nodes]

        def convert(ev: CompiledEvaluator, dot: Any, position: int, param: str) -> Any:
            raw = raws[position]
            if raw is None:
                return _CONSTANTS.eval_arg(NO_VALUE, param, arg_nodes[position])
            return _validator(param)(ev, raw(ev, dot))

        def call_method(ev: CompiledEvaluator, dot: Any, final: Any) -> Any:
            value = receiver(ev, dot)
            if leading is not None:
                value = leading(value)
            if value is NO_VALUE or value is None:
                return NO_VALUE
            methods = getattr(value, "go_methods", None)
            if not methods or name not in methods:
                return ev.eval_field(dot, name, node, args, final, value)
            python_name, params = methods[name]
            if len(arg_nodes) + (final is not _MISSING) != len(params):
                raise Fallback
            values = [convert(ev, dot, position, param) for position, param in enumerate(params[: len(raws)])]
            if final is not _MISSING:
                values.append(_validator(params[-1])(ev, final))
            return getattr(value, python_name)(*values)

        return call_method

    def function_command(self, identifier: n.IdentifierNode, cmd: n.CommandNode, has_final: bool) -> Command:
        """A call of a function named in the template; its signature is known here, so the
        argument count and each argument's type conversion are settled at compile time."""
        name = identifier.name
        function = self.functions.get(name)
        if function is None:
            return _fallback
        if function.builtin and name in ("and", "or"):
            args = cmd.args
            return lambda ev, dot, final: ev.eval_call(dot, function, cmd, name, args, final)
        arg_nodes = cmd.args[1:]
        count = len(arg_nodes) + has_final
        fixed = len(function.params)
        if count < fixed if function.variadic is not None else count != fixed:
            return _fallback  # the evaluator words the count error
        params = [
            function.params[position] if position < fixed else function.variadic or "any"
            for position in range(count)
        ]
        arguments = [self.typed_argument(arg, param) for arg, param in zip(arg_nodes, params, strict=False)]
        call = function.call
        if has_final:
            check_final = _validator(params[-1])
            if not arguments:
                return lambda ev, dot, final: call(check_final(ev, final))
            if len(arguments) == 1:
                (first,) = arguments
                return lambda ev, dot, final: call(first(ev, dot), check_final(ev, final))

            def call_with_final(ev: CompiledEvaluator, dot: Any, final: Any) -> Any:
                return call(*[argument(ev, dot) for argument in arguments], check_final(ev, final))

            return call_with_final
        if not arguments:
            return lambda ev, dot, final: call()
        if len(arguments) == 1:
            (first,) = arguments
            return lambda ev, dot, final: call(first(ev, dot))
        if len(arguments) == 2:
            first, second = arguments
            return lambda ev, dot, final: call(first(ev, dot), second(ev, dot))
        return lambda ev, dot, final: call(*[argument(ev, dot) for argument in arguments])

    def typed_argument(self, node: n.Node, param: str) -> Expression:
        """An argument converted to a parameter type, as the evaluator's eval_arg does."""
        raw = self.raw_argument(node)
        if raw is None:
            # A constant: convert it once (a conversion error is reported by the evaluator).
            try:
                constant = _CONSTANTS.eval_arg(NO_VALUE, param, node)
            except TemplateExecError:
                return _fallback
            return lambda ev, dot: constant
        if param == "value":
            return raw
        check = _validator(param)
        return lambda ev, dot: check(ev, raw(ev, dot))

    def raw_argument(self, node: n.Node) -> Expression | None:
        """An argument's value before conversion; None for constants."""
        if isinstance(node, n.DotNode):
            return lambda ev, dot: dot
        if isinstance(node, n.FieldNode):
            read = _field_chain(node.idents)
            return lambda ev, dot: read(dot)
        if isinstance(node, n.VariableNode):
            name = node.idents[0]
            if len(node.idents) == 1:
                return lambda ev, dot: ev.variable(name)
            fields = _field_chain(node.idents[1:])
            return lambda ev, dot: fields(ev.variable(name))
        if isinstance(node, n.PipeNode):
            return self.pipeline(node)[0]
        if isinstance(node, n.IdentifierNode):
            command = self.function_command(node, n.CommandNode(node.pos, [node]), has_final=False)
            return lambda ev, dot: command(ev, dot, _MISSING)
        if isinstance(node, n.ChainNode):
            chain = node
            return lambda ev, dot: ev.eval_chain(dot, chain, [chain], _MISSING)
        return None


# Evaluates constant arguments at compile time; they need no data, trees or functions.
_CONSTANTS = Evaluator({}, {}, Writer(0))


def _validator(param: str) -> Callable[[CompiledEvaluator, Any], Any]:
    """The evaluator's validate_type for one parameter type, with its common cases inline."""
    known = _validators.get(param)
    if known is None:
        if len(_validators) >= MAX_CACHED_ACCESSORS:
            _validators.clear()
        known = _validators[param] = _make_validator(param)
    return known


_validators: dict[str, Callable[[CompiledEvaluator, Any], Any]] = {}


def _make_validator(param: str) -> Callable[[CompiledEvaluator, Any], Any]:
    if param == "value":
        return lambda ev, value: value
    if param == "any":
        return lambda ev, value: None if value is NO_VALUE else value
    if param == "string":
        return lambda ev, value: value if value.__class__ is str else ev.validate_type(value, param)
    if param == "[]string":  # a plain list is what Go would call []string
        return lambda ev, value: value if value.__class__ is list else ev.validate_type(value, param)
    return lambda ev, value: ev.validate_type(value, param)


# Helpers ------------------------------------------------------------------------------------


def _simple_expression(pipe: n.PipeNode) -> Expression | None:
    """A one-command pipeline reading a field of dot, dot itself or a constant, without the
    command machinery (the common `{{ .Name }}`)."""
    if len(pipe.cmds) != 1 or len(pipe.cmds[0].args) != 1:
        return None
    (only,) = pipe.cmds[0].args
    if isinstance(only, n.FieldNode):
        read = _field_chain(only.idents)
        return lambda ev, dot: read(dot)
    if isinstance(only, n.DotNode):
        return lambda ev, dot: dot
    if isinstance(only, n.StringNode | n.BoolNode):
        constant = only.value
        return lambda ev, dot: constant
    return None


def command_count(node: n.Node) -> int:
    """Commands in a pipeline and its nested pipelines: an upper bound of its steps."""
    if isinstance(node, n.PipeNode):
        return sum(command_count(cmd) for cmd in node.cmds)
    if isinstance(node, n.CommandNode):
        return 1 + sum(command_count(arg) for arg in node.args)
    if isinstance(node, n.ChainNode):
        return command_count(node.node)
    return 0
