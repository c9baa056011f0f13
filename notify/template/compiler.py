"""Compiles parse trees into Python closures: the fast path for executing templates.

Interpreting the tree node by node costs a dispatch per node; a 100-alert email walks ~16,000
of them. Here every node becomes a closure once, and per execution only the closures run:

- literal text is a constant string (adjacent ones merged);
- html/template's contextual escaping is decided at compile time, as Go's escaper does: each
  template is compiled once per HTML context it is entered in, literal text is replaced by
  its escaped form for that context and each action gets the escaper of its context;
- a `{{ template "x" }}` call whose body compiles to constant text (the email's inline
  style helpers) is replaced by that text;
- field and method lookups are resolved once per (Go type, name) and cached.

The compiled code decides only the successful path. Anything else (an error, a missing
template, a step, depth or output limit) raises `Fallback`, and the caller re-runs the
template with the interpreter (`evaluator.Evaluator`), which reports exactly what Go would.
Rendering is a pure function of the data, so the re-run sees the same thing. Limits are
checked conservatively here: steps are charged per list as an upper bound of what the
interpreter counts, so hitting the bound here never skips a render the interpreter allows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from notify.template import nodes as n
from notify.template.errors import TemplateError
from notify.template.escapecheck import TEXT_CONTEXT, join_contexts
from notify.template.evaluator import _MISSING, MAX_TEMPLATE_DEPTH, Evaluator, Writer, _Break, _Continue
from notify.template.functions import Function, is_true
from notify.template.gofmt import NO_VALUE, GoValue, NoValue, format_value
from notify.template.html import Context, escape_value, html_escape, literal_transition, value_context

# (run, dot) -> None: writes output.
Statement = Callable[["CompiledEvaluator", Any], None]
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


class _Uncompilable(Exception):
    """A template the compiler leaves to the interpreter (an HTML context it cannot follow)."""


class CompiledWriter(Writer):
    """The output of a compiled run: pieces appended directly, measured in batches."""

    def __init__(self, max_chars: int) -> None:
        super().__init__(max_chars)
        self.measured = 0  # pieces already added to `size`

    def check_size(self) -> None:
        parts = self.parts
        if len(parts) - self.measured >= OUTPUT_CHECK_PIECES:
            self.size += sum(map(len, parts[self.measured :]))
            self.measured = len(parts)
            if self.size > self.max_chars:
                raise Fallback


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


def get_field(receiver: Any, name: str) -> Any:
    key = (receiver.__class__, name)
    accessor = _accessors.get(key)
    if accessor is None:
        if len(_accessors) >= MAX_CACHED_ACCESSORS:
            _accessors.clear()
        accessor = _accessors[key] = _accessor(receiver.__class__, name)
    return accessor(receiver)


def _field_reader(name: str) -> Callable[[Any], Any]:
    """Reads `.name`, remembering the accessor for the type it saw last: a field in a
    template almost always reads values of one type."""
    seen: list[Any] = [None, None]  # [type, accessor]

    def read(receiver: Any) -> Any:
        if receiver.__class__ is seen[0]:
            return seen[1](receiver)
        key = (receiver.__class__, name)
        accessor = _accessors.get(key)
        if accessor is None:
            if len(_accessors) >= MAX_CACHED_ACCESSORS:
                _accessors.clear()
            accessor = _accessors[key] = _accessor(receiver.__class__, name)
        seen[0], seen[1] = receiver.__class__, accessor
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


def _validate(ev: CompiledEvaluator, value: Any, param: str) -> Any:
    if param == "any" or param == "value" or (param == "string" and value.__class__ is str):
        if value is NO_VALUE:
            return ev.validate_type(value, param)
        return value
    return ev.validate_type(value, param)


def _printable_text(value: Any) -> str:
    """The text `{{ value }}` prints, or Fallback for values Go cannot print."""
    if isinstance(value, GoValue | list | dict | str | int | float | type(None)) or value is NO_VALUE:
        return format_value(value)
    raise Fallback


def _check_printable(value: Any) -> None:
    if not (isinstance(value, GoValue | list | dict | str | int | float | type(None)) or value is NO_VALUE):
        raise Fallback


def _text_printer(escaped_by: str | None) -> Callable[[Any], str]:
    def print_text(value: Any) -> str:
        if value.__class__ is str:
            return value
        return _printable_text(value)

    return print_text


def _html_printer(context: Context, escaped_by: str | None) -> Callable[[Any], str]:
    """The escaper for a value printed in `context` (already nudged)."""
    if context == TEXT_CONTEXT and escaped_by is None:

        def print_in_text(value: Any) -> str:
            if value.__class__ is str:
                return html_escape(value)
            _check_printable(value)
            return escape_value(context, value, escaped_by)

        return print_in_text

    def print_in_context(value: Any) -> str:
        _check_printable(value)
        return escape_value(context, value, escaped_by)

    return print_in_context


def _final_escaper(pipe: n.PipeNode) -> str | None:
    last = pipe.cmds[-1].args[0] if pipe.cmds else None
    if isinstance(last, n.IdentifierNode) and last.name in ("html", "urlquery"):
        return last.name
    return None


# The compiler ---------------------------------------------------------------------------------


class _Compiled:
    """One template compiled for one entry context; `run` is filled in after compiling, so a
    recursive call can refer to it before it exists."""

    __slots__ = ("constant", "cost", "exit", "run")

    def __init__(self, entry: Context | None) -> None:
        self.run: Statement = _fallback
        self.constant: str | None = None  # the whole output, when it never depends on data
        self.cost = 0  # steps the interpreter counts for a constant body
        self.exit: Context | None = entry  # a recursive call assumes the context is kept


class Compiler:
    """Compiles the trees of one template set, for text or for HTML output."""

    def __init__(self, trees: Mapping[str, n.Tree], functions: Mapping[str, Function], html: bool) -> None:
        self.trees = trees
        self.functions = functions
        self.html = html
        self.compiled: dict[tuple[str, Context | None], _Compiled] = {}

    def program(self, top: n.Tree) -> Statement | None:
        """The compiled body of `top`, or None when it is left to the interpreter."""
        known = dict(self.compiled)
        try:
            items, cost, _ = self.list_items(top.root, TEXT_CONTEXT if self.html else None)
        except (_Uncompilable, TemplateError, RecursionError):
            # Templates compiled on the way may rest on a wrong assumption; forget them.
            self.compiled = known
            return None
        return _make_list(items, cost)

    # Statements ---------------------------------------------------------------------------

    def list_items(
        self, node: n.ListNode, context: Context | None
    ) -> tuple[list[str | Statement], int, Context | None]:
        """The list's items (constant text or statements), the steps the interpreter would
        count for them at most (not counting nested lists), and the context after them."""
        items: list[str | Statement] = []
        cost = 1  # the list itself
        for child in node.nodes:
            cost += 1
            if isinstance(child, n.TextNode):
                if context is None:
                    items.append(child.text)
                else:
                    output, context = literal_transition(context, child.text)
                    items.append(output)
            elif isinstance(child, n.CommentNode):
                pass
            elif isinstance(child, n.ActionNode):
                statement, pipe_cost, context = self.action(child, context)
                items.append(statement)
                cost += pipe_cost
            elif isinstance(child, n.IfNode | n.WithNode):
                statement, pipe_cost, context = self.if_or_with(child, context)
                items.append(statement)
                cost += pipe_cost
            elif isinstance(child, n.RangeNode):
                statement, pipe_cost, context = self.range(child, context)
                items.append(statement)
                cost += pipe_cost
            elif isinstance(child, n.TemplateNode):
                called, pipe_cost, context = self.template(child, context)
                items.append(called)
                cost += pipe_cost
            elif isinstance(child, n.BreakNode):
                items.append(_raise_break)
            elif isinstance(child, n.ContinueNode):
                items.append(_raise_continue)
            else:
                items.append(_fallback)
        return _merge_text(items), cost, context

    def body(self, node: n.ListNode, context: Context | None) -> tuple[Statement, Context | None]:
        items, cost, after = self.list_items(node, context)
        return _make_list(items, cost), after

    def action(self, node: n.ActionNode, context: Context | None) -> tuple[Statement, int, Context | None]:
        expression, cost = self.pipeline(node.pipe)
        if node.pipe.decls:

            def declare_only(ev: CompiledEvaluator, dot: Any) -> None:
                expression(ev, dot)

            return declare_only, cost, context
        escaped_by = _final_escaper(node.pipe)
        if context is None:
            printer = _text_printer(escaped_by)
        else:
            context = value_context(context)
            printer = _html_printer(context, escaped_by)

        def print_action(ev: CompiledEvaluator, dot: Any) -> None:
            ev.emit(printer(expression(ev, dot)))

        return print_action, cost, context

    def if_or_with(
        self, node: n.BranchNode, context: Context | None
    ) -> tuple[Statement, int, Context | None]:
        condition, cost = self.pipeline(node.pipe)
        body, after_body = self.body(node.body, context)
        otherwise: Statement | None = None
        after_else = context
        if node.else_body is not None:
            otherwise, after_else = self.body(node.else_body, context)
        after = self.join(after_body, after_else)
        is_with = isinstance(node, n.WithNode)

        def run_branch(ev: CompiledEvaluator, dot: Any) -> None:
            variables = ev.variables
            mark = len(variables)
            value = condition(ev, dot)
            if is_true(value):
                body(ev, value if is_with else dot)
            elif otherwise is not None:
                otherwise(ev, dot)
            if len(variables) != mark:
                del variables[mark:]

        return run_branch, cost, after

    def range(self, node: n.BranchNode, context: Context | None) -> tuple[Statement, int, Context | None]:
        collection, cost = self.pipeline(node.pipe)
        # Go escapes the body once, for the context the loop is entered in, and every
        # iteration uses that; the checker has made sure re-entry ends the same way.
        body, after_once = self.body(node.body, context)
        after_body = after_once
        if context is not None and after_once is not None:
            _, _, after_twice = self.list_items(node.body, after_once)
            after_body = self.join(after_once, after_twice)
        otherwise: Statement | None = None
        after_else = context
        if node.else_body is not None:
            otherwise, after_else = self.body(node.else_body, context)
        after = self.join(after_body, after_else)
        declared = len(node.pipe.decls)

        def run_range(ev: CompiledEvaluator, dot: Any) -> None:
            variables = ev.variables
            outer_mark = len(variables)
            value = collection(ev, dot)
            mark = len(variables)
            items: Sequence[tuple[Any, Any]]
            if isinstance(value, list | tuple):
                items = list(enumerate(value))
            elif isinstance(value, Mapping):
                items = [(key, value[key]) for key in sorted(value)]
            elif value is None or value is NO_VALUE:
                items = ()
            else:
                raise Fallback
            output = ev.output
            parts = output.parts
            try:
                for index, element in items:
                    if len(parts) - output.measured >= OUTPUT_CHECK_PIECES:
                        output.check_size()
                    if declared:
                        name, _ = variables[-1]
                        variables[-1] = (name, element)
                        if declared > 1:
                            name, _ = variables[-2]
                            variables[-2] = (name, index)
                    try:
                        body(ev, element)
                    except _Continue:
                        pass
                    if len(variables) != mark:
                        del variables[mark:]
            except _Break:
                if len(variables) != mark:
                    del variables[mark:]
            if not items and otherwise is not None:
                otherwise(ev, dot)
            if len(variables) != outer_mark:
                del variables[outer_mark:]

        return run_range, cost, after

    def template(
        self, node: n.TemplateNode, context: Context | None
    ) -> tuple[str | Statement, int, Context | None]:
        tree = self.trees.get(node.name)
        if tree is None:
            return _fallback, 0, context
        called = self.compile_template(tree, node.name, context)
        after = called.exit
        if called.constant is not None and (node.pipe is None or _is_bare_dot(node.pipe)):
            pipe_cost = 0 if node.pipe is None else _command_count(node.pipe)
            return called.constant, called.cost + pipe_cost, after
        cost = 0
        argument: Expression | None = None
        if node.pipe is not None:
            argument, cost = self.pipeline(node.pipe)

        def call(ev: CompiledEvaluator, dot: Any) -> None:
            new_dot = NO_VALUE if argument is None else argument(ev, dot)
            if ev.depth >= MAX_TEMPLATE_DEPTH:
                raise Fallback
            output = ev.output
            if len(output.parts) - output.measured >= OUTPUT_CHECK_PIECES:
                output.check_size()
            saved = ev.variables
            ev.variables = [("$", new_dot)]
            ev.depth += 1
            called.run(ev, new_dot)
            ev.depth -= 1
            ev.variables = saved

        return call, cost, after

    def compile_template(self, tree: n.Tree, name: str, context: Context | None) -> _Compiled:
        key = (name, context)
        known = self.compiled.get(key)
        if known is not None:
            return known
        compiled = self.compiled[key] = _Compiled(context)
        items, cost, after = self.list_items(tree.root, context)
        compiled.exit = after
        compiled.run = _make_list(items, cost)
        if all(isinstance(item, str) for item in items):
            compiled.constant = "".join(item for item in items if isinstance(item, str))
            compiled.cost = cost
        return compiled

    def join(self, first: Context | None, second: Context | None) -> Context | None:
        if first is None or second is None or first == second:
            return first
        joined = join_contexts(first, second)
        if joined is None:
            raise _Uncompilable
        return joined

    # Pipelines ----------------------------------------------------------------------------

    def pipeline(self, pipe: n.PipeNode) -> tuple[Expression, int]:
        """The pipeline as an expression, and the steps the interpreter counts for it at most."""
        cost = _command_count(pipe)
        commands = [self.command(cmd) for cmd in pipe.cmds]
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

    def command(self, cmd: n.CommandNode) -> Command:
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
            return self.function_command(first, cmd)
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
            leading = _field_chain(idents[:-1]) if len(idents) > 1 else None
            last = idents[-1]

            def call_method(ev: CompiledEvaluator, dot: Any, final: Any) -> Any:
                value = receiver(ev, dot)
                if leading is not None:
                    value = leading(value)
                return ev.eval_field(dot, last, node, args, final, value)

            return call_method
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

    def function_command(self, identifier: n.IdentifierNode, cmd: n.CommandNode) -> Command:
        name = identifier.name
        function = self.functions.get(name)
        if function is None:
            return _fallback
        if function.builtin and name in ("and", "or"):
            args = cmd.args
            return lambda ev, dot, final: ev.eval_call(dot, function, cmd, name, args, final)
        arguments = [self.argument(arg) for arg in cmd.args[1:]]
        fixed = len(function.params)
        params = [
            function.params[position] if position < fixed else (function.variadic or "any")
            for position in range(len(arguments) + 1)
        ]
        final_param = params[len(arguments)]
        call = function.call
        variadic = function.variadic is not None

        def count_ok(count: int) -> bool:
            return count >= fixed if variadic else count == fixed

        with_final_ok = count_ok(len(arguments) + 1)
        without_final_ok = count_ok(len(arguments))

        if len(arguments) == 1:
            (argument,) = arguments
            (param, _) = params

            def call_one(ev: CompiledEvaluator, dot: Any, final: Any) -> Any:
                if final is _MISSING:
                    if not without_final_ok:
                        raise Fallback
                    return call(argument(ev, dot, param))
                if not with_final_ok:
                    raise Fallback
                return call(argument(ev, dot, param), _validate(ev, final, final_param))

            return call_one

        def call_any(ev: CompiledEvaluator, dot: Any, final: Any) -> Any:
            values = [argument(ev, dot, params[position]) for position, argument in enumerate(arguments)]
            if final is _MISSING:
                if not without_final_ok:
                    raise Fallback
            else:
                if not with_final_ok:
                    raise Fallback
                values.append(_validate(ev, final, final_param))
            return call(*values)

        return call_any

    def argument(self, node: n.Node) -> Argument:
        """An argument as the evaluator's eval_arg computes it, for a parameter type known at
        run time (methods) or compile time (functions)."""
        if isinstance(node, n.DotNode):
            return lambda ev, dot, param: _validate(ev, dot, param)
        if isinstance(node, n.FieldNode):
            read = _field_chain(node.idents)
            return lambda ev, dot, param: _validate(ev, read(dot), param)
        if isinstance(node, n.VariableNode):
            name = node.idents[0]
            if len(node.idents) == 1:
                return lambda ev, dot, param: _validate(ev, ev.variable(name), param)
            fields = _field_chain(node.idents[1:])
            return lambda ev, dot, param: _validate(ev, fields(ev.variable(name)), param)
        if isinstance(node, n.PipeNode):
            inner, _ = self.pipeline(node)
            return lambda ev, dot, param: _validate(ev, inner(ev, dot), param)
        if isinstance(node, n.IdentifierNode):
            command = self.function_command(node, n.CommandNode(node.pos, [node]))
            return lambda ev, dot, param: _validate(ev, command(ev, dot, _MISSING), param)
        if isinstance(node, n.StringNode):
            text = node.value

            def string(ev: CompiledEvaluator, dot: Any, param: str) -> Any:
                if param == "string" or param == "any" or param == "value":
                    return text
                return ev.eval_arg(dot, param, node)

            return string
        return lambda ev, dot, param: ev.eval_arg(dot, param, node)


# Helpers ------------------------------------------------------------------------------------


def _raise_break(ev: CompiledEvaluator, dot: Any) -> None:
    raise _Break


def _raise_continue(ev: CompiledEvaluator, dot: Any) -> None:
    raise _Continue


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


def _is_bare_dot(pipe: n.PipeNode) -> bool:
    return (
        not pipe.decls
        and len(pipe.cmds) == 1
        and len(pipe.cmds[0].args) == 1
        and isinstance(pipe.cmds[0].args[0], n.DotNode)
    )


def _command_count(node: n.Node) -> int:
    """Commands in a pipeline and its nested pipelines: an upper bound of its steps."""
    if isinstance(node, n.PipeNode):
        return sum(_command_count(cmd) for cmd in node.cmds)
    if isinstance(node, n.CommandNode):
        return 1 + sum(_command_count(arg) for arg in node.args)
    if isinstance(node, n.ChainNode):
        return _command_count(node.node)
    return 0


def _merge_text(items: list[str | Statement]) -> list[str | Statement]:
    merged: list[str | Statement] = []
    for item in items:
        if isinstance(item, str):
            if not item:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + item
                continue
        merged.append(item)
    return merged


def _make_list(items: list[str | Statement], cost: int) -> Statement:
    """A statement running the items in order, after charging the list's steps."""
    frozen = tuple(items)

    def run_list(ev: CompiledEvaluator, dot: Any) -> None:
        ev.steps_left -= cost
        if ev.steps_left < 0:
            raise Fallback
        emit = ev.emit
        for item in frozen:
            if item.__class__ is str:
                emit(item)
            else:
                item(ev, dot)  # type: ignore[operator]

    if not frozen:

        def run_empty(ev: CompiledEvaluator, dot: Any) -> None:
            ev.steps_left -= cost
            if ev.steps_left < 0:
                raise Fallback

        return run_empty
    only = frozen[0]
    if len(frozen) == 1 and isinstance(only, str):
        text = only

        def run_text(ev: CompiledEvaluator, dot: Any) -> None:
            ev.steps_left -= cost
            if ev.steps_left < 0:
                raise Fallback
            ev.emit(text)

        return run_text
    return run_list


def run_program(program: Statement, ev: CompiledEvaluator, data: Any) -> str:
    """Execute a compiled body; raises Fallback when the interpreter must decide."""
    ev.variables = [("$", data)]
    program(ev, data)
    result = "".join(ev.output.parts)
    if len(result) > ev.output.max_chars:
        raise Fallback
    return result
