"""Alertmanager-compatible notification templates: Go's text/template language in Python.

Owns: the lexer/parser/evaluator for Go templates (`parser`, `evaluator`, `gofmt` for Go's
fmt verbs, `functions`), html/template-style contextual escaping (`html`, with the
pre-execution checks in `escapecheck`), Alertmanager's template data (`data`: Data, Alert,
KV with SortedPairs/Remove, built from notify.model alerts) and our own
`default.tmpl`/`email.tmpl`, which define every name Alertmanager's do and render the same
text.

Execution has two engines with one behaviour: `compiler` (with `expressions`) turns each
template into generated Python code, escaping for HTML contexts decided at compile time as
Go does; it runs every successful render. The `evaluator` interprets the tree; it reruns a
render the compiled code hands back (errors, limits) and words the error as Go does.

Imports only the standard library, google-re2 (Go's regexp syntax) and `notify.model`.

Receivers use `Templates.with_defaults(config_globs)`, then `execute_text(text, data)` /
`execute_html(text, data)` with `build_template_data(...)`; every failure is a TemplateError.
"""

from notify.template.data import KV as KV
from notify.template.data import TemplateData as TemplateData
from notify.template.data import build_template_data as build_template_data
from notify.template.errors import TemplateError as TemplateError
from notify.template.errors import TemplateExecError as TemplateExecError
from notify.template.errors import TemplateParseError as TemplateParseError
from notify.template.templates import Templates as Templates

__all__ = [
    "KV",
    "TemplateData",
    "TemplateError",
    "TemplateExecError",
    "TemplateParseError",
    "Templates",
    "build_template_data",
]
