"""html/template's checks that run before a template executes, over every branch.

Go's escaper walks the whole template (and the templates it calls) once, following the HTML
context through literal text, and refuses templates whose context is ambiguous: `if`/`else`
arms or a `range` body that end in different contexts, output that ends inside a tag or an
attribute, an action in a URL whose part (path or query) depends on a branch, and `html` or
`urlquery` anywhere but at the end of a pipeline. The escaping itself happens while
rendering (notify.template.html); this module only finds those errors, with Go's precedence:
an error context is carried forward, a later misplaced escaper replaces it, and a branch
reports its first arm's error before its second's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notify.template import nodes as n
from notify.template.errors import TemplateExecError
from notify.template.html import (
    FLOW_LIMIT_CHARS,
    AttrKind,
    Context,
    HTMLWriter,
    State,
    UrlPart,
    describe_context,
    value_context,
)
from notify.template.lexer import go_quote

PREDEFINED_ESCAPERS = ("html", "urlquery")
TEXT_CONTEXT: Context = (State.TEXT, "", "", AttrKind.PLAIN, "", UrlPart.NONE, "")

# A context, or the error message that replaced it.
Flow = Context | str


class _Checker:
    def __init__(self, trees: Mapping[str, n.Tree]) -> None:
        self.trees = trees
        self.scratch = HTMLWriter(FLOW_LIMIT_CHARS)
        self.callees: dict[tuple[str, Context], Flow] = {}

    def text(self, context: Flow, text: str) -> Flow:
        if isinstance(context, str):
            return context
        scratch = self.scratch
        scratch.parts.clear()
        scratch.size = 0
        scratch.set_context(context)
        try:
            scratch.text(text)
        except TemplateExecError as error:  # a malformed-HTML diagnosis from the scanner
            return str(error)
        return scratch.context()

    def action(self, tree: n.Tree, context: Flow, node: n.ActionNode) -> Flow:
        if node.pipe.decls:
            return context
        for cmd in node.pipe.cmds[:-1]:
            first = cmd.args[0]
            if isinstance(first, n.IdentifierNode) and first.name in PREDEFINED_ESCAPERS:
                return (
                    f"html/template:{tree.location(node.pos)}: predefined escaper "
                    f"{go_quote(first.name)} disallowed in template"
                )
        if isinstance(context, str):
            return context
        context = nudge(context)
        if context[0] is State.ATTR and context[3] is AttrKind.URL and context[5] is UrlPart.UNKNOWN:
            return f"html/template:{tree.location(node.pos)}: {node} appears in an ambiguous context within a URL"
        if context[0] in (State.TAG, State.AFTER_NAME):
            return (State.ATTR_NAME, *context[1:])
        return context

    def walk(self, tree: n.Tree, context: Flow, node: n.Node) -> Flow:
        if isinstance(node, n.ListNode):
            for child in node.nodes:
                context = self.walk(tree, context, child)
            return context
        if isinstance(node, n.TextNode):
            return self.text(context, node.text)
        if isinstance(node, n.ActionNode):
            return self.action(tree, context, node)
        if isinstance(node, n.BranchNode):
            return self.branch(tree, context, node)
        if isinstance(node, n.TemplateNode):
            return self.call(context, node)
        return context

    def branch(self, tree: n.Tree, context: Flow, node: n.BranchNode) -> Flow:
        keyword = node.keyword
        body = self.walk(tree, context, node.body)
        if keyword == "range":
            if isinstance(body, str):
                return body
            again = self.walk(tree, body, node.body)
            body = join(tree, node, keyword, body, again)
            if isinstance(body, str):
                return body.replace(": {{range}}", ": on range loop re-entry: {{range}}", 1)
        otherwise = context if node.else_body is None else self.walk(tree, context, node.else_body)
        return join(tree, node, keyword, body, otherwise)

    def call(self, context: Flow, node: n.TemplateNode) -> Flow:
        if isinstance(context, str):
            return context
        called = self.trees.get(node.name)
        if called is None:
            return context
        key = (node.name, context)
        known = self.callees.get(key)
        if known is None:
            self.callees[key] = context  # a recursive call assumes the context is kept
            known = self.walk(called, context, called.root)
            self.callees[key] = known
        return known


def nudge(context: Context) -> Context:
    """Go's nudge: a context that is about to receive an attribute or a value."""
    return value_context(context)


def join_contexts(first: Context, second: Context) -> Context | None:
    """The context after branches ending in `first` and `second`, or None if they disagree
    (Go's join: equal, differing only in the URL part, or equal once nudged)."""
    if first == second:
        return first
    if first[:5] == second[:5] and first[6:] == second[6:]:
        return (*first[:5], UrlPart.UNKNOWN, *first[6:])
    nudged_first, nudged_second = nudge(first), nudge(second)
    if (nudged_first, nudged_second) != (first, second):
        return join_contexts(nudged_first, nudged_second)
    return None


def join(tree: n.Tree, node: n.BranchNode, keyword: str, first: Flow, second: Flow) -> Flow:
    if isinstance(first, str):
        return first
    if isinstance(second, str):
        return second
    joined = join_contexts(first, second)
    if joined is not None:
        return joined
    return (
        f"html/template:{tree.location(node.pos)}: {{{{{keyword}}}}} branches end in different contexts: "
        f"{describe_context(first)}, {describe_context(second)}"
    )


def check_html_template(top: n.Tree, trees: Mapping[str, n.Tree]) -> str | None:
    """The error html/template would report before executing `top`, or None."""
    checker = _Checker(trees)
    final: Any = checker.walk(top, TEXT_CONTEXT, top.root)
    if isinstance(final, str):
        return final
    if final[0] is not State.TEXT:
        where = f"html/template:{top.name}: " if top.name else "html/template: "
        return f"{where}ends in a non-text context: {describe_context(final)}"
    return None
