"""Silences: pure state with Alertmanager 0.25's semantics, an index for muting, and merges.

Everything here is a function of the `now` it is given; nothing reads a clock or does I/O.
Durability and gossip hang off listeners (`Silences.add_listener`): every accepted change,
local or merged, is handed to them as a `SilenceChange`, which the composition root appends
to the durable log (`daemon.storage`) and broadcasts to peers.

Theory of operation
- `set` follows Alertmanager's `Silences.Set`: an unknown ID is `SilenceNotFound`; a known
  silence is updated in place when `can_update` allows it, otherwise the old one is expired
  (unless it already is) and a new silence with a fresh UUIDv4 is created from the request,
  its start clamped to now. Validation happens when a silence is stored, so (as in
  Alertmanager) a request with broken matchers that names an existing silence still expires
  that silence before it is rejected.
- States: pending (now < start), active (start <= now <= end), expired (now > end). The API's
  status field uses Alertmanager's `CalcSilenceState`, for which now == end is expired.
- Muting never scans every silence: each silence is filed in an index under its "anchor"
  matchers, an equality matcher with a non-empty value or a regex that is a plain
  alternation of literals (`a|b|c`), because an alert can only match it if it carries that
  exact label value; failing those, a regex's leading literal run (`host-1:.*` under the
  prefix `host-1:`), looked up by the alert value's prefix of that length. A silence with
  single-value anchors on two labels is filed under the pair (only alerts carrying both
  values are candidates), others under their most selective anchor. Silences with no
  anchor (only `!=`, `!~`, regexes with no literal prefix or `=""`) are kept in a short list
  that is always checked.
- `AlertSilenceTable` keeps, per stored alert, the indexed silences matching it, updated
  when either side changes, so listing every alert's status costs no matching at all.
- Merges are last-writer-wins on `updated_at`, as Alertmanager does; entries whose expiry is
  in the past are ignored. Deliberate improvement: when two different versions carry the
  same `updated_at`, the one with the greater canonical encoding wins on every replica, so
  merging is commutative (Alertmanager keeps whichever it saw first, so replicas can differ).
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import functools
import os
import random
import re
import threading
import uuid
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import msgpack
import re2

from daemon.marker import STATE_UNPROCESSED
from daemon.matchers import (
    Matcher,
    MatcherError,
    MatchType,
    _go_regex_error,
    _syntax_go_rejects,
    compile_anchored,
    go_quote,
    is_valid_label_name,
)
from notify.model import fingerprint, is_zero_time

# Alertmanager's --data.retention default: silences are kept this long after they end.
DEFAULT_RETENTION = timedelta(hours=120)

NOT_FOUND_MESSAGE = "silence not found"

# The latest moment Python can represent; expiries of far-future silences saturate here.
LATEST_EXPIRY = datetime.max.replace(tzinfo=UTC)

# The wire/proto numbering of matcher types (silencepb.Matcher_Type); also our on-disk codes,
# so a record can be converted to Alertmanager's MeshSilence without a table lookup.
MATCH_TYPE_CODES: dict[MatchType, int] = {
    MatchType.EQUAL: 0,
    MatchType.REGEX: 1,
    MatchType.NOT_EQUAL: 2,
    MatchType.NOT_REGEX: 3,
}
MATCH_TYPES_BY_CODE: dict[int, MatchType] = {code: kind for kind, code in MATCH_TYPE_CODES.items()}
# The operators as module constants: `MatchType.EQUAL` is an Enum class attribute lookup (about
# 70 ns in Python 3.11), which the per-matcher paths below would pay several times.
_EQUAL, _NOT_EQUAL, _REGEX, _NOT_REGEX = MatchType.EQUAL, MatchType.NOT_EQUAL, MatchType.REGEX, MatchType.NOT_REGEX
# The same codes by operator text: Enum members hash through a Python-level __hash__.
_MATCH_TYPE_CODES_BY_OPERATOR: dict[str, int] = {kind.value: code for kind, code in MATCH_TYPE_CODES.items()}

# Distinct regexes whose literal prefix is remembered for matching: bounded, so that a churn
# of silences cannot grow the memo without limit.
LITERAL_PREFIX_MEMO_SIZE = 65_536

# Characters that are literal in RE2 outside a character class; a regex made only of these
# and `|` is an alternation of literal strings, which the index can anchor on.
_LITERAL_REGEX_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:/ ,@%=<>!'\"~#&;")
_LITERAL_OR_ALTERNATION = _LITERAL_REGEX_CHARACTERS | {"|"}


class SilenceState(enum.Enum):
    ACTIVE = "active"
    PENDING = "pending"
    EXPIRED = "expired"


class SilenceError(Exception):
    """A silence operation that failed; `str(error)` is Alertmanager's message."""


class SilenceNotFound(SilenceError, LookupError):
    def __init__(self) -> None:
        super().__init__(NOT_FOUND_MESSAGE)


class SilenceInvalid(SilenceError, ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"silence invalid: {reason}")
        self.reason = reason


_new_object = object.__new__


class SilenceMatcher(Matcher):
    """A silence's matcher, whose regex is compiled on first use.

    Silences loaded from disk or merged from peers were validated where they were created,
    and compiling tens of thousands of RE2 patterns up front would dominate start-up (about
    70 µs each through the Python binding); most are never needed before the next restart."""

    def __post_init__(self) -> None:
        pass  # no eager compilation; see matches()

    @classmethod
    def of(cls, name: str, kind: MatchType, value: str) -> SilenceMatcher:
        """`SilenceMatcher(name, kind, value)`, built without the frozen dataclass __init__'s
        object.__setattr__ per field (0.43 -> 0.23 µs; every silence created or loaded
        builds its matchers)."""
        matcher = _new_object(cls)
        fields = matcher.__dict__
        fields["name"] = name
        fields["type"] = kind
        fields["value"] = value  # `_regex` reads the class default (None) until compiled
        return matcher

    def matches(self, value: str) -> bool:
        kind = self.type
        if kind is _EQUAL:
            return value == self.value
        if kind is _NOT_EQUAL:
            return value != self.value
        # Most candidates the index hands over differ from the regex in its literal prefix
        # (the same alertname, another host): a string comparison settles them without RE2.
        if not value.startswith(_memoised_literal_prefix(self.value)):
            return kind is not _REGEX
        regex = self._regex
        if regex is None:
            regex = compile_anchored(self.value)
            object.__setattr__(self, "_regex", regex)
        found = regex.search(value) is not None
        return found if kind is _REGEX else not found


