"""Placeholder; replaced below."""
from notify.template.evaluator import Writer


class HTMLWriter(Writer):
    pass
