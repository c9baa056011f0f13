"""The `Templates` object receivers use: defaults, user files, and text/HTML execution.

Like Alertmanager's template.FromGlobs: the built-in default.tmpl and email.tmpl are parsed
first, then each user glob in order; a later definition replaces an earlier one of the same
name (unless it is empty). `execute_text(text, data)` parses `text` as a fresh template that
can call every defined name, and renders it; an empty text renders "" without parsing.
"""

from __future__ import annotations

import collections
import glob
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from notify.template import nodes as n
from notify.template.compiler import Compiler, Statement, run_program
from notify.template.errors import TemplateError, TemplateExecError
from notify.template.evaluator import DEFAULT_MAX_OUTPUT_CHARS, DEFAULT_MAX_STEPS, Evaluator, Writer
from notify.template.expressions import CompiledEvaluator
from notify.template.functions import DEFAULT_FUNCTIONS, Function
from notify.template.parser import parse

DEFAULT_TEMPLATE_FILES = ("default.tmpl", "email.tmpl")
# Receivers render the same few dozen configured strings over and over; parsing each once is
# most of the speed-up. The bound keeps memory flat if texts are generated.
MAX_CACHED_TEXTS = 512


def _html_writer(max_chars: int) -> Writer:
    from notify.template.html import HTMLWriter

    return HTMLWriter(max_chars)


class Templates:
    def __init__(
        self,
        functions: Mapping[str, Function] | None = None,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        max_steps: int = DEFAULT_MAX_STEPS,
        compiled: bool = True,
    ) -> None:
        """`compiled=False` always interprets (the reference the compiled code is tested against)."""
        self.functions: Mapping[str, Function] = functions or DEFAULT_FUNCTIONS
        self.trees: dict[str, n.Tree] = {}
        self.max_output_chars = max_output_chars
        self.max_steps = max_steps
        self._parsed: collections.OrderedDict[str, tuple[n.Tree, dict[str, n.Tree]]] = (
            collections.OrderedDict()
        )
        self._html_verdicts: dict[n.Tree, str | None] = {}
        # Compiled bodies per (top template, HTML?); None: left to the interpreter. Compilers
        # per (template set, HTML?) share the compiled called templates.
        self._programs: dict[tuple[n.Tree, bool], Statement | None] = {}
        self._compilers: dict[tuple[int, bool], tuple[Mapping[str, n.Tree], Compiler]] = {}
        # Renders the compiled code handed back to the interpreter (errors, limits).
        self.fallbacks = 0
        self.compiled = compiled

    @classmethod
    def with_defaults(cls, user_globs: Iterable[str] = (), **options: Any) -> Templates:
        templates = cls(**options)
        templates.load_defaults()
        for pattern in user_globs:
            templates.load_glob(pattern)
        return templates

    def load_defaults(self) -> None:
        package = resources.files("notify.template")
        for file_name in DEFAULT_TEMPLATE_FILES:
            self.add_text(file_name, package.joinpath(file_name).read_text(encoding="utf-8"))

    def load_glob(self, pattern: str) -> list[str]:
        """Parse every file the glob matches (sorted, as Go's filepath.Glob); none is fine."""
        paths = sorted(glob.glob(pattern))
        for path in paths:
            with open(path, encoding="utf-8", errors="replace") as handle:
                self.add_text(os.path.basename(path), handle.read())
        return paths

    def add_text(self, name: str, text: str) -> None:
        """Parse one file's text and add its definitions (Go's Template.Parse)."""
        for tree_name, tree in parse(name, text, self.functions).items():
            self._associate(self.trees, tree_name, tree)
        self._parsed.clear()
        self._html_verdicts.clear()
        self._programs.clear()
        self._compilers.clear()

    @staticmethod
    def _associate(trees: dict[str, n.Tree], name: str, tree: n.Tree) -> None:
        existing = trees.get(name)
        if existing is not None and n.is_empty_tree(tree.root):
            return
        trees[name] = tree

    def _prepare(self, text: str) -> tuple[n.Tree, Mapping[str, n.Tree]]:
        cached = self._parsed.get(text)
        if cached is not None:
            self._parsed.move_to_end(text)
            return cached
        parsed = parse("", text, self.functions)
        top = parsed.pop("")
        trees = self.trees
        if parsed:
            trees = dict(self.trees)
            for name, tree in parsed.items():
                self._associate(trees, name, tree)
        self._parsed[text] = (top, trees)
        if len(self._parsed) > MAX_CACHED_TEXTS:
            self._parsed.popitem(last=False)
        return top, trees

    def _execute(self, text: str, data: Any, html: bool) -> str:
        if text == "":
            return ""
        top, trees = self._prepare(text)
        return self._run(top, trees, data, html)

    def _run(self, top: n.Tree, trees: Mapping[str, n.Tree], data: Any, html: bool) -> str:
        if html:
            self._check_html(top, trees)
        program = self._program(top, trees, html) if self.compiled else None
        if program is not None:
            evaluator = CompiledEvaluator(trees, self.functions, self.max_output_chars, self.max_steps)
            try:
                return run_program(program, evaluator, data)
            except Exception:
                # Errors and limits are reported by the interpreter, exactly as Go words them.
                self.fallbacks += 1
        return self._interpret(top, trees, data, html)

    def _program(self, top: n.Tree, trees: Mapping[str, n.Tree], html: bool) -> Statement | None:
        key = (top, html)
        if key in self._programs:
            return self._programs[key]
        compiler_key = (id(trees), html)
        known = self._compilers.get(compiler_key)
        if known is None or known[0] is not trees:
            if len(self._compilers) >= MAX_CACHED_TEXTS:
                self._compilers.clear()
            known = self._compilers[compiler_key] = (trees, Compiler(trees, self.functions, html))
        if len(self._programs) >= MAX_CACHED_TEXTS:
            self._programs.clear()
        program = self._programs[key] = known[1].program(top)
        return program

    def _interpret(self, top: n.Tree, trees: Mapping[str, n.Tree], data: Any, html: bool) -> str:
        writer: Writer
        if html:
            writer = _html_writer(self.max_output_chars)
        else:
            writer = Writer(self.max_output_chars)
        return Evaluator(trees, self.functions, writer, self.max_steps).execute(top, data)

    def _check_html(self, top: n.Tree, trees: Mapping[str, n.Tree]) -> None:
        """html/template's pre-execution checks, once per parsed template."""
        from notify.template.escapecheck import check_html_template

        if top not in self._html_verdicts:
            if len(self._html_verdicts) >= MAX_CACHED_TEXTS:
                self._html_verdicts.clear()
            self._html_verdicts[top] = check_html_template(top, trees)
        verdict = self._html_verdicts[top]
        if verdict is not None:
            raise TemplateExecError(verdict)

    def execute_text(self, text: str, data: Any) -> str:
        return self._execute(text, data, html=False)

    def execute_html(self, text: str, data: Any) -> str:
        return self._execute(text, data, html=True)

    def execute_template(self, name: str, data: Any, html: bool = False) -> str:
        """Render one defined template by name."""
        tree = self.trees.get(name)
        if tree is None:
            raise TemplateError(f'template: no template "{name}" associated with template ""')
        return self._run(tree, self.trees, data, html)

    def defined_names(self) -> list[str]:
        return sorted(self.trees)
