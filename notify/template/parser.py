"""Recursive-descent parser for Go's text/template language.

`parse(name, text, functions)` returns every tree the text defines: the top-level body under
`name` plus one per `define`/`block`. Errors read like Go's: `template: NAME:LINE: message`.
"""

from __future__ import annotations

import re
from collections.abc import Container

from notify.template import nodes as n
from notify.template.errors import TemplateParseError
from notify.template.lexer import Kind, Lexer, Token, go_quote

# Nesting bound for parenthesised pipelines and control structures, so hostile input cannot
# exhaust Python's recursion limit (Go has no such limit, but real templates nest a handful).
MAX_NESTING_DEPTH = 100

_OCTAL_LEGACY = re.compile(r"[+-]?0[0-7_]+")
_GO_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}
_MAX_RUNE = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


class _Syntax(Exception):
    """strconv's ErrSyntax: reported as `invalid syntax`."""


def unquote(quoted: str) -> str:
    """strconv.Unquote for "..." `...` and '...' literals."""
    if len(quoted) < 2 or quoted[0] != quoted[-1]:
        raise _Syntax
    quote, body = quoted[0], quoted[1:-1]
    if quote == "`":
        if "`" in body:
            raise _Syntax
        return body.replace("\r", "")
    if quote not in "\"'":
        raise _Syntax
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == quote or char == "\n":
            raise _Syntax
        if char != "\\":
            out.append(char)
            index += 1
            continue
        index += 1
        if index >= len(body):
            raise _Syntax
        escape = body[index]
        index += 1
        if escape in _GO_ESCAPES:
            if (escape == "'" and quote == '"') or (escape == '"' and quote == "'"):
                raise _Syntax
            out.append(_GO_ESCAPES[escape])
        elif escape in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[escape]
            digits = body[index : index + width]
            if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise _Syntax
            index += width
            value = int(digits, 16)
            if escape == "x":
                # A \x escape is one byte; only ASCII is representable in a Python str.
                out.append(chr(value) if value < 0x80 else bytes([value]).decode("latin-1"))
            else:
                if value > _MAX_RUNE or value in _SURROGATES:
                    raise _Syntax
                out.append(chr(value))
        elif escape in "01234567":
            digits = body[index - 1 : index + 2]
            if len(digits) != 3 or any(c not in "01234567" for c in digits):
                raise _Syntax
            value = int(digits, 8)
            if value > 0xFF:
                raise _Syntax
            index += 2
            out.append(chr(value))
        else:
            raise _Syntax
    result = "".join(out)
    if quote == "'" and len(result) != 1:
        raise _Syntax
    return result


def _parse_go_int(text: str) -> int | None:
    cleaned = text
    if _OCTAL_LEGACY.fullmatch(cleaned):
        sign = -1 if cleaned.startswith("-") else 1
        digits = cleaned.lstrip("+-")[1:]
        if digits.startswith("_") or digits.endswith("_") or "__" in digits:
            return None
        return sign * int(digits.replace("_", ""), 8)
    try:
        return int(cleaned, 0)
    except ValueError:
        return None


def _parse_go_float(text: str) -> float | None:
    cleaned = text.replace("_", "")
    lowered = cleaned.lower()
    try:
        if lowered.lstrip("+-").startswith("0x"):
            return float.fromhex(cleaned)
        if "0o" in lowered or "0b" in lowered or lowered.endswith("i"):
            return None
        number = float(cleaned)
        return None if number in (float("inf"), float("-inf")) else number
    except (ValueError, OverflowError):
        return None


INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


