"""Go's time.Time as templates see it: String(), Format(layout) and the common accessors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from notify.template.gofmt import GoNilPointer, GoTypedInt, GoValue

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
_NANOS_PER_SECOND = 1_000_000_000
_NANOS_PER_MICRO = 1_000

# Layout elements of Go's reference time, longest first so prefixes do not shadow them.
_LAYOUT_TOKENS = (
    "January",
    "Monday",
    "Z07:00:00",
    "-07:00:00",
    "Z070000",
    "-070000",
    "Z07:00",
    "-07:00",
    "Z0700",
    "-0700",
    "2006",
    "Jan",
    "Mon",
    "MST",
    "002",
    "Z07",
    "-07",
    "_2",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "15",
    "PM",
    "pm",
    "1",
    "2",
    "3",
    "4",
    "5",
)


class GoTime(GoValue):
    """time.Time. Values from the store are timezone-aware datetimes (microsecond precision)."""

    go_type = "time.Time"
    go_methods = {
        "Format": ("format", ("string",)),
        "String": ("go_string", ()),
        "Unix": ("unix", ()),
        "UnixMilli": ("unix_milli", ()),
        "UnixNano": ("unix_nano", ()),
        "UTC": ("utc", ()),
        "Local": ("utc", ()),
        "IsZero": ("is_zero", ()),
        "Year": ("year", ()),
        "Day": ("day", ()),
        "Hour": ("hour", ()),
        "Minute": ("minute", ()),
        "Second": ("second", ()),
        "Nanosecond": ("nanosecond", ()),
        "YearDay": ("year_day", ()),
        "Month": ("month", ()),
        "Weekday": ("weekday", ()),
        "Before": ("before", ("time.Time",)),
        "After": ("after", ("time.Time",)),
        "Equal": ("equal", ("time.Time",)),
    }

    __slots__ = ("moment", "nanos")

    def __init__(self, moment: datetime, nanosecond: int | None = None) -> None:
        """`nanosecond` keeps Go's precision when the source had it (datetime stops at µs)."""
        self.moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        self.nanos = moment.microsecond * _NANOS_PER_MICRO if nanosecond is None else nanosecond

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and self.moment == other.moment

    def __hash__(self) -> int:
        return hash(self.moment)

    def go_string(self) -> str:
        return self.format("2006-01-02 15:04:05.999999999 -0700 MST")

    def go_struct_values(self) -> list[Any]:
        """time.Time's private fields (wall, ext, loc) as a non-string verb prints them.

        Only a UTC time's location prints predictably (a nil pointer, 0)."""
        seconds_since_year_one = (self.moment - _YEAR_ONE) // timedelta(seconds=1)
        return [
            GoTypedInt(self.nanosecond(), "uint64"),
            GoTypedInt(seconds_since_year_one, "int64"),
            GoNilPointer("*time.Location"),
        ]

    def zone_name(self) -> str:
        tz = self.moment.tzinfo
        if tz is UTC:
            return "UTC"
        name = self.moment.tzname()
        if name and not name.startswith(("UTC+", "UTC-")) and name != "UTC":
            return name
        offset = self.offset_seconds()
        return f"{'-' if offset < 0 else '+'}{abs(offset) // 3600:02d}{abs(offset) % 3600 // 60:02d}"

    def offset_seconds(self) -> int:
        offset = self.moment.utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def unix(self) -> int:
        return (self.moment - _UNIX_EPOCH) // timedelta(seconds=1)

    def unix_milli(self) -> int:
        return (self.moment - _UNIX_EPOCH) // timedelta(milliseconds=1)

    def unix_nano(self) -> int:
        return self.unix() * _NANOS_PER_SECOND + self.nanos

    def utc(self) -> GoTime:
        return GoTime(self.moment.astimezone(UTC), self.nanos)

    def is_zero(self) -> bool:
        return self.moment == datetime(1, 1, 1, tzinfo=UTC)

    def year(self) -> int:
        return self.moment.year

    def day(self) -> int:
        return self.moment.day

    def hour(self) -> int:
        return self.moment.hour

    def minute(self) -> int:
        return self.moment.minute

    def second(self) -> int:
        return self.moment.second

    def nanosecond(self) -> int:
        return self.nanos

    def year_day(self) -> int:
        return self.moment.timetuple().tm_yday

    def month(self) -> GoMonth:
        return GoMonth(self.moment.month)

    def weekday(self) -> GoWeekday:
        return GoWeekday((self.moment.weekday() + 1) % 7)

    def before(self, other: GoTime) -> bool:
        return self.moment < other.moment

    def after(self, other: GoTime) -> bool:
        return self.moment > other.moment

    def equal(self, other: GoTime) -> bool:
        return self.moment == other.moment

    def format(self, layout: str) -> str:
        """time.Time.Format with Go's reference-time layout."""
        out: list[str] = []
        index = 0
        moment = self.moment
        while index < len(layout):
            fraction = _fraction_token(layout, index)
            if fraction:
                out.append(self._fraction(fraction))
                index += len(fraction)
                continue
            for token in _LAYOUT_TOKENS:
                if layout.startswith(token, index) and _token_allowed(layout, index, token):
                    out.append(self._element(token, moment))
                    index += len(token)
                    break
            else:
                out.append(layout[index])
                index += 1
        return "".join(out)

    def _fraction(self, token: str) -> str:
        digits = f"{self.nanos:09d}"[: len(token) - 1]
        if token[1] == "9":
            digits = digits.rstrip("0")
            return "." + digits if digits else ""
        return token[0] + digits

    def _element(self, token: str, moment: datetime) -> str:
        hour12 = moment.hour % 12 or 12
        offset = self.offset_seconds()
        sign = "-" if offset < 0 else "+"
        hours, minutes, seconds = abs(offset) // 3600, abs(offset) % 3600 // 60, abs(offset) % 60
        simple: dict[str, Any] = {
            "January": _MONTHS[moment.month - 1],
            "Jan": _MONTHS[moment.month - 1][:3],
            "Monday": _DAYS[moment.weekday()],
            "Mon": _DAYS[moment.weekday()][:3],
            "2006": f"{moment.year:04d}",
            "06": f"{moment.year % 100:02d}",
            "01": f"{moment.month:02d}",
            "1": str(moment.month),
            "02": f"{moment.day:02d}",
            "_2": f"{moment.day:2d}",
            "2": str(moment.day),
            "002": f"{moment.timetuple().tm_yday:03d}",
            "15": f"{moment.hour:02d}",
            "03": f"{hour12:02d}",
            "3": str(hour12),
            "04": f"{moment.minute:02d}",
            "4": str(moment.minute),
            "05": f"{moment.second:02d}",
            "5": str(moment.second),
            "PM": "PM" if moment.hour >= 12 else "AM",
            "pm": "pm" if moment.hour >= 12 else "am",
            "MST": self.zone_name(),
        }
        if token in simple:
            return str(simple[token])
        if token.startswith("Z") and offset == 0:
            return "Z"
        body = token.lstrip("Z-")
        text = sign + f"{hours:02d}"
        if body in ("07:00", "07:00:00"):
            text += f":{minutes:02d}"
        elif body in ("0700", "070000"):
            text += f"{minutes:02d}"
        if body == "07:00:00":
            text += f":{seconds:02d}"
        elif body == "070000":
            text += f"{seconds:02d}"
        return text


