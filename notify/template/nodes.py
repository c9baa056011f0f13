"""Parse-tree nodes. `str(node)` reproduces Go's Node.String(), which error messages quote."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(eq=False, slots=True)
class Tree:
    """One named template: its body and the source it was parsed from (for error positions)."""

    name: str
    parse_name: str
    text: str
    root: ListNode

    def location(self, pos: int) -> str:
        """`parse_name:line:column` of a position, as Go's ErrorContext prints it."""
        before = self.text[:pos]
        line_start = before.rfind("\n") + 1
        # Go counts the column in bytes.
        column = len(before[line_start:].encode())
        return f"{self.parse_name}:{before.count(chr(10)) + 1}:{column}"


@dataclasses.dataclass(eq=False, slots=True)
class Node:
    pos: int


@dataclasses.dataclass(eq=False, slots=True)
class ListNode(Node):
    nodes: list[Node]

    def __str__(self) -> str:
        return "".join(str(node) for node in self.nodes)


@dataclasses.dataclass(eq=False, slots=True)
class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return self.text


@dataclasses.dataclass(eq=False, slots=True)
class CommentNode(Node):
    text: str

    def __str__(self) -> str:
        return "{{" + self.text + "}}"


# Argument nodes -----------------------------------------------------------------------------


@dataclasses.dataclass(eq=False, slots=True)
class IdentifierNode(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(eq=False, slots=True)
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclasses.dataclass(eq=False, slots=True)
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclasses.dataclass(eq=False, slots=True)
class VariableNode(Node):
    idents: list[str]  # the variable name (with $) followed by field names

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclasses.dataclass(eq=False, slots=True)
class FieldNode(Node):
    idents: list[str]

    def __str__(self) -> str:
        return "".join("." + ident for ident in self.idents)


@dataclasses.dataclass(eq=False, slots=True)
class ChainNode(Node):
    node: Node
    fields: list[str]

    def __str__(self) -> str:
        text = str(self.node)
        if isinstance(self.node, PipeNode):
            text = "(" + text + ")"
        return text + "".join("." + field for field in self.fields)


@dataclasses.dataclass(eq=False, slots=True)
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclasses.dataclass(eq=False, slots=True)
class NumberNode(Node):
    text: str
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    is_char: bool = False
    int_value: int = 0
    float_value: float = 0.0

    def __str__(self) -> str:
        return self.text


@dataclasses.dataclass(eq=False, slots=True)
class StringNode(Node):
    quoted: str
    value: str

    def __str__(self) -> str:
        return self.quoted


@dataclasses.dataclass(eq=False, slots=True)
class CommandNode(Node):
    args: list[Node]

    def __str__(self) -> str:
        parts = []
        for arg in self.args:
            parts.append(f"({arg})" if isinstance(arg, PipeNode) else str(arg))
        return " ".join(parts)


@dataclasses.dataclass(eq=False, slots=True)
class PipeNode(Node):
    line: int
    is_assign: bool
    decls: list[VariableNode]
    cmds: list[CommandNode]

    def __str__(self) -> str:
        text = ""
        if self.decls:
            text = ", ".join(str(decl) for decl in self.decls)
            text += " = " if self.is_assign else " := "
        return text + " | ".join(str(cmd) for cmd in self.cmds)


# Statement nodes ----------------------------------------------------------------------------


@dataclasses.dataclass(eq=False, slots=True)
class ActionNode(Node):
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclasses.dataclass(eq=False, slots=True)
class BranchNode(Node):
    line: int
    pipe: PipeNode
    body: ListNode
    else_body: ListNode | None
    keyword: str = ""

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            text += "{{else}}" + str(self.else_body)
        return text + "{{end}}"


@dataclasses.dataclass(eq=False, slots=True)
class IfNode(BranchNode):
    pass


@dataclasses.dataclass(eq=False, slots=True)
class RangeNode(BranchNode):
    pass


@dataclasses.dataclass(eq=False, slots=True)
class WithNode(BranchNode):
    pass


@dataclasses.dataclass(eq=False, slots=True)
class TemplateNode(Node):
    line: int
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        from notify.template.lexer import go_quote

        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + str(self.pipe) + "}}"


@dataclasses.dataclass(eq=False, slots=True)
class BreakNode(Node):
    line: int

    def __str__(self) -> str:
        return "{{break}}"


@dataclasses.dataclass(eq=False, slots=True)
class ContinueNode(Node):
    line: int

    def __str__(self) -> str:
        return "{{continue}}"


# Markers returned by the item-list parser; never part of a finished tree.
@dataclasses.dataclass(eq=False, slots=True)
class EndNode(Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclasses.dataclass(eq=False, slots=True)
class ElseNode(Node):
    line: int

    def __str__(self) -> str:
        return "{{else}}"


def is_empty_tree(node: Node | None) -> bool:
    """Go's IsEmptyTree: only whitespace text and comments. Such a define never replaces another."""
    if node is None or isinstance(node, CommentNode):
        return True
    if isinstance(node, ListNode):
        return all(is_empty_tree(child) for child in node.nodes)
    if isinstance(node, TextNode):
        return node.text.strip(" \t\r\n\v\f\x85\xa0") == ""
    return False