def make_number(pos: int, text: str, kind: Kind) -> n.NumberNode:
    """Classify a numeric literal the way Go's parse.NumberNode does."""
    node = n.NumberNode(pos, text)
    if kind is Kind.CHAR_CONSTANT:
        # Go reads one (possibly escaped) character; anything but the closing quote after it
        # is "malformed", a bad escape is a syntax error.
        width = 1
        if text[1:2] == "\\":
            width = 2 + {"x": 2, "u": 4, "U": 8}.get(text[2:3], 2 if text[2:3] in "01234567" else 0)
        try:
            rune = unquote("'" + text[1 : 1 + width] + "'")
        except _Syntax:
            raise ValueError("invalid syntax") from None
        if text[1 + width :] != "'":
            raise ValueError(f"malformed character constant: {text}")
        node.is_char = node.is_int = node.is_uint = node.is_float = True
        node.int_value = ord(rune)
        node.float_value = float(node.int_value)
        return node
    if kind is Kind.COMPLEX or text.endswith("i"):
        node.is_complex = True
        return node
    value = _parse_go_int(text)
    if value is not None and 0 <= value <= UINT64_MAX:
        node.is_uint = True
    if value is not None and INT64_MIN <= value <= INT64_MAX:
        node.is_int = True
        node.int_value = value
    if node.is_int or node.is_uint:
        node.is_float = True
        node.float_value = float(value) if value is not None else 0.0
        if not node.is_int:
            node.int_value = value or 0
    else:
        number = _parse_go_float(text)
        if number is not None:
            if not any(c in text for c in ".eEpP"):
                raise ValueError(f"integer overflow: {go_quote(text)}")
            node.is_float = True
            node.float_value = number
            if number == number and abs(number) != float("inf") and number == int(number):
                as_int = int(number)
                if INT64_MIN <= as_int <= INT64_MAX:
                    node.is_int = True
                    node.int_value = as_int
                if 0 <= as_int <= UINT64_MAX:
                    node.is_uint = True
    if not (node.is_int or node.is_uint or node.is_float):
        raise ValueError(f"illegal number syntax: {go_quote(text)}")
    return node


