"""Executes parsed templates over Go-like values, with Go's semantics and error messages.

Every execution is bounded: output longer than `max_output_chars` and more than `max_steps`
evaluated nodes stop it with a TemplateExecError, so a hostile template cannot hang or bloat
the daemon. Template calls nest at most MAX_TEMPLATE_DEPTH deep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from notify.template import nodes as n
from notify.template.errors import TemplateExecError
from notify.template.functions import Function, FunctionError, is_true
from notify.template.gofmt import NO_VALUE, GoValue, SafeHTML, TypedList, TypedMap, format_value, go_type_name
from notify.template.lexer import go_quote

# Output bound: the default email body is ~2.5 KB per alert, so 64 Mi characters still
# renders a 20,000-alert notification while stopping a runaway loop before memory suffers.
DEFAULT_MAX_OUTPUT_CHARS = 64 * 1024 * 1024
# Step bound: that email takes ~160 steps per alert (~1 µs each); 10M steps stops a hostile
# template after roughly ten seconds of CPU.
DEFAULT_MAX_STEPS = 10_000_000
# Go allows 100000 nested template calls; Python's stack allows far fewer, and real templates
# nest a few levels. Recursion deeper than this is an error, like Go's at its own limit.
MAX_TEMPLATE_DEPTH = 100

_MISSING = object()  # "no final value" in a pipeline: distinct from nil and <no value>


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


PREDEFINED_ESCAPERS = ("html", "urlquery")


class Writer:
    """Collects output; HTML writers override `text` and `value` to escape by context."""

    contextual = False

    def __init__(self, max_chars: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.max_chars = max_chars

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.max_chars:
            raise _OutputLimit
        self.parts.append(text)

    def text(self, text: str) -> None:
        self.write(text)

    def value(self, value: Any, escaped_by: str | None) -> None:
        self.write(format_value(value))

    def result(self) -> str:
        return "".join(self.parts)


class _OutputLimit(Exception):
    pass


class Evaluator:
    def __init__(
        self,
        trees: Mapping[str, n.Tree],
        functions: Mapping[str, Function],
        writer: Writer,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        self.trees = trees
        self.functions = functions
        self.writer = writer
        self.steps_left = max_steps
        self.max_steps = max_steps
        self.tree: n.Tree | None = None
        self.name = ""
        self.node: n.Node | None = None
        self.variables: list[tuple[str, Any]] = []
        self.depth = 0

    # Errors ---------------------------------------------------------------------------------

    def error(self, message: str) -> TemplateExecError:
        name = self.name
        if self.node is None or self.tree is None:
            return TemplateExecError(f"template: {name}: {message}")
        location = self.tree.location(self.node.pos)
        return TemplateExecError(
            f"template: {location}: executing {go_quote(name)} at <{self.node}>: {message}"
        )

    def step(self) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise self.error(f"template evaluation exceeded {self.max_steps} steps")

    # Entry point ----------------------------------------------------------------------------

    def execute(self, tree: n.Tree, data: Any) -> str:
        self.tree, self.name = tree, tree.name
        self.variables = [("$", data)]
        try:
            self.walk(data, tree.root)
        except _OutputLimit:
            raise self.error(f"template output exceeds {self.writer.max_chars} characters") from None
        except RecursionError:
            raise self.error("template too deeply nested") from None
        return self.writer.result()

    # Statements -----------------------------------------------------------------------------

    def walk(self, dot: Any, node: n.Node) -> None:
        self.step()
        self.node = node
        if isinstance(node, n.TextNode):
            self.writer.text(node.text)
        elif isinstance(node, n.ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decls:
                self.print_value(node, value, _final_escaper(node.pipe))
        elif isinstance(node, n.ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, n.IfNode | n.WithNode):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, n.RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, n.TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, n.BreakNode):
            raise _Break
        elif isinstance(node, n.ContinueNode):
            raise _Continue
        elif isinstance(node, n.CommentNode):
            pass
        else:
            raise self.error(f"unknown node: {node}")

    def print_value(self, node: n.Node, value: Any, escaped_by: str | None) -> None:
        self.node = node
        if isinstance(value, GoValue | list | dict | str | int | float | type(None)) or value is NO_VALUE:
            self.writer.value(value, escaped_by)
            return
        raise self.error(f"can't print {node} of type {go_type_name(value)}")

    def walk_if_or_with(self, dot: Any, node: n.BranchNode) -> None:
        mark = len(self.variables)
        value = self.eval_pipeline(dot, node.pipe)
        if is_true(value):
            if isinstance(node, n.WithNode):
                self.walk(value, node.body)
            else:
                self.walk(dot, node.body)
        elif node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.variables[mark:]

    def walk_range(self, dot: Any, node: n.BranchNode) -> None:
        self.node = node
        outer_mark = len(self.variables)
        value = self.eval_pipeline(dot, node.pipe)
        mark = len(self.variables)
        items: list[tuple[Any, Any]]
        if isinstance(value, Mapping):
            items = [(key, value[key]) for key in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif value is None or value is NO_VALUE:
            items = []
        else:
            raise self.error(f"range can't iterate over {format_value(value)}")
        decl_count = len(node.pipe.decls)
        try:
            for index, element in items:
                if decl_count > 0:
                    self._set_top_variable(1, element)
                if decl_count > 1:
                    self._set_top_variable(2, index)
                try:
                    self.walk(element, node.body)
                except _Continue:
                    pass
                finally:
                    del self.variables[mark:]
        except _Break:
            pass
        if not items and node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.variables[outer_mark:]

    def _set_top_variable(self, from_top: int, value: Any) -> None:
        name, _ = self.variables[-from_top]
        self.variables[-from_top] = (name, value)

    def walk_template(self, dot: Any, node: n.TemplateNode) -> None:
        self.node = node
        tree = self.trees.get(node.name)
        if tree is None:
            raise self.error(f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            raise self.error(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        new_dot = NO_VALUE if node.pipe is None else self.eval_pipeline(dot, node.pipe)
        saved = (self.tree, self.name, self.variables)
        self.tree, self.name, self.variables = tree, node.name, [("$", new_dot)]
        self.depth += 1
        try:
            self.walk(new_dot, tree.root)
        finally:
            self.depth -= 1
            self.tree, self.name, self.variables = saved

    # Pipelines ------------------------------------------------------------------------------

    def eval_pipeline(self, dot: Any, pipe: n.PipeNode) -> Any:
        self.node = pipe
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        if value is _MISSING:
            value = NO_VALUE
        for variable in pipe.decls:
            if pipe.is_assign:
                self.set_variable(variable.idents[0], value)
            else:
                self.variables.append((variable.idents[0], value))
        return value

    def set_variable(self, name: str, value: Any) -> None:
        for index in range(len(self.variables) - 1, -1, -1):
            if self.variables[index][0] == name:
                self.variables[index] = (name, value)
                return
        raise self.error(f"undefined variable: {name}")

    def variable(self, name: str) -> Any:
        for index in range(len(self.variables) - 1, -1, -1):
            if self.variables[index][0] == name:
                return self.variables[index][1]
        raise self.error(f"undefined variable: {name}")

    def eval_command(self, dot: Any, cmd: n.CommandNode, final: Any) -> Any:
        self.step()
        first = cmd.args[0]
        if isinstance(first, n.FieldNode):
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, n.ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, n.IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, n.PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, n.VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, n.BoolNode):
            return first.value
        if isinstance(first, n.DotNode):
            return dot
        if isinstance(first, n.NilNode):
            raise self.error("nil is not a command")
        if isinstance(first, n.NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, n.StringNode):
            return first.value
        raise self.error(f"can't evaluate command {go_quote(str(first))}")

    def not_a_function(self, args: Sequence[n.Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.error(f"can't give argument to non-function {args[0]}")

    def ideal_constant(self, node: n.NumberNode) -> Any:
        self.node = node
        if node.is_complex:
            raise self.error(f"can't handle complex constant {node.text}")
        is_hex_int = node.text.lower().lstrip("+-").startswith("0x") and "p" not in node.text.lower()
        if node.is_float and not is_hex_int and not node.is_char and any(c in node.text for c in ".eEpP"):
            return node.float_value
        if node.is_int:
            return node.int_value
        if node.is_uint:
            raise self.error(f"{node.text} overflows int")
        return node.float_value

    def eval_variable(self, dot: Any, node: n.VariableNode, args: Sequence[n.Node], final: Any) -> Any:
        self.node = node
        value = self.variable(node.idents[0])
        if len(node.idents) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, node, node.idents[1:], args, final)

    def eval_chain(self, dot: Any, chain: n.ChainNode, args: Sequence[n.Node], final: Any) -> Any:
        if not chain.fields:
            raise self.error("internal error: no fields in evalChainNode")
        if isinstance(chain.node, n.NilNode):
            raise self.error(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, "any", chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_field_chain(
        self, dot: Any, receiver: Any, node: n.Node, idents: Sequence[str], args: Sequence[n.Node], final: Any
    ) -> Any:
        for ident in idents[:-1]:
            receiver = self.eval_field(dot, ident, node, None, _MISSING, receiver)
        return self.eval_field(dot, idents[-1], node, args, final, receiver)

    def eval_field(
        self, dot: Any, name: str, node: n.Node, args: Sequence[n.Node] | None, final: Any, receiver: Any
    ) -> Any:
        self.node = node
        if receiver is NO_VALUE or receiver is None:
            return NO_VALUE
        methods = getattr(receiver, "go_methods", None)
        if methods and name in methods:
            python_name, params = methods[name]
            function = Function(getattr(receiver, python_name), params)
            return self.eval_call(dot, function, node, name, args, final)
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(receiver, GoValue) and name in receiver.go_fields:
            if has_args:
                raise self.error(f"{name} has arguments but cannot be invoked as function")
            return receiver.go_field(name)
        if isinstance(receiver, Mapping):
            if has_args:
                raise self.error(f"{name} is not a method but has arguments")
            return receiver.get(name, "")
        raise self.error(f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def eval_function(
        self, dot: Any, node: n.IdentifierNode, cmd: n.Node, args: Sequence[n.Node], final: Any
    ) -> Any:
        self.node = node
        function = self.functions.get(node.name)
        if function is None:
            raise self.error(f"{go_quote(node.name)} is not a defined function")
        return self.eval_call(dot, function, cmd, node.name, args, final)

    def eval_call(
        self,
        dot: Any,
        function: Function,
        node: n.Node,
        name: str,
        args: Sequence[n.Node] | None,
        final: Any,
    ) -> Any:
        arg_nodes = list(args[1:]) if args else []
        count = len(arg_nodes) + (0 if final is _MISSING else 1)
        fixed = len(function.params)
        if function.variadic is not None:
            if count < fixed:
                raise self.error(
                    f"wrong number of args for {name}: want at least {fixed} got {len(arg_nodes)}"
                )
        elif count != fixed:
            raise self.error(f"wrong number of args for {name}: want {fixed} got {count}")

        if function.builtin and name in ("and", "or"):
            want = name == "or"
            value: Any = NO_VALUE
            for arg in arg_nodes:
                value = self.eval_arg(dot, "value", arg)
                if is_true(value) == want:
                    return value
            if final is not _MISSING:
                value = final
            return value

        values: list[Any] = []
        for position, arg in enumerate(arg_nodes):
            param = function.params[position] if position < fixed else function.variadic
            assert param is not None
            values.append(self.eval_arg(dot, param, arg))
        if final is not _MISSING:
            position = len(arg_nodes)
            param = function.params[position] if position < fixed else function.variadic
            assert param is not None
            values.append(self.validate_type(final, param))
        try:
            result = function.call(*values)
        except FunctionError as error:
            self.node = node
            raise self.error(f"error calling {name}: {error}") from None
        except RecursionError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, UnicodeError) as error:
            self.node = node
            raise self.error(f"error calling {name}: {error}") from None
        return result

    # Arguments ------------------------------------------------------------------------------

    def eval_arg(self, dot: Any, param: str, node: n.Node) -> Any:
        self.node = node
        if isinstance(node, n.DotNode):
            return self.validate_type(dot, param)
        if isinstance(node, n.NilNode):
            if param == "value":
                return NO_VALUE
            if param == "any" or param.startswith(("map[", "*")):
                return None
            if param.startswith("[]"):
                return _zero_of(param)
            raise self.error(f"cannot assign nil to {param}")
        if isinstance(node, n.FieldNode):
            return self.validate_type(
                self.eval_field_chain(dot, dot, node, node.idents, [node], _MISSING), param
            )
        if isinstance(node, n.VariableNode):
            return self.validate_type(self.eval_variable(dot, node, [node], _MISSING), param)
        if isinstance(node, n.PipeNode):
            return self.validate_type(self.eval_pipeline(dot, node), param)
        if isinstance(node, n.IdentifierNode):
            return self.validate_type(self.eval_function(dot, node, node, [node], _MISSING), param)
        if isinstance(node, n.ChainNode):
            return self.validate_type(self.eval_chain(dot, node, [node], _MISSING), param)
        self.node = node
        if param in ("any", "value"):
            if isinstance(node, n.BoolNode):
                return node.value
            if isinstance(node, n.NumberNode):
                return self.ideal_constant(node)
            if isinstance(node, n.StringNode):
                return node.value
        elif param == "string":
            if isinstance(node, n.StringNode):
                return node.value
            raise self.error(f"expected string; found {node}")
        elif param == "int":
            if isinstance(node, n.NumberNode) and node.is_int:
                return node.int_value
            raise self.error(f"expected integer; found {node}")
        elif param == "bool":
            if isinstance(node, n.BoolNode):
                return node.value
            raise self.error(f"expected bool; found {node}")
        raise self.error(f"can't handle {node} for arg of type {param}")

    def validate_type(self, value: Any, param: str) -> Any:
        if value is NO_VALUE:
            if param == "value":
                return NO_VALUE
            if param == "any" or param.startswith(("[]", "map[", "*")):
                return None if param == "any" else _zero_of(param)
            raise self.error(f"invalid value; expected {param}")
        if param in ("any", "value"):
            return value
        actual = go_type_name(value)
        if param == actual:
            return value
        if value is None and param.startswith(("[]", "map[", "*")):
            return value
        raise self.error(f"wrong type for value; expected {param}; got {actual}")


def _zero_of(param: str) -> Any:
    if param.startswith("[]"):
        return []
    return None


def _final_escaper(pipe: n.PipeNode) -> str | None:
    """`html` or `urlquery` ending a pipeline: html/template then skips its equivalent escaper."""
    last = pipe.cmds[-1].args[0] if pipe.cmds else None
    if isinstance(last, n.IdentifierNode) and last.name in PREDEFINED_ESCAPERS:
        return last.name
    return None


def make_writer(max_chars: int) -> Writer:
    return Writer(max_chars)


WriterFactory = Callable[[int], Writer]

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_MAX_STEPS",
    "MAX_TEMPLATE_DEPTH",
    "Evaluator",
    "SafeHTML",
    "TypedList",
    "TypedMap",
    "Writer",
]