def _fraction_token(layout: str, index: int) -> str:
    """`.000` / `.999` (or with a comma): fractional seconds, when not followed by a digit."""
    if layout[index] not in ".," or index + 1 >= len(layout) or layout[index + 1] not in "09":
        return ""
    digit = layout[index + 1]
    end = index + 1
    while end < len(layout) and layout[end] == digit:
        end += 1
    if end < len(layout) and layout[end].isdigit():
        return ""
    return layout[index:end]


def _token_allowed(layout: str, index: int, token: str) -> bool:
    # Go reads "Jan"/"Mon" only when not followed by a lower-case letter ("Janet" is literal).
    if token in ("Jan", "Mon"):
        following = layout[index + len(token) : index + len(token) + 1]
        return not ("a" <= following <= "z")
    if token in ("January", "Monday"):
        return True
    return True


class GoMonth(GoValue):
    go_type = "time.Month"

    def __init__(self, number: int) -> None:
        self.number = number

    def go_string(self) -> str:
        return _MONTHS[self.number - 1]


class GoWeekday(GoValue):
    go_type = "time.Weekday"

    def __init__(self, number: int) -> None:
        self.number = number  # 0 = Sunday

    def go_string(self) -> str:
        return _DAYS[(self.number - 1) % 7]


def parse_go_json_time(text: str) -> GoTime:
    """Decode a JSON (RFC 3339) time as Go's encoding/json does, keeping offset and nanoseconds."""
    head, dot, rest = text.partition(".")
    nanosecond = 0
    if dot:
        digit_count = len(rest) - len(rest.lstrip("0123456789"))
        digits, zone = rest[:digit_count], rest[digit_count:]
        nanosecond = int(digits[:9].ljust(9, "0")) if digits else 0
        text = head + zone
    if text.endswith(("Z", "z")):
        moment = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    else:
        moment = datetime.fromisoformat(text)
    moment = moment.replace(microsecond=nanosecond // _NANOS_PER_MICRO)
    return GoTime(moment, nanosecond)