@dataclasses.dataclass(frozen=True, slots=True)
class MatcherSpec:
    """A matcher as a client sent it, not yet validated or compiled."""

    name: str
    type: MatchType
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[SilenceMatcher, ...]
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime
    created_by: str = ""
    comment: str = ""

    def state_at(self, now: datetime) -> SilenceState:
        """The store's view (Alertmanager's getState): active up to and including `ends_at`."""
        if now < self.starts_at:
            return SilenceState.PENDING
        if now > self.ends_at:
            return SilenceState.EXPIRED
        return SilenceState.ACTIVE

    def api_state_at(self, now: datetime) -> SilenceState:
        """The API's view (Alertmanager's CalcSilenceState): expired from `ends_at` on."""
        if now < self.starts_at:
            return SilenceState.PENDING
        if now < self.ends_at:
            return SilenceState.ACTIVE
        return SilenceState.EXPIRED

    def matches(self, labels: Mapping[str, str]) -> bool:
        get = labels.get
        try:
            for matcher in self.matchers:
                if not matcher.matches(get(matcher.name, "")):
                    return False
            return True
        except MatcherError:
            # Only a peer's (unvalidated) silence can carry a broken regex; like Alertmanager's
            # failing matcher cache, it then silences nothing.
            return False

    def specs(self) -> tuple[MatcherSpec, ...]:
        return tuple(MatcherSpec(m.name, m.type, m.value) for m in self.matchers)