class _Parser:
    def __init__(
        self, name: str, text: str, functions: Container[str], trees: dict[str, n.Tree], lexer: Lexer
    ) -> None:
        self.parse_name = name
        self.text = text
        self.functions = functions
        self.trees = trees
        self.lexer = lexer
        self.tokens = lexer.tokenize()
        self.index = 0
        self.current: Token = self.tokens[0]
        self.variables: list[str] = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.depth = 0

    # Token cursor ---------------------------------------------------------------------------

    def next(self) -> Token:
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.index += 1
        self.current = token
        return token

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> Token:
        return self.tokens[min(self.index, len(self.tokens) - 1)]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind is Kind.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    # Errors ---------------------------------------------------------------------------------

    def error(self, message: str) -> TemplateParseError:
        return TemplateParseError(f"template: {self.parse_name}:{self.current.line}: {message}")

    def unexpected(self, token: Token, context: str) -> TemplateParseError:
        if token.kind is Kind.ERROR:
            extra = ""
            if self.action_line and self.action_line != token.line:
                extra = f" in action started at {self.parse_name}:{self.action_line}"
                if token.value.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.error(f"{token.describe()}{extra}")
        return self.error(f"unexpected {token.describe()} in {context}")

    def expect(self, kind: Kind, context: str) -> Token:
        token = self.next_non_space()
        if token.kind is not kind:
            raise self.unexpected(token, context)
        return token

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise self.error(f"template nesting deeper than {MAX_NESTING_DEPTH}")

    # Grammar --------------------------------------------------------------------------------

    def add_tree(self, name: str, root: n.ListNode) -> None:
        existing = self.trees.get(name)
        if existing is None or n.is_empty_tree(existing.root):
            self.trees[name] = n.Tree(name, self.parse_name, self.text, root)
            return
        if not n.is_empty_tree(root):
            raise self.error(f"template: multiple definition of template {go_quote(name)}")

    def parse_top(self) -> None:
        root = n.ListNode(self.peek().pos, [])
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT_DELIM:
                start = self.index
                self.next()
                if self.next_non_space().kind is Kind.DEFINE:
                    self.parse_definition()
                    continue
                self.index = start
            node = self.text_or_action()
            if isinstance(node, (n.EndNode, n.ElseNode)):
                raise self.error(f"unexpected {node}")
            root.nodes.append(node)
        self.add_tree(self.parse_name, root)

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self.unexpected(token, context)
        name = self.unquote(token.value)
        self.expect(Kind.RIGHT_DELIM, context)
        saved_variables = self.variables
        self.variables = ["$"]
        body, end = self.item_list()
        self.variables = saved_variables
        if not isinstance(end, n.EndNode):
            raise self.error(f"unexpected {end} in {context}")
        self.add_tree(name, body)

    def unquote(self, quoted: str) -> str:
        try:
            return unquote(quoted)
        except _Syntax:
            raise self.error("invalid syntax") from None

    def item_list(self) -> tuple[n.ListNode, n.Node]:
        body = n.ListNode(self.peek_non_space().pos, [])
        while self.peek_non_space().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, (n.EndNode, n.ElseNode)):
                return body, node
            body.nodes.append(node)
        raise self.error("unexpected EOF")

    def text_or_action(self) -> n.Node:
        token = self.next_non_space()
        if token.kind is Kind.TEXT:
            return n.TextNode(token.pos, token.value)
        if token.kind is Kind.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(token, "input")

    def action(self) -> n.Node:
        token = self.next_non_space()
        kind = token.kind
        if kind is Kind.BLOCK:
            return self.block_control()
        if kind is Kind.BREAK or kind is Kind.CONTINUE:
            word = token.value
            following = self.next_non_space()
            if following.kind is not Kind.RIGHT_DELIM:
                raise self.unexpected(following, "{{" + word + "}}")
            if self.range_depth == 0:
                raise self.error("{{" + word + "}} outside {{range}}")
            if kind is Kind.BREAK:
                return n.BreakNode(token.pos, token.line)
            return n.ContinueNode(token.pos, token.line)
        if kind is Kind.ELSE:
            following = self.peek_non_space()
            if following.kind is Kind.IF:
                return n.ElseNode(following.pos, following.line)
            end = self.expect(Kind.RIGHT_DELIM, "else")
            return n.ElseNode(end.pos, end.line)
        if kind is Kind.END:
            return n.EndNode(self.expect(Kind.RIGHT_DELIM, "end").pos)
        if kind is Kind.IF:
            return self.control(n.IfNode, "if", allow_else_if=True)
        if kind is Kind.RANGE:
            return self.control(n.RangeNode, "range", allow_else_if=False)
        if kind is Kind.WITH:
            return self.control(n.WithNode, "with", allow_else_if=False)
        if kind is Kind.TEMPLATE:
            return self.template_control()
        self.backup()
        start = self.peek()
        return n.ActionNode(start.pos, start.line, self.pipeline("command", Kind.RIGHT_DELIM))

    def control(self, node_type: type[n.BranchNode], context: str, allow_else_if: bool) -> n.Node:
        self.enter()
        variable_count = len(self.variables)
        pipe = self.pipeline(context, Kind.RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        body, next_node = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body: n.ListNode | None = None
        if isinstance(next_node, n.ElseNode):
            if allow_else_if and self.peek().kind is Kind.IF:
                self.next()
                else_body = n.ListNode(next_node.pos, [self.control(n.IfNode, "if", allow_else_if=True)])
            else:
                else_body, next_node = self.item_list()
                if not isinstance(next_node, n.EndNode):
                    raise self.error(f"expected end; found {next_node}")
        del self.variables[variable_count:]
        self.depth -= 1
        return node_type(pipe.pos, pipe.line, pipe, body, else_body, context)

    def template_name(self, token: Token, context: str) -> str:
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self.unexpected(token, context)
        return self.unquote(token.value)

    def template_control(self) -> n.Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe: n.PipeNode | None = None
        if self.next_non_space().kind is not Kind.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, Kind.RIGHT_DELIM)
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def block_control(self) -> n.Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, Kind.RIGHT_DELIM)
        saved = (self.variables, self.range_depth)
        self.variables, self.range_depth = ["$"], 0
        self.enter()
        body, end = self.item_list()
        self.depth -= 1
        self.variables, self.range_depth = saved
        if not isinstance(end, n.EndNode):
            raise self.error(f"unexpected {end} in {context}")
        self.add_tree(name, body)
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def pipeline(self, context: str, end: Kind) -> n.PipeNode:
        start = self.peek_non_space()
        pipe = n.PipeNode(start.pos, start.line, False, [], [])
        while True:
            variable = self.peek_non_space()
            if variable.kind is not Kind.VARIABLE:
                break
            before_variable = self.index
            self.next_non_space()
            following = self.peek_non_space()
            if following.kind in (Kind.ASSIGN, Kind.DECLARE):
                pipe.is_assign = following.kind is Kind.ASSIGN
                self.next_non_space()
                pipe.decls.append(n.VariableNode(variable.pos, [variable.value]))
                self.variables.append(variable.value)
                break
            if following.kind is Kind.CHAR and following.value == ",":
                self.next_non_space()
                pipe.decls.append(n.VariableNode(variable.pos, [variable.value]))
                self.variables.append(variable.value)
                if context == "range" and len(pipe.decls) < 2:
                    if self.peek_non_space().kind in (Kind.VARIABLE, Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            # Not a declaration: the variable is the first operand.
            self.index = before_variable
            break
        while True:
            token = self.next_non_space()
            if token.kind is end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.kind in (
                Kind.BOOL,
                Kind.CHAR_CONSTANT,
                Kind.COMPLEX,
                Kind.DOT,
                Kind.FIELD,
                Kind.IDENTIFIER,
                Kind.NUMBER,
                Kind.NIL,
                Kind.RAW_STRING,
                Kind.STRING,
                Kind.VARIABLE,
                Kind.LEFT_PAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def check_pipeline(self, pipe: n.PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.error(f"missing value for {context}")
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], (n.BoolNode, n.DotNode, n.NilNode, n.NumberNode, n.StringNode)):
                raise self.error(f"non executable command in pipeline stage {stage}")

    def command(self) -> n.CommandNode:
        cmd = n.CommandNode(self.peek_non_space().pos, [])
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.kind is Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                self.backup()
            elif token.kind is not Kind.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> n.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind is Kind.FIELD:
            fields: list[str] = []
            chain_pos = self.peek().pos
            while self.peek().kind is Kind.FIELD:
                fields.append(self.next().value[1:])
            if isinstance(node, n.FieldNode):
                return n.FieldNode(chain_pos, node.idents + fields)
            if isinstance(node, n.VariableNode):
                return n.VariableNode(chain_pos, node.idents + fields)
            if isinstance(node, (n.BoolNode, n.StringNode, n.NumberNode, n.NilNode, n.DotNode)):
                raise self.error(f"unexpected . after term {go_quote(str(node))}")
            return n.ChainNode(chain_pos, node, fields)
        return node

    def term(self) -> n.Node | None:
        token = self.next_non_space()
        kind = token.kind
        if kind is Kind.IDENTIFIER:
            if token.value not in self.functions:
                raise self.error(f"function {go_quote(token.value)} not defined")
            return n.IdentifierNode(token.pos, token.value)
        if kind is Kind.DOT:
            return n.DotNode(token.pos)
        if kind is Kind.NIL:
            return n.NilNode(token.pos)
        if kind is Kind.VARIABLE:
            return self.use_variable(token)
        if kind is Kind.FIELD:
            return n.FieldNode(token.pos, [token.value[1:]])
        if kind is Kind.BOOL:
            return n.BoolNode(token.pos, token.value == "true")
        if kind in (Kind.CHAR_CONSTANT, Kind.COMPLEX, Kind.NUMBER):
            try:
                return make_number(token.pos, token.value, kind)
            except ValueError as error:
                raise self.error(str(error)) from None
        if kind is Kind.LEFT_PAREN:
            self.enter()
            pipe = self.pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
            self.depth -= 1
            return pipe
        if kind in (Kind.STRING, Kind.RAW_STRING):
            return n.StringNode(token.pos, token.value, self.unquote(token.value))
        self.backup()
        return None

    def use_variable(self, token: Token) -> n.VariableNode:
        idents = token.value.split(".")
        if idents[0] not in self.variables:
            raise self.error(f"undefined variable {go_quote(idents[0])}")
        return n.VariableNode(token.pos, idents)


def parse(
    name: str, text: str, functions: Container[str], trees: dict[str, n.Tree] | None = None
) -> dict[str, n.Tree]:
    """Parse `text`; return the trees it defines (the body under `name`, plus each define).

    `trees` holds definitions already parsed in the same call (Go's treeSet); a non-empty
    redefinition within it is an error.
    """
    lexer = Lexer(text, break_ok="break" not in functions, continue_ok="continue" not in functions)
    found: dict[str, n.Tree] = {} if trees is None else trees
    parser = _Parser(name, text, functions, found, lexer)
    try:
        parser.parse_top()
    except RecursionError:
        raise parser.error("template too deeply nested") from None
    return found
