"""The one exception type the template engine lets escape.

TemplateError            anything wrong with a template; the message is Go's text
 ├── TemplateParseError  `template: NAME:LINE: ...` (lexing, parsing, undefined names)
 └── TemplateExecError   `template: NAME:LINE:COL: executing "NAME" at <NODE>: ...`,
                         including the output and step limits
"""

from __future__ import annotations


class TemplateError(Exception):
    """A template could not be parsed or executed; `str()` is the user-facing message."""


class TemplateParseError(TemplateError):
    pass


class TemplateExecError(TemplateError):
    pass
