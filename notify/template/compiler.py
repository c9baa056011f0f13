"""Compiles parse trees into Python functions: the fast path for executing templates.

Interpreting the tree costs a dispatch per node; a 100-alert email walks ~16,000 of them.
Here each template becomes the source of one Python function, generated once and run by
CPython directly: literal text is a constant appended to the output, `if`/`with`/`range`
are Python `if` and `for` statements, and pipelines are closures (`expressions`).

- html/template's contextual escaping is decided at compile time, as Go's escaper does: a
  template is compiled once per HTML context it is entered in; literal text is replaced by
  its escaped form for that context and each action gets its context's escaper.
- A `{{ template "x" }}` whose body compiles to constant text (the email's inline style
  helpers) is replaced by that text.

The generated code decides only the successful path. Anything else (an error, a missing
template, a step, depth or output limit) raises `Fallback`, and the caller re-runs the
template on the interpreter (`evaluator`), which reports exactly what Go would; rendering is
a pure function of the data, so the re-run sees the same thing. Steps are charged per list
(per loop for a range body), at least as many as the interpreter counts: the compiled code
never finishes a render the interpreter would stop, and when its own count trips, the
interpreter re-runs and decides.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from notify.template import nodes as n
from notify.template.errors import TemplateError
from notify.template.escapecheck import TEXT_CONTEXT, join_contexts
from notify.template.evaluator import MAX_TEMPLATE_DEPTH
from notify.template.expressions import (
    OUTPUT_CHECK_PIECES,
    CompiledEvaluator,
    Expression,
    ExpressionCompiler,
    Fallback,
    command_count,
    final_escaper,
    html_printer,
    printable_text,
    read_field_slowly,
)
from notify.template.functions import Function, is_true
from notify.template.gofmt import NO_VALUE
from notify.template.html import (
    Context,
    escape_and_remember,
    literal_transition,
    remembered_escapes,
    value_context,
)

# (run, dot) -> None: writes the template's output.
Statement = Callable[[CompiledEvaluator, Any], None]


class _Uncompilable(Exception):
    """A template left to the interpreter (contexts it cannot follow, Python's own limits)."""


# The intermediate form: a list body as text and statements, before it becomes source. -----


@dataclasses.dataclass(slots=True)
class _Pipe:
    expression: Expression
    fields: list[str] | None  # the pipeline is `.a.b` (or `.` when empty): read inline
    declares: bool  # it pushes variables (`$x := ...`)


@dataclasses.dataclass(slots=True)
class _Action:
    pipe: _Pipe
    printer: Callable[[Any], str] | None  # None: a declaration, prints nothing
    escape_text: bool  # HTML text context without a final `html`: the inline fast path


@dataclasses.dataclass(slots=True)
class _Block:
    items: list[Any]  # str | _Action | _Branch | _Range | _Call | _Jump
    cost: int  # steps the interpreter counts for the list itself and its direct children
    declares: bool  # a direct child pushes variables, which end with the enclosing control


@dataclasses.dataclass(slots=True)
class _Branch:
    condition: _Pipe
    is_with: bool
    body: _Block
    otherwise: _Block | None


@dataclasses.dataclass(slots=True)
class _Range:
    collection: _Pipe
    declared: int
    body: _Block
    otherwise: _Block | None


@dataclasses.dataclass(slots=True)
class _Call:
    called: _Compiled
    argument: _Pipe | None


@dataclasses.dataclass(slots=True)
class _Jump:
    keyword: str  # "break", "continue" or "fallback"


class _Compiled:
    """One template compiled for one entry context; `run` is set once generated, so a
    recursive call can refer to it before it exists."""

    __slots__ = ("constant", "cost", "exit", "run")

    def __init__(self, entry: Context | None) -> None:
        self.run: Statement = _not_ready
        self.constant: str | None = None  # the whole output, when it never depends on data
        self.cost = 0  # steps the interpreter counts for a constant body
        self.exit: Context | None = entry  # a recursive call assumes the context is kept


def _not_ready(ev: CompiledEvaluator, dot: Any) -> None:
    raise Fallback


class Compiler:
    """Compiles the trees of one template set, for text or for HTML output."""

    def __init__(self, trees: Mapping[str, n.Tree], functions: Mapping[str, Function], html: bool) -> None:
        self.trees = trees
        self.html = html
        self.expressions = ExpressionCompiler(functions)
        self.compiled: dict[tuple[str, Context | None], _Compiled] = {}
        self.names = itertools.count()

    def program(self, top: n.Tree) -> Statement | None:
        """The compiled body of `top`, or None when it is left to the interpreter."""
        known = dict(self.compiled)
        try:
            block, _ = self.block(top.root, TEXT_CONTEXT if self.html else None)
            return self.generate(top.name or "top", block)
        except (_Uncompilable, TemplateError, RecursionError, SyntaxError, MemoryError):
            # Templates compiled on the way may rest on a wrong assumption; forget them.
            self.compiled = known
            return None

    # Trees to blocks --------------------------------------------------------------------------

    def block(self, node: n.ListNode, context: Context | None) -> tuple[_Block, Context | None]:
        items: list[Any] = []
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
                printed, context = self.action(child, context)
                items.append(printed)
                cost += command_count(child.pipe)
            elif isinstance(child, n.IfNode | n.WithNode):
                branch, context = self.branch(child, context)
                items.append(branch)
                cost += command_count(child.pipe)
            elif isinstance(child, n.RangeNode):
                loop, context = self.range(child, context)
                items.append(loop)
                cost += command_count(child.pipe)
            elif isinstance(child, n.TemplateNode):
                call, call_cost, context = self.template(child, context)
                items.append(call)
                cost += call_cost
            elif isinstance(child, n.BreakNode):
                items.append(_Jump("break"))
            elif isinstance(child, n.ContinueNode):
                items.append(_Jump("continue"))
            else:
                items.append(_Jump("fallback"))
        declares = any(isinstance(item, _Action) and item.pipe.declares for item in items)
        return _Block(_merge_text(items), cost, declares), context

    def pipe(self, pipe: n.PipeNode) -> _Pipe:
        expression, _ = self.expressions.pipeline(pipe)
        declares = bool(pipe.decls) and not pipe.is_assign
        return _Pipe(expression, _dot_fields(pipe), declares)

    def action(self, node: n.ActionNode, context: Context | None) -> tuple[_Action | str, Context | None]:
        """An action; one printing a string constant (`{{ "\\n" }}`) is constant text."""
        pipe = self.pipe(node.pipe)
        if node.pipe.decls:
            return _Action(pipe, None, False), context
        escaped_by = final_escaper(node.pipe)
        constant = _string_constant(node.pipe)
        if context is None:
            if constant is not None:
                return constant, context
            return _Action(pipe, printable_text, False), context
        context = value_context(context)
        printer = html_printer(context, escaped_by)
        if constant is not None:
            return printer(constant), context
        escape_text = context == TEXT_CONTEXT and escaped_by is None
        return _Action(pipe, printer, escape_text), context

    def branch(self, node: n.BranchNode, context: Context | None) -> tuple[_Branch, Context | None]:
        condition = self.pipe(node.pipe)
        body, after_body = self.block(node.body, context)
        otherwise: _Block | None = None
        after_else = context
        if node.else_body is not None:
            otherwise, after_else = self.block(node.else_body, context)
        branch = _Branch(condition, isinstance(node, n.WithNode), body, otherwise)
        return branch, self.join(after_body, after_else)

    def range(self, node: n.BranchNode, context: Context | None) -> tuple[_Range, Context | None]:
        collection = self.pipe(node.pipe)
        # Go escapes the body once, for the context the loop is entered in, and every
        # iteration uses that; the checker has made sure re-entry ends the same way.
        body, after_once = self.block(node.body, context)
        after_body = after_once
        if context is not None and after_once is not None:
            _, after_twice = self.block(node.body, after_once)
            after_body = self.join(after_once, after_twice)
        otherwise: _Block | None = None
        after_else = context
        if node.else_body is not None:
            otherwise, after_else = self.block(node.else_body, context)
        loop = _Range(collection, len(node.pipe.decls), body, otherwise)
        return loop, self.join(after_body, after_else)

    def template(self, node: n.TemplateNode, context: Context | None) -> tuple[Any, int, Context | None]:
        tree = self.trees.get(node.name)
        if tree is None:
            return _Jump("fallback"), 0, context
        called = self.compile_template(tree, node.name, context)
        pipe_cost = 0 if node.pipe is None else command_count(node.pipe)
        if called.constant is not None and (node.pipe is None or _is_bare_dot(node.pipe)):
            return called.constant, called.cost + pipe_cost, called.exit
        argument = None if node.pipe is None else self.pipe(node.pipe)
        return _Call(called, argument), pipe_cost, called.exit

    def compile_template(self, tree: n.Tree, name: str, context: Context | None) -> _Compiled:
        key = (name, context)
        known = self.compiled.get(key)
        if known is not None:
            return known
        compiled = self.compiled[key] = _Compiled(context)
        block, compiled.exit = self.block(tree.root, context)
        if all(isinstance(item, str) for item in block.items):
            compiled.constant = "".join(block.items)
            compiled.cost = block.cost
        compiled.run = self.generate(name, block)
        return compiled

    def join(self, first: Context | None, second: Context | None) -> Context | None:
        if first is None or second is None or first == second:
            return first
        joined = join_contexts(first, second)
        if joined is None:
            raise _Uncompilable
        return joined

    # Blocks to Python ---------------------------------------------------------------------

    def generate(self, name: str, block: _Block) -> Statement:
        source = _Source()
        source.line(0, "def run(ev, dot):")
        source.line(1, "emit = ev.emit")
        source.line(1, "output = ev.output")
        source.line(1, "parts = output.parts")
        source.line(1, "variables = ev.variables")
        source.block(block, 1, "dot", in_loop=False)
        namespace = source.namespace
        code = compile("\n".join(source.lines), f"<template {name!r}>", "exec")
        exec(code, namespace)  # the source is ours: names and literals generated above
        run: Statement = namespace["run"]
        return run


class _Source:
    """The lines of one generated function and the objects its names refer to.

    Each field read in the source is an inline cache: the global `siteN` holds the last type
    seen at that site and its accessor (read_field_slowly replaces it)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "Fallback": Fallback,
            "NO_VALUE": NO_VALUE,
            "MAX_TEMPLATE_DEPTH": MAX_TEMPLATE_DEPTH,
            "OUTPUT_CHECK_PIECES": OUTPUT_CHECK_PIECES,
            "is_true": is_true,
            "range_items": range_items,
            "read_field_slowly": read_field_slowly,
            "escaped_text": remembered_escapes().get,
            "escape_text": escape_and_remember,
        }
        self.namespace["namespace"] = self.namespace
        self.counter = itertools.count()

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def name(self, prefix: str, value: Any = None) -> str:
        name = f"{prefix}{next(self.counter)}"
        if value is not None:
            self.namespace[name] = value
        return name

    def block(self, block: _Block, depth: int, dot: str, in_loop: bool, charged: bool = False) -> None:
        if not charged:
            self.line(depth, f"ev.steps_left -= {block.cost}")
            self.line(depth, "if ev.steps_left < 0: raise Fallback")
        for item in block.items:
            if isinstance(item, str):
                self.line(depth, f"emit({item!r})")
            elif isinstance(item, _Action):
                self.action(item, depth, dot)
            elif isinstance(item, _Branch):
                self.branch(item, depth, dot, in_loop)
            elif isinstance(item, _Range):
                self.range(item, depth, dot)
            elif isinstance(item, _Call):
                self.call(item, depth, dot)
            elif isinstance(item, _Jump) and item.keyword in ("break", "continue") and in_loop:
                self.line(depth, item.keyword)
            else:
                self.line(depth, "raise Fallback")

    def evaluate(self, pipe: _Pipe, depth: int, dot: str) -> str:
        """Lines computing the pipeline; returns the name holding its value."""
        if pipe.fields is None:
            value = self.name("value")
            expression = self.name("expression", pipe.expression)
            self.line(depth, f"{value} = {expression}(ev, {dot})")
            return value
        receiver = dot
        for field in pipe.fields:
            value, site = self.name("value"), next(self.counter)
            self.namespace[f"site{site}"] = (None, None)
            # One read of the site's (type, accessor) pair, so a concurrent update is seen whole.
            self.line(depth, f"seen = site{site}")
            self.line(depth, f"if {receiver}.__class__ is seen[0]: {value} = seen[1]({receiver})")
            self.line(depth, f"else: {value} = read_field_slowly(namespace, {site}, {field!r}, {receiver})")
            receiver = value
        return receiver

    def action(self, action: _Action, depth: int, dot: str) -> None:
        if action.printer is None:
            expression = self.name("expression", action.pipe.expression)
            self.line(depth, f"{expression}(ev, {dot})")
            return
        value = self.evaluate(action.pipe, depth, dot)
        printer = self.name("printer", action.printer)
        if action.escape_text:
            escaped = self.name("escaped")
            self.line(depth, f"if {value}.__class__ is str:")
            self.line(depth + 1, f"{escaped} = escaped_text({value})")
            self.line(depth + 1, f"emit({escaped} if {escaped} is not None else escape_text({value}))")
            self.line(depth, f"else: emit({printer}({value}))")
        elif action.printer is printable_text:
            self.line(depth, f"emit({value} if {value}.__class__ is str else {printer}({value}))")
        else:
            self.line(depth, f"emit({printer}({value}))")

    def branch(self, branch: _Branch, depth: int, dot: str, in_loop: bool) -> None:
        # Variables declared in the pipeline or the arms end with the `if`.
        scoped = branch.condition.declares or branch.body.declares
        scoped = scoped or (branch.otherwise is not None and branch.otherwise.declares)
        mark = self.name("mark")
        if scoped:
            self.line(depth, f"{mark} = len(variables)")
        value = self.evaluate(branch.condition, depth, dot)
        self.line(depth, f"if is_true({value}):")
        self.block(branch.body, depth + 1, value if branch.is_with else dot, in_loop)
        if branch.otherwise is not None:
            self.line(depth, "else:")
            self.block(branch.otherwise, depth + 1, dot, in_loop)
        if scoped:
            self.line(depth, f"if len(variables) != {mark}: del variables[{mark}:]")

    def range(self, loop: _Range, depth: int, dot: str) -> None:
        outer, mark, items = self.name("outer"), self.name("mark"), self.name("items")
        index, element, limit = self.name("index"), self.name("element"), self.name("limit")
        scoped = loop.collection.declares or loop.body.declares
        if scoped:
            self.line(depth, f"{outer} = len(variables)")
        collection = self.evaluate(loop.collection, depth, dot)
        if scoped:
            self.line(depth, f"{mark} = len(variables)")
        count = self.name("count")
        # A slice, the common case, is iterated in place; maps and nil go through range_items,
        # which also refuses what cannot be ranged over.
        self.line(depth, f"if isinstance({collection}, list):")
        self.line(depth + 1, f"{items} = enumerate({collection})")
        self.line(depth + 1, f"{count} = len({collection})")
        self.line(depth, "else:")
        self.line(depth + 1, f"{items} = range_items({collection})")
        self.line(depth + 1, f"{count} = len({items})")
        # The body's own steps for every iteration at once, and its output measured as it grows.
        self.line(depth, f"ev.steps_left -= {loop.body.cost} * {count}")
        self.line(depth, "if ev.steps_left < 0: raise Fallback")
        self.line(depth, f"{limit} = len(parts) + OUTPUT_CHECK_PIECES")
        self.line(depth, f"for {index}, {element} in {items}:")
        inner = depth + 1
        if scoped:
            # Cleaning up at the top of each iteration also covers `continue`.
            self.line(inner, f"if len(variables) != {mark}: del variables[{mark}:]")
        self.line(inner, f"if len(parts) >= {limit}: {limit} = output.measure()")
        if loop.declared:
            self.line(inner, f"variables[-1] = (variables[-1][0], {element})")
        if loop.declared > 1:
            self.line(inner, f"variables[-2] = (variables[-2][0], {index})")
        self.block(loop.body, inner, element, in_loop=True, charged=True)
        if scoped:
            self.line(depth, f"if len(variables) != {mark}: del variables[{mark}:]")
        if loop.otherwise is not None:
            self.line(depth, f"if not {count}:")
            self.block(loop.otherwise, depth + 1, dot, in_loop=False)
        if scoped:
            self.line(depth, f"if len(variables) != {outer}: del variables[{outer}:]")

    def call(self, call: _Call, depth: int, dot: str) -> None:
        called, saved = self.name("called", call.called), self.name("saved")
        argument = "NO_VALUE" if call.argument is None else self.evaluate(call.argument, depth, dot)
        self.line(depth, "if ev.depth >= MAX_TEMPLATE_DEPTH: raise Fallback")
        self.line(depth, "if len(parts) - output.measured >= OUTPUT_CHECK_PIECES: output.measure()")
        self.line(depth, f"{saved} = ev.variables")
        self.line(depth, f'ev.variables = [("$", {argument})]')
        self.line(depth, "ev.depth += 1")
        self.line(depth, f"{called}.run(ev, {argument})")
        self.line(depth, "ev.depth -= 1")
        self.line(depth, f"ev.variables = {saved}")


def range_items(value: Any) -> list[tuple[Any, Any]]:
    """What `range` iterates over: (index, element) of a slice, (key, value) of a map in key
    order; nothing for nil. Anything else is an error the interpreter reports."""
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, Mapping):
        return [(key, value[key]) for key in sorted(value)]
    if value is None or value is NO_VALUE:
        return []
    raise Fallback


def _dot_fields(pipe: n.PipeNode) -> list[str] | None:
    """The fields a pipeline reads from dot when it is only `.a.b` ([] for `.`), else None."""
    if pipe.decls or len(pipe.cmds) != 1 or len(pipe.cmds[0].args) != 1:
        return None
    (only,) = pipe.cmds[0].args
    if isinstance(only, n.DotNode):
        return []
    return list(only.idents) if isinstance(only, n.FieldNode) else None


def _string_constant(pipe: n.PipeNode) -> str | None:
    if pipe.decls or len(pipe.cmds) != 1 or len(pipe.cmds[0].args) != 1:
        return None
    (only,) = pipe.cmds[0].args
    return only.value if isinstance(only, n.StringNode) else None


def _is_bare_dot(pipe: n.PipeNode) -> bool:
    return (
        not pipe.decls
        and len(pipe.cmds) == 1
        and len(pipe.cmds[0].args) == 1
        and isinstance(pipe.cmds[0].args[0], n.DotNode)
    )


def _merge_text(items: list[Any]) -> list[Any]:
    merged: list[Any] = []
    for item in items:
        if isinstance(item, str):
            if not item:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + item
                continue
        merged.append(item)
    return merged


def run_program(program: Statement, ev: CompiledEvaluator, data: Any) -> str:
    """Execute a compiled body; raises Fallback when the interpreter must decide."""
    ev.variables = [("$", data)]
    program(ev, data)
    result = "".join(ev.output.parts)
    if len(result) > ev.output.max_chars:
        raise Fallback
    return result
