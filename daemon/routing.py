"""The routing tree: which receivers (and with which timers) an alert goes to.

Theory of operation, as Alertmanager 0.25 does it (reference §3.3):
- Each node's options start as a copy of its parent's (the root's parent is
  `DEFAULT_ROUTE_OPTS`) and are overridden by what the node sets. Receiver, grouping and the
  three timers inherit; mute/active time intervals and `continue` do not.
- `group_by: [a, b]` replaces the parent's grouping and turns off `...`; `group_by: ['...']`
  turns on group-by-all; an empty or missing `group_by` inherits.
- `match()` searches depth-first, left to right. The first child that matches ends the scan
  unless it has `continue`. A node none of whose children match is itself the match.
- Keys are part of the HA wire format (the nflog is keyed by group key), so `Route.key` and
  `group_key` must be byte-identical to Alertmanager's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import timedelta

from daemon.config.model import RouteConfig
from daemon.matchers import Matcher, MatchType, format_label_set, format_matchers

GROUP_BY_ALL = "..."

# Go's labels.MatchType enum order; matchers sort by (name, value, type).
_MATCH_TYPE_ORDER = {
    MatchType.EQUAL: 0,
    MatchType.NOT_EQUAL: 1,
    MatchType.REGEX: 2,
    MatchType.NOT_REGEX: 3,
}


@dataclasses.dataclass(frozen=True, slots=True)
class RouteOpts:
    """The options an alert matched to a route is handled with."""

    receiver: str
    group_by: frozenset[str]
    group_by_all: bool
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()


DEFAULT_ROUTE_OPTS = RouteOpts(
    receiver="",
    group_by=frozenset(),
    group_by_all=False,
    group_wait=timedelta(seconds=30),
    group_interval=timedelta(minutes=5),
    repeat_interval=timedelta(hours=4),
)


def _matcher_sort_key(matcher: Matcher) -> tuple[str, str, int]:
    return (matcher.name, matcher.value, _MATCH_TYPE_ORDER[matcher.type])


def _child_opts(parent: RouteOpts, config: RouteConfig) -> RouteOpts:
    receiver = config.receiver if config.receiver else parent.receiver
    group_by, group_by_all = parent.group_by, parent.group_by_all
    if config.group_by:
        names = [name for name in config.group_by if name != GROUP_BY_ALL]
        if names:
            group_by, group_by_all = frozenset(names), False
        elif GROUP_BY_ALL in config.group_by:
            # Like Alertmanager, `...` keeps the inherited names; they no longer matter.
            group_by_all = True
    return RouteOpts(
        receiver=receiver,
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait=config.group_wait if config.group_wait is not None else parent.group_wait,
        group_interval=(
            config.group_interval if config.group_interval is not None else parent.group_interval
        ),
        repeat_interval=(
            config.repeat_interval if config.repeat_interval is not None else parent.repeat_interval
        ),
        mute_time_intervals=tuple(config.mute_time_intervals),
        active_time_intervals=tuple(config.active_time_intervals),
    )


class Route:
    """One node of the routing tree, with its options already inherited."""

    __slots__ = ("_key", "continue_matching", "index", "matchers", "opts", "parent", "routes")

    def __init__(
        self,
        opts: RouteOpts,
        matchers: tuple[Matcher, ...] = (),
        continue_matching: bool = False,
        parent: Route | None = None,
    ) -> None:
        self.opts = opts
        self.matchers = tuple(sorted(matchers, key=_matcher_sort_key))
        self.continue_matching = continue_matching
        self.parent = parent
        self.routes: list[Route] = []
        # Depth-first position in the tree (root = 0); a stable id for the API and logs.
        self.index = 0
        own = format_matchers(self.matchers)
        self._key = f"{parent.key()}/{own}" if parent is not None else own

    @classmethod
    def from_config(cls, config: RouteConfig) -> Route:
        """Build the tree; `config` is the root route (validated by the config loader)."""
        root = cls._build(config, None)
        for position, route in enumerate(root.walk()):
            route.index = position
        return root

    @classmethod
    def _build(cls, config: RouteConfig, parent: Route | None) -> Route:
        parent_opts = parent.opts if parent is not None else DEFAULT_ROUTE_OPTS
        route = cls(
            _child_opts(parent_opts, config),
            tuple(config.matchers),
            config.continue_matching,
            parent,
        )
        route.routes = [cls._build(child, route) for child in config.routes]
        return route

    def key(self) -> str:
        """Parent key + `/` + this node's matchers, e.g. `{}/{severity="critical"}`.

        Like Alertmanager's, it does not identify a route uniquely (siblings may share it)."""
        return self._key

    def matches(self, labels: Mapping[str, str]) -> bool:
        """This node's own matchers (a missing label matches as the empty string)."""
        for matcher in self.matchers:
            if not matcher.matches(labels.get(matcher.name, "")):
                return False
        return True

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """All routes the alert with these labels is handled by (empty when the root
        itself does not match)."""
        if not self.matches(labels):
            return []
        matched: list[Route] = []
        for child in self.routes:
            child_matches = child.match(labels)
            matched.extend(child_matches)
            if child_matches and not child.continue_matching:
                break
        if not matched:
            matched.append(self)
        return matched

    def walk(self) -> Iterator[Route]:
        """This node and all below it, depth-first, in config order."""
        yield self
        for child in self.routes:
            yield from child.walk()

    def group_labels(self, alert_labels: Mapping[str, str]) -> dict[str, str]:
        """The alert's values for this route's `group_by` labels (all labels with `...`)."""
        if self.opts.group_by_all:
            return dict(alert_labels)
        return {name: alert_labels[name] for name in self.opts.group_by if name in alert_labels}

    def __repr__(self) -> str:
        return f"Route(index={self.index}, key={self._key!r}, receiver={self.opts.receiver!r})"


def group_key(route: Route, group_labels: Mapping[str, str]) -> str:
    """Alertmanager's aggregation-group key, e.g. `{}/{team="a"}:{alertname="A"}`."""
    return f"{route.key()}:{format_label_set(group_labels)}"


__all__ = [
    "DEFAULT_ROUTE_OPTS",
    "GROUP_BY_ALL",
    "Route",
    "RouteOpts",
    "group_key",
]
