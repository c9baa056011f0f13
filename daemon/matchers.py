"""Label matchers as Alertmanager 0.25 parses, evaluates and prints them.

Regular expressions use RE2 (linear time: a hostile pattern in a silence cannot stall the
daemon) and are fully anchored, `^(?:value)$`, as Go's labels.Matcher does.
"""

from __future__ import annotations

import dataclasses
import enum


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class MatcherError(ValueError):
    """A matcher that cannot be parsed or compiled; the message is Alertmanager's."""


@dataclasses.dataclass(frozen=True)
class Matcher:
    name: str
    type: MatchType
    value: str