@dataclasses.dataclass(frozen=True, slots=True)
class SilenceRequest:
    """What a client asks `Silences.set` for: create (empty `id`) or update."""

    id: str
    matchers: tuple[MatcherSpec, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class SilenceChange:
    """One accepted change, for the durable log and for gossip."""

    silence: Silence
    expires_at: datetime
    local: bool  # made here (set/expire) rather than merged from a peer or the disk


SilenceListener = Callable[[SilenceChange], None]


# ---------------------------------------------------------------------------------------
# Validation (Alertmanager's validateSilence, in its order, with its messages)


def _quiet_re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # otherwise RE2 prints every bad user regex to stderr
    return options


_QUIET_RE2 = _quiet_re2_options()
# Go names the (empty) offending text of a trailing backslash; RE2 names none.
_TRAILING_BACKSLASH = "error parsing regexp: trailing backslash at end of expression"


# Patterns of literal characters, alternations and `.*` / `.+` wildcards (`host-1:.*`,
# `api|web`), up to this length, are valid in Go and RE2 alike: validating them needs no RE2
# compile (about 5 µs through the binding for a pattern not seen before). Longer ones still
# go to RE2, whose program size limit a long enough literal would reach.
MAX_PLAIN_REGEX_CHARACTERS = 256
_PLAIN_REGEX = re.compile("(?:[" + re.escape("".join(sorted(_LITERAL_OR_ALTERNATION))) + r"]|\.[*+])*")


def _regex_error(pattern: str) -> str | None:
    """Go's regexp.Compile error for the *unanchored* pattern, as silences report it."""
    if len(pattern) <= MAX_PLAIN_REGEX_CHARACTERS and _PLAIN_REGEX.fullmatch(pattern):
        return None
    try:
        re2.compile(pattern, options=_QUIET_RE2)
    except re2.error as error:
        message = _go_regex_error(error)
        return message + ": ``" if message == _TRAILING_BACKSLASH else message
    except UnicodeEncodeError:
        return "error parsing regexp: invalid UTF-8"
    rejection = _syntax_go_rejects(pattern)
    return None if rejection is None else f"error parsing regexp: {rejection}"


def _is_valid_label_value(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Label names found valid, so that a name repeated in silence after silence (alertname,
# instance) is checked by a set lookup instead of a regex match. Bounded: past it, new names
# are checked every time.
MAX_REMEMBERED_LABEL_NAMES = 1024
_valid_label_names: set[str] = set()


def _is_valid_label_name(name: str) -> bool:
    if name in _valid_label_names:
        return True
    if not is_valid_label_name(name):
        return False
    if len(_valid_label_names) < MAX_REMEMBERED_LABEL_NAMES:
        _valid_label_names.add(name)
    return True


def _matcher_spec_error(name: str, kind: MatchType, value: str) -> str | None:
    if not _is_valid_label_name(name):
        return f"invalid label name {go_quote(name)}"
    if kind in (MatchType.EQUAL, MatchType.NOT_EQUAL):
        if not _is_valid_label_value(value):
            return f"invalid label value {go_quote(value)}"
        return None
    error = _regex_error(value)
    if error is not None:
        return f"invalid regular expression {go_quote(value)}: {error}"
    return None


def _matches_empty(matcher: Matcher) -> bool:
    """Only `=` and `=~` count, as in Alertmanager (`!=""` is not considered)."""
    if matcher.type is MatchType.EQUAL:
        return matcher.value == ""
    if matcher.type is MatchType.REGEX:
        # Go's check is unanchored: any regex that matches somewhere in "" matches "".
        return re2.compile(matcher.value, options=_QUIET_RE2).search("") is not None
    return False


# A matcher as the API's create path hands it over: name, type, value (a MatcherSpec's
# fields, without building one).
MatcherParts = tuple[str, MatchType, str]


def build_matchers(specs: Sequence[MatcherSpec]) -> tuple[SilenceMatcher, ...]:
    """Validate and compile a silence's matchers; raises SilenceInvalid."""
    return build_matchers_from_parts([(spec.name, spec.type, spec.value) for spec in specs])


def build_matchers_from_parts(parts: Sequence[MatcherParts]) -> tuple[SilenceMatcher, ...]:
    """`build_matchers` of the matchers' (name, type, value)."""
    if not parts:
        raise SilenceInvalid("at least one matcher required")
    matchers: list[SilenceMatcher] = []
    # Whether some matcher is known not to match "" without compiling any regex for it.
    some_refuses_empty = False
    for index, (name, kind, value) in enumerate(parts):
        equality = kind is _EQUAL or kind is _NOT_EQUAL
        # The usual matcher (a valid name, an equality with an ASCII value) needs no more checks.
        if not (equality and value.isascii() and _is_valid_label_name(name)):
            error = _matcher_spec_error(name, kind, value)
            if error is not None:
                raise SilenceInvalid(f"invalid label matcher {index}: {error}")
        matcher = SilenceMatcher.of(name, kind, value)
        if not equality:
            try:  # compiled now: the anchored form can still fail where the bare one did not
                matcher.matches("")
            except MatcherError as failure:
                raise SilenceInvalid(f"invalid label matcher {index}: {failure}") from None
        if kind is _NOT_EQUAL or kind is _NOT_REGEX or (kind is _EQUAL and value):
            some_refuses_empty = True
        matchers.append(matcher)
    if not some_refuses_empty and all(_matches_empty(matcher) for matcher in matchers):
        raise SilenceInvalid("at least one matcher must not match the empty string")
    return tuple(matchers)


def validate_times(starts_at: datetime, ends_at: datetime, updated_at: datetime) -> None:
    if is_zero_time(starts_at):
        raise SilenceInvalid("invalid zero start timestamp")
    if is_zero_time(ends_at):
        raise SilenceInvalid("invalid zero end timestamp")
    if ends_at < starts_at:
        raise SilenceInvalid("end time must not be before start time")
    if is_zero_time(updated_at):
        raise SilenceInvalid("invalid zero update timestamp")


def can_update(existing: Silence, request: SilenceRequest, now: datetime) -> bool:
    """Whether `request` may overwrite `existing` in place without rewriting history."""
    if existing.specs() != request.matchers:
        return False
    state = existing.state_at(now)
    if state is SilenceState.ACTIVE:
        # Alertmanager compares Unix seconds: sub-second changes of the start are allowed.
        if _unix_seconds(request.starts_at) != _unix_seconds(existing.starts_at):
            return False
        return not request.ends_at < now
    if state is SilenceState.PENDING:
        return not request.starts_at < now
    return False


def _unix_seconds(moment: datetime) -> int:
    return int((moment - _EPOCH) // timedelta(seconds=1))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_silence_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# Random bytes fetched from the kernel per `os.urandom` call: 256 silence IDs per syscall
# instead of one `getrandom` per silence (about 5 µs each under a creation burst).
RANDOM_ID_BLOCK_BYTES = 4096
_UUID_BYTES = 16
# The RFC 4122 variant (binary 10xx) in the first hex digit of the fourth group, from that
# digit's random value: the two high bits forced to 10, the two low ones kept.
_VARIANT_DIGIT = {f"{digit:x}": f"{(digit & 0x3) | 0x8:x}" for digit in range(16)}


class BufferedUuid4Source:
    """Random (version 4) UUIDs drawn from a block of `os.urandom` bytes: the same
    cryptographically random source as `uuid.uuid4()`, the same text, fewer syscalls."""

    def __init__(self) -> None:
        self._block = b""
        self._offset = 0

    def __call__(self) -> str:
        offset = self._offset
        if offset + _UUID_BYTES > len(self._block):
            self._block = os.urandom(RANDOM_ID_BLOCK_BYTES)
            offset = 0
        self._offset = offset + _UUID_BYTES
        digits = self._block[offset : offset + _UUID_BYTES].hex()
        return (
            f"{digits[0:8]}-{digits[8:12]}-4{digits[13:16]}-"
            f"{_VARIANT_DIGIT[digits[16]]}{digits[17:20]}-{digits[20:32]}"
        )


# ---------------------------------------------------------------------------------------
# The index


# After a literal, these make it optional (`ab*`, `ab?`, `ab{0,1}`), so it is no part of a
# prefix every match must carry.
_OPTIONAL_QUANTIFIERS = frozenset("*?{")


def _literal_prefix(pattern: str) -> str:
    """A prefix that every value fully matching `pattern` starts with ("" if none is sure).

    Only for a pattern without `|` anywhere (so its top level is one concatenation): its
    leading run of literal characters is required, except a last one a quantifier makes
    optional."""
    if "|" in pattern:
        return ""
    end = _LITERAL_RUN.match(pattern).end()  # type: ignore[union-attr]  # `*` always matches
    if end < len(pattern) and pattern[end] in _OPTIONAL_QUANTIFIERS:
        end -= 1
    return pattern[:end]


_LITERAL_RUN = re.compile("[" + re.escape("".join(sorted(_LITERAL_REGEX_CHARACTERS))) + "]*")


@functools.lru_cache(maxsize=LITERAL_PREFIX_MEMO_SIZE)
def _memoised_literal_prefix(pattern: str) -> str:
    return _literal_prefix(pattern)


# Not frozen (nor the _Pair below): one is built per matcher of every silence filed, a frozen
# dataclass's __init__ goes through object.__setattr__ per field, and neither is ever hashed
# or changed after it is built.
@dataclasses.dataclass(slots=True)
class _Anchor:
    """Where a silence is filed: under exact label values, or under a value prefix."""

    name: str
    values: tuple[str, ...]
    is_prefix: bool = False


def _anchor(matcher: Matcher) -> _Anchor | None:
    """Label values (or one value prefix) an alert must carry for `matcher` to match."""
    kind = matcher.type
    if kind is _EQUAL:
        return _Anchor(matcher.name, (matcher.value,)) if matcher.value else None
    if kind is _REGEX and matcher.value:
        if _LITERAL_OR_ALTERNATION.issuperset(matcher.value):
            alternatives = tuple(matcher.value.split("|"))
            if any(alternative == "" for alternative in alternatives):
                return None
            return _Anchor(matcher.name, alternatives)
        # A regex such as `host-17:.*` or `web-[0-9]+`: filing it under its literal prefix
        # keeps a silence with only a general regex (or beside a common `alertname`) from
        # being a candidate for every alert.
        prefix = _memoised_literal_prefix(matcher.value)
        return _Anchor(matcher.name, (prefix,), is_prefix=True) if prefix else None
    return None


# Distinct label-name pairs (with their value kinds) the index files silences under; each
# one costs every lookup a dict probe, and real silences use a handful (alertname with
# instance, job or service). Past the bound, silences of new shapes are filed under one
# anchor, as before pairs existed.
MAX_PAIR_SHAPES = 32
# The prefix length of an anchor that is an exact value, in a pair's shape.
_EXACT = -1


@dataclasses.dataclass(slots=True)
class _Pair:
    """Where a silence with single-value anchors on two different labels is filed: under both
    values at once, so that only alerts carrying both are its candidates. The shape names
    the labels (ascending) and, for each, the prefix length or _EXACT; the key holds the
    values (or prefixes)."""

    shape: tuple[str, int, str, int]
    key: tuple[str, str]


def _pair_of(anchors: Sequence[_Anchor]) -> _Pair | None:
    """Two single-value anchors on different labels, exact values preferred, if any."""
    singles = [anchor for anchor in anchors if len(anchor.values) == 1]
    if len(singles) == 2:
        # The usual shape (alertname and one other label): the only candidate pair, so the
        # preference order below does not matter.
        first, second = singles
        if first.name == second.name:
            return None
        return _pair_from(first, second) if first.name < second.name else _pair_from(second, first)
    singles.sort(key=lambda a: (a.is_prefix, a.name))
    for position, first in enumerate(singles):
        for second in singles[position + 1 :]:
            if second.name == first.name:
                continue
            low, high = (first, second) if first.name < second.name else (second, first)
            return _pair_from(low, high)
    return None


def _pair_from(low: _Anchor, high: _Anchor) -> _Pair:
    """The pair of two single-value anchors, `low` the one with the smaller label name."""
    return _Pair(
        (
            low.name,
            len(low.values[0]) if low.is_prefix else _EXACT,
            high.name,
            len(high.values[0]) if high.is_prefix else _EXACT,
        ),
        (low.values[0], high.values[0]),
    )


class _SilenceIndex:
    """label name -> label value -> silence IDs; label name -> prefix length -> prefix ->
    silence IDs; pair shape -> pair of values -> silence IDs; plus the silences with no
    anchor.

    A silence with single-value anchors (an equality, or a regex with a literal prefix) on two
    labels is filed under the pair: `alertname="X", instance=~"host-1:.*"` is a candidate
    only for alerts carrying both, where filed under either anchor alone it would be one for
    every alert of the alertname or of the host. Other silences are filed under the one
    anchor whose buckets are smallest when they are added."""

    def __init__(self) -> None:
        self._by_label: dict[str, dict[str, set[str]]] = {}
        self._by_prefix: dict[str, dict[int, dict[str, set[str]]]] = {}
        self._by_pair: dict[tuple[str, int, str, int], dict[tuple[str, str], set[str]]] = {}
        self._unanchored: set[str] = set()
        self._filed_under: dict[str, _Anchor | _Pair | None] = {}

    def _buckets(self, anchor: _Anchor) -> dict[str, set[str]] | None:
        if anchor.is_prefix:
            return self._by_prefix.get(anchor.name, {}).get(len(anchor.values[0]))
        return self._by_label.get(anchor.name)

    def add(self, silence: Silence) -> bool:
        """File `silence` (replacing its previous version); True if one was filed before."""
        silence_id = silence.id
        replaced = silence_id in self._filed_under and self.remove(silence_id)
        anchors = [anchor for anchor in map(_anchor, silence.matchers) if anchor is not None]
        pair = _pair_of(anchors)
        if pair is not None:
            by_key = self._by_pair.get(pair.shape)
            if by_key is None and len(self._by_pair) < MAX_PAIR_SHAPES:
                by_key = self._by_pair[pair.shape] = {}
            if by_key is not None:
                self._filed_under[silence_id] = pair
                bucket = by_key.get(pair.key)
                if bucket is None:
                    by_key[pair.key] = {silence_id}
                else:
                    bucket.add(silence_id)
                return replaced
        best: _Anchor | None = None
        best_cost = 0
        for anchor in anchors:
            buckets = self._buckets(anchor) or {}
            # Prefer the anchor whose buckets are smallest now: fewer false candidates later.
            cost = sum(len(buckets.get(value, ())) + 1 for value in anchor.values)
            if best is None or cost < best_cost:
                best, best_cost = anchor, cost
        self._filed_under[silence.id] = best
        if best is None:
            self._unanchored.add(silence.id)
            return replaced
        if best.is_prefix:
            by_length = self._by_prefix.setdefault(best.name, {})
            buckets = by_length.setdefault(len(best.values[0]), {})
        else:
            buckets = self._by_label.setdefault(best.name, {})
        for value in best.values:
            buckets.setdefault(value, set()).add(silence.id)
        return replaced

    def remove(self, silence_id: str) -> bool:
        """Unfile a silence; False if it was not filed."""
        if silence_id not in self._filed_under:
            return False
        anchor = self._filed_under.pop(silence_id)
        if anchor is None:
            self._unanchored.discard(silence_id)
            return True
        if isinstance(anchor, _Pair):
            by_key = self._by_pair[anchor.shape]
            bucket = by_key[anchor.key]
            bucket.discard(silence_id)
            if not bucket:
                del by_key[anchor.key]
                if not by_key:
                    del self._by_pair[anchor.shape]
            return True
        buckets = self._buckets(anchor)
        assert buckets is not None, "a filed silence has its buckets"
        for value in anchor.values:
            bucket = buckets[value]
            bucket.discard(silence_id)
            if not bucket:
                del buckets[value]
        if buckets:
            return True
        if anchor.is_prefix:
            by_length = self._by_prefix[anchor.name]
            del by_length[len(anchor.values[0])]
            if not by_length:
                del self._by_prefix[anchor.name]
        else:
            del self._by_label[anchor.name]
        return True

    def filed(self) -> Collection[str]:
        """The IDs of every filed silence."""
        return self._filed_under.keys()

    def candidates(self, labels: Mapping[str, str]) -> Collection[str]:
        """IDs of the silences that may match `labels` (a superset). Read-only: the result
        may be one of the index's own sets."""
        matching_buckets: list[set[str] | None] = []
        by_label = self._by_label
        by_prefix = self._by_prefix
        for name, value in labels.items():
            by_value = by_label.get(name)
            if by_value is not None:
                matching_buckets.append(by_value.get(value))
            by_length = by_prefix.get(name)
            if by_length is not None:
                for length, by_start in by_length.items():
                    matching_buckets.append(by_start.get(value[:length]))
        for (low, low_length, high, high_length), by_key in self._by_pair.items():
            low_value = labels.get(low)
            high_value = labels.get(high)
            if low_value is None or high_value is None:
                continue
            if low_length != _EXACT:
                low_value = low_value[:low_length]
            if high_length != _EXACT:
                high_value = high_value[:high_length]
            matching_buckets.append(by_key.get((low_value, high_value)))
        found: set[str] | None = None
        shared = True  # `found` is still one of our buckets, not a copy we may extend
        for bucket in matching_buckets:
            if not bucket:
                continue
            if found is None:
                found = bucket
            elif shared:
                found = found | bucket
                shared = False
            else:
                found |= bucket
        if self._unanchored:
            return self._unanchored if found is None else found | self._unanchored
        return () if found is None else found


# ---------------------------------------------------------------------------------------
# The state


class IndexWatcher(Protocol):
    """Told about every change to the muting index (see `Silences.watch_index`)."""

    def silence_indexed(self, silence: Silence, previous: Silence | None) -> None:
        """`silence` was filed; `previous` is the version of it that was filed before, if any."""

    def silence_unindexed(self, silence_id: str) -> None:
        """The silence left the index (expired, or garbage-collected)."""


def _canonical(silence: Silence, expires_at: datetime) -> bytes:
    return encode_silence(silence, expires_at)


class Silences:
    """All silences known to this replica. Not thread-safe: one trio task at a time."""

    def __init__(self, retention: timedelta = DEFAULT_RETENTION, rng: random.Random | None = None) -> None:
        self.retention = retention
        # An injected generator (tests, simulations) decides the IDs; otherwise the kernel.
        self._new_id: Callable[[], str] = (
            functools.partial(new_silence_id, rng) if rng is not None else BufferedUuid4Source()
        )
        self._silences: dict[str, Silence] = {}
        self._expires_at: dict[str, datetime] = {}
        self._index = _SilenceIndex()
        # Silences taken by `load` and not filed in the index yet (insertion-ordered, so they
        # are filed in the order they came): start-up does not pay for an index that nothing
        # may ask for before the first alert arrives.
        self._unfiled: dict[str, None] = {}
        self._listeners: list[SilenceListener] = []
        self._index_watchers: list[IndexWatcher] = []
        # Bumped on every change, so callers may cache per-alert results (as the marker does).
        self.version = 0

    # -- observers

    def add_listener(self, listener: SilenceListener) -> None:
        self._listeners.append(listener)

    def watch_index(self, watcher: IndexWatcher) -> None:
        """Tell `watcher` whenever a silence enters, changes in or leaves the muting index
        (the silences that can still mute: gc drops expired ones early)."""
        self._index_watchers.append(watcher)

    def file_loaded(self) -> None:
        """File the silences `load` took in the muting index, telling the index watchers.
        Every reader of the index calls this first; cheap when there is nothing to file."""
        if not self._unfiled:
            return
        unfiled, self._unfiled = self._unfiled, {}
        silences = self._silences
        index = self._index
        watchers = self._index_watchers
        for silence_id in unfiled:
            silence = silences[silence_id]
            index.add(silence)
            for watcher in watchers:
                watcher.silence_indexed(silence, None)

    def indexed(self) -> list[Silence]:
        """The silences in the muting index."""
        self.file_loaded()
        return [self._silences[silence_id] for silence_id in self._index.filed()]

    def has_indexed(self) -> bool:
        return bool(self._unfiled) or bool(self._index.filed())

    def by_ids(self, silence_ids: Iterable[str]) -> list[Silence]:
        """The silences with these IDs, which must be known."""
        silences = self._silences
        return [silences[silence_id] for silence_id in silence_ids]

    def matching_ids(self, labels: Mapping[str, str]) -> list[str]:
        """IDs of the indexed silences whose matchers match `labels`, whatever their state."""
        self.file_loaded()
        silences = self._silences
        return [i for i in self._index.candidates(labels) if silences[i].matches(labels)]

    def __len__(self) -> int:
        return len(self._silences)

    def __contains__(self, silence_id: object) -> bool:
        return silence_id in self._silences

    def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    def expires_at(self, silence_id: str) -> datetime | None:
        return self._expires_at.get(silence_id)

    def all(self) -> list[Silence]:
        return list(self._silences.values())

    def query(
        self,
        now: datetime,
        ids: Iterable[str] | None = None,
        states: Iterable[SilenceState] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[Silence]:
        """Silences by ID, store state and/or label matching, in no particular order."""
        wanted = frozenset(states) if states is not None else frozenset(SilenceState)
        if ids is not None:
            found = [self._silences[i] for i in ids if i in self._silences]
        elif labels is not None and SilenceState.EXPIRED not in wanted:
            # The index may have dropped expired silences (gc), so it only serves queries
            # for silences that can still mute.
            self.file_loaded()
            found = [self._silences[i] for i in self._index.candidates(labels)]
        else:
            found = list(self._silences.values())
        if states is not None:
            found = [silence for silence in found if silence.state_at(now) in wanted]
        if labels is not None:
            found = [silence for silence in found if silence.matches(labels)]
        return found

    def count_by_state(self, now: datetime) -> dict[SilenceState, int]:
        counts = dict.fromkeys(SilenceState, 0)
        for silence in self._silences.values():
            counts[silence.state_at(now)] += 1
        return counts

    def matching(self, labels: Mapping[str, str], now: datetime) -> tuple[list[str], list[str]]:
        """Sorted IDs of the active and of the pending silences matching `labels`."""
        self.file_loaded()
        active: list[str] = []
        pending: list[str] = []
        silences = self._silences
        for silence_id in self._index.candidates(labels):
            silence = silences[silence_id]
            if now > silence.ends_at or not silence.matches(labels):
                continue
            (pending if now < silence.starts_at else active).append(silence_id)
        active.sort()
        pending.sort()
        return active, pending

    def states_of(self, silence_ids: Iterable[str], now: datetime) -> tuple[list[str], list[str]]:
        """Sorted IDs of the active and of the pending silences among `silence_ids`, known to
        match an alert already (the silencer's cache): only their times are checked."""
        active: list[str] = []
        pending: list[str] = []
        silences = self._silences
        for silence_id in silence_ids:
            silence = silences.get(silence_id)
            if silence is None or now > silence.ends_at:
                continue
            (pending if now < silence.starts_at else active).append(silence_id)
        active.sort()
        pending.sort()
        return active, pending

    # -- local changes

    def set(self, request: SilenceRequest, now: datetime) -> str:
        """Create or update; returns the silence ID. Raises SilenceNotFound, SilenceInvalid."""
        previous = self._silences.get(request.id) if request.id else None
        if request.id and previous is None:
            raise SilenceNotFound()
        if previous is not None:
            if can_update(previous, request, now):
                built = build_matchers(request.matchers)
                self._store(
                    request.id, built, request.starts_at, request.ends_at, request.created_by, request.comment, now
                )
                return request.id
            if previous.state_at(now) is not SilenceState.EXPIRED:
                self._expire(previous, now)
        return self.create(
            [(spec.name, spec.type, spec.value) for spec in request.matchers],
            request.starts_at,
            request.ends_at,
            request.created_by,
            request.comment,
            now,
        )

    def create(
        self,
        matchers: Sequence[MatcherParts],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
    ) -> str:
        """`set` of a request without an ID (a new silence), from its fields, as the API's
        create path has them. Raises SilenceInvalid."""
        silence_id = self._new_id()
        built = build_matchers_from_parts(matchers)
        self._store(silence_id, built, now if starts_at < now else starts_at, ends_at, created_by, comment, now)
        return silence_id

    def expire(self, silence_id: str, now: datetime) -> None:
        """Expire now; a no-op for an expired silence. Raises SilenceNotFound."""
        silence = self._silences.get(silence_id)
        if silence is None:
            raise SilenceNotFound()
        self._expire(silence, now)

    def _expire(self, silence: Silence, now: datetime) -> None:
        state = silence.state_at(now)
        if state is SilenceState.EXPIRED:
            return
        if state is SilenceState.ACTIVE:
            expired = dataclasses.replace(silence, ends_at=now, updated_at=now)
        else:
            expired = dataclasses.replace(silence, starts_at=now, ends_at=now, updated_at=now)
        validate_times(expired.starts_at, expired.ends_at, expired.updated_at)
        self._accept(expired, self._expiry(expired.ends_at), local=True)

    def _store(
        self,
        silence_id: str,
        matchers: tuple[SilenceMatcher, ...],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
    ) -> None:
        validate_times(starts_at, ends_at, now)
        # id, matchers, starts_at, ends_at, updated_at, created_by, comment
        silence = Silence(silence_id, matchers, starts_at, ends_at, now, created_by, comment)
        self._accept(silence, self._expiry(silence.ends_at), local=True)

    def _expiry(self, ends_at: datetime) -> datetime:
        """When GC may forget a silence ending at `ends_at` (end + retention, saturating:
        clients do send year-9999 end times)."""
        try:
            return ends_at + self.retention
        except OverflowError:
            return LATEST_EXPIRY

    # -- replication, recovery, maintenance

    def merge(self, silence: Silence, expires_at: datetime, now: datetime) -> bool:
        """Last-writer-wins merge of a peer's (or the disk's) version. True if taken."""
        if not self._takes(silence, expires_at, now):
            return False
        self._accept(silence, expires_at, local=False)
        return True

    def load(self, entries: Iterable[tuple[Silence, datetime]], now: datetime) -> int:
        """`merge` each (silence, expires_at) in order, as start-up does with the disk's
        records, filing the taken ones in the muting index only when something first reads
        it (`file_loaded`). Returns how many were taken."""
        taken = 0
        silences = self._silences
        expiries = self._expires_at
        unfiled = self._unfiled
        listeners = self._listeners
        for silence, expires_at in entries:
            if not self._takes(silence, expires_at, now):
                continue
            silence_id = silence.id
            if silence_id not in unfiled and self._index.remove(silence_id):
                # Filed already (loaded into a running replica): it leaves the index as it
                # is refiled, so the watchers must forget it before they learn it again.
                for watcher in self._index_watchers:
                    watcher.silence_unindexed(silence_id)
            silences[silence_id] = silence
            expiries[silence_id] = expires_at
            unfiled[silence_id] = None
            taken += 1
            if listeners:
                change = SilenceChange(silence, expires_at, False)
                for listener in listeners:
                    listener(change)
        if taken:
            self.version += 1
        return taken

    def _takes(self, silence: Silence, expires_at: datetime, now: datetime) -> bool:
        """Whether a merge of this version would replace what is held (last writer wins)."""
        if expires_at < now:
            return False
        current = self._silences.get(silence.id)
        if current is not None:
            if silence.updated_at < current.updated_at:
                return False
            if silence.updated_at == current.updated_at:
                mine = _canonical(current, self._expires_at[current.id])
                theirs = _canonical(silence, expires_at)
                if theirs <= mine:
                    return False
        return True

    def gc(self, now: datetime) -> int:
        """Forget silences whose expiry is at or before `now`; returns how many."""
        doomed = [i for i, expiry in self._expires_at.items() if not expiry > now]
        unindexed = []
        unfiled = self._unfiled
        for silence_id in doomed:
            del self._silences[silence_id]
            del self._expires_at[silence_id]
            if self._index.remove(silence_id):
                unindexed.append(silence_id)
            unfiled.pop(silence_id, None)
        # Expired silences no longer mute anything: drop them from the index early (and
        # never file the loaded ones).
        for silence_id, silence in self._silences.items():
            if now > silence.ends_at:
                if self._index.remove(silence_id):
                    unindexed.append(silence_id)
                unfiled.pop(silence_id, None)
        for watcher in self._index_watchers:
            for silence_id in unindexed:
                watcher.silence_unindexed(silence_id)
        if doomed:
            self.version += 1
        return len(doomed)

    def snapshot(self) -> list[tuple[Silence, datetime]]:
        return [(silence, self._expires_at[i]) for i, silence in self._silences.items()]

    def _accept(self, silence: Silence, expires_at: datetime, local: bool) -> None:
        self.file_loaded()
        previous = self._silences.get(silence.id)
        self._silences[silence.id] = silence
        self._expires_at[silence.id] = expires_at
        if not self._index.add(silence):
            previous = None  # not in the index: nothing indexed is being replaced
        for watcher in self._index_watchers:
            watcher.silence_indexed(silence, previous)
        self.version += 1
        change = SilenceChange(silence, expires_at, local)
        for listener in self._listeners:
            listener(change)


# ---------------------------------------------------------------------------------------
# Muting

# The earliest moment Python can represent: a result valid since then is valid for any clock.
EARLIEST = datetime.min.replace(tzinfo=UTC)
# Datetimes have microsecond resolution, so "after ends_at" starts one microsecond later.
_RESOLUTION = timedelta(microseconds=1)


@dataclasses.dataclass(frozen=True, slots=True)
class SilenceResult:
    """The sorted IDs of the active and of the pending silences of one alert, as they are for
    every `now` with `valid_from <= now < valid_until`."""

    active: tuple[str, ...]
    pending: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime


# An alert no indexed silence matches: nothing mutes it, at any time.
NO_SILENCES: Final = SilenceResult((), (), EARLIEST, LATEST_EXPIRY)


def _result_at(matched: Iterable[Silence], now: datetime) -> SilenceResult:
    """The states of `matched` (silences whose matchers match an alert) at `now`, and how
    long they stay so: until the first pending one starts or the first active one ends."""
    active: list[str] = []
    pending: list[str] = []
    valid_until = LATEST_EXPIRY
    for silence in matched:
        if now < silence.starts_at:
            pending.append(silence.id)
            valid_until = min(valid_until, silence.starts_at)
        elif not now > silence.ends_at:
            active.append(silence.id)
            if silence.ends_at < LATEST_EXPIRY:
                valid_until = min(valid_until, silence.ends_at + _RESOLUTION)
    if not active and not pending:
        # All expired: so they stay from `now` on, but not for a clock stepping back.
        return SilenceResult((), (), now, LATEST_EXPIRY)
    active.sort()
    pending.sort()
    return SilenceResult(tuple(active), tuple(pending), now, valid_until)


class AlertSilenceTable:
    """Which indexed silences match which stored alert, kept current as either side changes.

    Answering "is this alert silenced?" for every alert of a `GET /api/v2/alerts` must not
    depend on the number of silences, so the matching is done when something changes, on the
    side that changed:
    - a silence entering the index (created, updated, merged) is matched against the alerts
      that carry its anchors' label values, found through an index of the stored alerts by
      label (built per label name the first time a silence anchors on it, then kept up to
      date), intersecting the candidate sets of all its anchors;
    - an updated silence with unchanged matchers matches the same alerts: only their
      time-dependent results are dropped;
    - an alert new to the store while silences exist is matched lazily, through the silence
      index, the first time its result is asked for (a POST never evaluates silences, as in
      Alertmanager); while no silence exists, a new alert matches nothing at no cost.
    Per alert, the result at a given `now` is cached with the interval over which it holds,
    so time (pending silences starting, active ones ending) is followed without re-reading
    every alert's silences on every call. The answer equals a fresh `Silences.matching` for
    any `now`, also when the clock steps back.

    The alert store reports its alerts (`alert_added`, `alert_removed`); the silences report
    their index (`IndexWatcher`). A silence with no anchor at all is checked against every
    stored alert when it changes, the same cost as one alert checked against every silence.
    """

    def __init__(self, silences: Silences) -> None:
        self._silences = silences
        self._labels: dict[int, Mapping[str, str]] = {}
        # Alerts stored while silences existed, not matched yet.
        self._unmatched: set[int] = set()
        # Alert fingerprint -> IDs of the indexed silences matching it (only non-empty sets),
        # and the inverse.
        self._matched: dict[int, set[str]] = {}
        self._alerts_of: dict[str, set[int]] = {}
        self._results: dict[int, SilenceResult] = {}
        # label name -> label value -> fingerprints, for the label names silences anchor on;
        # and those values sorted, for prefix anchors (dropped when the values change).
        self._alerts_by_label: dict[str, dict[str, set[int]]] = {}
        self._sorted_values: dict[str, list[str]] = {}
        for silence in silences.indexed():
            self.silence_indexed(silence, None)
        silences.watch_index(self)

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, alert_fingerprint: object) -> bool:
        return alert_fingerprint in self._labels

    # -- the alert side

    def alert_added(self, alert_fingerprint: int, labels: Mapping[str, str]) -> None:
        """An alert with a fingerprint new to the store (same fingerprint, same labels)."""
        if alert_fingerprint in self._labels:
            return
        self._labels[alert_fingerprint] = labels
        for name, by_value in self._alerts_by_label.items():
            value = labels.get(name)
            if value is None:
                continue
            bucket = by_value.get(value)
            if bucket is None:
                by_value[value] = {alert_fingerprint}
                self._sorted_values.pop(name, None)
            else:
                bucket.add(alert_fingerprint)
        if self._silences.has_indexed():
            self._unmatched.add(alert_fingerprint)

    def alert_removed(self, alert_fingerprint: int) -> None:
        labels = self._labels.pop(alert_fingerprint, None)
        if labels is None:
            return
        for name, by_value in self._alerts_by_label.items():
            value = labels.get(name)
            if value is None:
                continue
            bucket = by_value[value]
            bucket.discard(alert_fingerprint)
            if not bucket:
                del by_value[value]
                self._sorted_values.pop(name, None)
        self._unmatched.discard(alert_fingerprint)
        self._results.pop(alert_fingerprint, None)
        for silence_id in self._matched.pop(alert_fingerprint, ()):
            alerts = self._alerts_of[silence_id]
            alerts.discard(alert_fingerprint)
            if not alerts:
                del self._alerts_of[silence_id]

    # -- the silence side (IndexWatcher)

    def silence_indexed(self, silence: Silence, previous: Silence | None) -> None:
        if not self._labels:
            return  # no alerts, so no matches to move (start-up loads every silence here)
        if previous is not None and previous.matchers == silence.matchers:
            # Same matchers, same alerts; only the times (and so the results) may differ.
            for alert_fingerprint in self._alerts_of.get(silence.id, ()):
                self._results.pop(alert_fingerprint, None)
            return
        self.silence_unindexed(silence.id)
        labels_of = self._labels
        unmatched = self._unmatched
        found = {
            alert_fingerprint
            for alert_fingerprint in self._candidate_alerts(silence)
            if alert_fingerprint not in unmatched and silence.matches(labels_of[alert_fingerprint])
        }
        if not found:
            return
        self._alerts_of[silence.id] = found
        matched = self._matched
        results = self._results
        for alert_fingerprint in found:
            ids = matched.get(alert_fingerprint)
            if ids is None:
                matched[alert_fingerprint] = {silence.id}
            else:
                ids.add(silence.id)
            results.pop(alert_fingerprint, None)

    def silence_unindexed(self, silence_id: str) -> None:
        alerts = self._alerts_of.pop(silence_id, None)
        if alerts is None:
            return
        matched = self._matched
        for alert_fingerprint in alerts:
            ids = matched[alert_fingerprint]
            ids.discard(silence_id)
            if not ids:
                del matched[alert_fingerprint]
            self._results.pop(alert_fingerprint, None)

    def _candidate_alerts(self, silence: Silence) -> Collection[int]:
        """Stored alerts that may match `silence` (a superset): those in every one of its
        anchors' sets, or every alert if it has no anchor. Read-only."""
        sets: list[AbstractSet[int]] = []
        for matcher in silence.matchers:
            anchor = _anchor(matcher)
            if anchor is not None:
                sets.append(self._alerts_under(anchor))
        if not sets:
            return self._labels.keys()
        sets.sort(key=len)
        found = sets[0]
        for other in sets[1:]:
            if not found:
                break
            found = found & other  # iterates over the smaller set
        return found

    def _alerts_under(self, anchor: _Anchor) -> AbstractSet[int]:
        by_value = self._alerts_by_value(anchor.name)
        if anchor.is_prefix:
            values = self._values_with_prefix(anchor.name, by_value, anchor.values[0])
        else:
            values = [value for value in anchor.values if value in by_value]
        if len(values) == 1:
            return by_value[values[0]]
        found: set[int] = set()
        for value in values:
            found |= by_value[value]
        return found

    def _alerts_by_value(self, name: str) -> dict[str, set[int]]:
        by_value = self._alerts_by_label.get(name)
        if by_value is None:
            by_value = {}
            for alert_fingerprint, labels in self._labels.items():
                value = labels.get(name)
                if value is not None:
                    by_value.setdefault(value, set()).add(alert_fingerprint)
            self._alerts_by_label[name] = by_value
        return by_value

    def _values_with_prefix(self, name: str, by_value: Mapping[str, set[int]], prefix: str) -> list[str]:
        ordered = self._sorted_values.get(name)
        if ordered is None:
            ordered = self._sorted_values[name] = sorted(by_value)
        found = []
        for position in range(bisect.bisect_left(ordered, prefix), len(ordered)):
            value = ordered[position]
            if not value.startswith(prefix):
                break
            found.append(value)
        return found

    # -- the answer

    def matched_fingerprints(self) -> Container[int]:
        """The stored alerts some indexed silence matches (whatever its state): every other
        stored alert is silenced by nothing, at any time. Matches the alerts not matched yet
        first. Read-only, and only until the next change."""
        self._silences.file_loaded()
        for alert_fingerprint in list(self._unmatched):
            self._match(alert_fingerprint)
        return self._matched.keys()

    def result(self, alert_fingerprint: int, now: datetime) -> SilenceResult | None:
        """The alert's silences at `now`; None for an alert the store has not reported."""
        self._silences.file_loaded()
        matched = self._matched.get(alert_fingerprint)
        if matched is None:
            if self._unmatched and alert_fingerprint in self._unmatched:
                matched = self._match(alert_fingerprint)
            if matched is None:
                return NO_SILENCES if alert_fingerprint in self._labels else None
        cached = self._results.get(alert_fingerprint)
        if cached is not None and cached.valid_from <= now < cached.valid_until:
            return cached
        result = _result_at(self._silences.by_ids(matched), now)
        self._results[alert_fingerprint] = result
        return result

    def _match(self, alert_fingerprint: int) -> set[str] | None:
        self._unmatched.discard(alert_fingerprint)
        ids = self._silences.matching_ids(self._labels[alert_fingerprint])
        if not ids:
            return None
        matched = self._matched[alert_fingerprint] = set(ids)
        for silence_id in ids:
            alerts = self._alerts_of.get(silence_id)
            if alerts is None:
                self._alerts_of[silence_id] = {alert_fingerprint}
            else:
                alerts.add(alert_fingerprint)
        return matched


class CachedSilenceStatus(Protocol):
    """What the marker remembers of an alert's last silence evaluation."""

    @property
    def state(self) -> str: ...

    @property
    def silenced_by(self) -> tuple[str, ...]: ...

    @property
    def pending_silences(self) -> tuple[str, ...]: ...

    @property
    def silences_version(self) -> int: ...


class SilenceMarker(Protocol):
    """The part of daemon.marker.Marker the silencer reads and writes."""

    def set_active_or_silenced(
        self,
        fingerprint: int,
        silenced_by: Iterable[str],
        pending_silences: Iterable[str] = (),
        silences_version: int = 0,
    ) -> None: ...

    def set_silences(
        self, fingerprint: int, active: tuple[str, ...], pending: tuple[str, ...]
    ) -> CachedSilenceStatus: ...

    def status(self, fingerprint: int) -> CachedSilenceStatus: ...


class Silencer:
    """Satisfies notify.context.AlertMuter, recording the (sorted) active and pending
    silence IDs of each alert in the marker, as Alertmanager's silencer does.

    Alerts the `AlertSilenceTable` knows (the stored ones) are answered from it. Others (an
    alert the store already dropped but an aggregation group still holds, or a silencer
    without a table) go through the index, and, like Alertmanager's silencer, trust the
    marker while the silences are unchanged (same `Silences.version`): matchers cannot have
    changed, so only the recorded IDs' states are re-read. As in Alertmanager, on that path a
    wall clock stepping back does not revive a silence the cache saw expire, until the next
    change to the silences; the table's answers follow the clock exactly."""

    def __init__(
        self, silences: Silences, marker: SilenceMarker | None = None, table: AlertSilenceTable | None = None
    ) -> None:
        self._silences = silences
        self._marker = marker
        self._table = table

    def silenced_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        if self._marker is None:
            return self._silences.matching(labels, now)[0]
        return list(self._record(self._marker, fingerprint(labels), labels, now))

    def update_status(self, alert_fingerprint: int, labels: Mapping[str, str], now: datetime) -> None:
        """Evaluate the alert with this fingerprint and labels into the marker (the API's
        per-alert refresh, which knows the fingerprint already; it runs once per alert per
        GET, so the table's answer is taken without a detour)."""
        marker = self._marker
        if marker is None:
            return
        table = self._table
        if table is not None:
            result = table.result(alert_fingerprint, now)
            if result is not None:
                marker.set_silences(alert_fingerprint, result.active, result.pending)
                return
        elif not len(self._silences):
            # Nothing can silence it: only a stale or missing record needs writing.
            status = marker.status(alert_fingerprint)
            if status.silenced_by or status.pending_silences or status.state == STATE_UNPROCESSED:
                marker.set_active_or_silenced(alert_fingerprint, (), (), self._silences.version)
            return
        self._record(marker, alert_fingerprint, labels, now)

    def _record(
        self, marker: SilenceMarker, alert_fingerprint: int, labels: Mapping[str, str], now: datetime
    ) -> Sequence[str]:
        table = self._table
        if table is not None:
            result = table.result(alert_fingerprint, now)
            if result is not None:
                marker.set_silences(alert_fingerprint, result.active, result.pending)
                return result.active
        version = self._silences.version
        cached = marker.status(alert_fingerprint)
        if cached.silences_version == version:
            active, pending = self._silences.states_of((*cached.silenced_by, *cached.pending_silences), now)
        else:
            active, pending = self._silences.matching(labels, now)
        marker.set_active_or_silenced(alert_fingerprint, active, pending, version)
        return active

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return bool(self.silenced_by(labels, now))


# ---------------------------------------------------------------------------------------
# Encoding (the durable log and snapshots)

_MICROSECOND = timedelta(microseconds=1)


def _to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def exact_from_micros(micros: int) -> datetime:
    """The UTC datetime `micros` after the epoch, exactly; saturates far-future values."""
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        # A far-future end given with a negative offset (9999-12-31T23:59:59-10:00) lies
        # past what a UTC datetime can hold; after a restart it reads as the latest moment.
        if micros > 0:
            return LATEST_EXPIRY
        raise


# One msgpack Packer per thread (snapshots encode in a worker thread): `msgpack.packb` builds
# a Packer, with its 256 KiB buffer, for every record, which took twice as long as packing.
_packers = threading.local()


def encode_silence(silence: Silence, expires_at: datetime) -> bytes:
    """msgpack array: [id, [[name, type code, value]...], starts, ends, updated (µs since
    the Unix epoch, UTC), created_by, comment, expires_at (µs)]."""
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    epoch, microsecond = _EPOCH, _MICROSECOND  # _to_micros, inlined: one record per silence change
    packed: bytes = packer.pack(
        [
            silence.id,
            [[m.name, _MATCH_TYPE_CODES_BY_OPERATOR[m.type._value_], m.value] for m in silence.matchers],
            (silence.starts_at - epoch) // microsecond,
            (silence.ends_at - epoch) // microsecond,
            (silence.updated_at - epoch) // microsecond,
            silence.created_by,
            silence.comment,
            (expires_at - epoch) // microsecond,
        ]
    )
    return packed


def decode_silence(data: bytes) -> tuple[Silence, datetime]:
    """Inverse of encode_silence; raises ValueError on anything malformed."""
    try:
        fields = msgpack.unpackb(data, raw=False)
        silence_id, raw_matchers, starts, ends, updated, created_by, comment, expires = fields
        matchers = tuple(SilenceMatcher.of(name, MATCH_TYPES_BY_CODE[code], value) for name, code, value in raw_matchers)
        silence = Silence(
            id=str(silence_id),
            matchers=matchers,
            starts_at=exact_from_micros(starts),
            ends_at=exact_from_micros(ends),
            updated_at=exact_from_micros(updated),
            created_by=str(created_by),
            comment=str(comment),
        )
        return silence, exact_from_micros(expires)
    except (ValueError, TypeError, KeyError, OverflowError, MatcherError, msgpack.UnpackException) as error:
        raise ValueError(f"malformed silence record: {error}") from error


def load_records(silences: Silences, records: Iterable[bytes], now: datetime) -> int:
    """Merge records from disk (snapshot, then log) into `silences`; returns how many were
    malformed (skipped). Replaying is idempotent because merging is last-writer-wins."""
    malformed = 0
    for record in records:
        try:
            silence, expires_at = decode_silence(record)
        except ValueError:
            malformed += 1
            continue
        silences.merge(silence, expires_at, now)
    return malformed


def snapshot_records(silences: Silences) -> Iterator[bytes]:
    """Every silence as of now, encoded lazily for a storage snapshot. The entries are
    captured at once and are immutable, so the encoding may run in a worker thread."""
    entries = silences.snapshot()
    return (encode_silence(silence, expires_at) for silence, expires_at in entries)


def record_change(change: SilenceChange) -> bytes:
    """A change, encoded for the storage log (a listener appends this)."""
    return encode_silence(change.silence, change.expires_at)


__all__ = [
    "DEFAULT_RETENTION",
    "NO_SILENCES",
    "AlertSilenceTable",
    "IndexWatcher",
    "MatcherSpec",
    "Silence",
    "SilenceChange",
    "SilenceError",
    "SilenceInvalid",
    "SilenceMatcher",
    "SilenceNotFound",
    "SilenceRequest",
    "SilenceResult",
    "SilenceState",
    "Silencer",
    "Silences",
    "build_matchers",
    "build_matchers_from_parts",
    "can_update",
    "decode_silence",
    "encode_silence",
    "load_records",
    "record_change",
    "snapshot_records",
    "validate_times",
]
