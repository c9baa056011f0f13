"""POST /api/v2/alerts answers malformed JSON with encoding/json's exact words.

Every expected message below is what the real Alertmanager 0.25 answered (400) for the same
body; the shared Go scanner (`daemon.api.gojson`) replaced an approximation that said
"invalid character in JSON body" for most of them.
"""

from __future__ import annotations

import orjson
import pytest

from daemon.api.alerts import decode_postable_alerts
from daemon.api.response import FrameworkError

PREFIX = 'parsing alerts body from "" failed, because '
PARTS_TYPE = (
    'struct { Annotations models.LabelSet "json:\\"annotations,omitempty\\""; '
    'EndsAt strfmt.DateTime "json:\\"endsAt,omitempty\\""; '
    'StartsAt strfmt.DateTime "json:\\"startsAt,omitempty\\"" }'
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1", "unexpected EOF"),
        (b'[{"labels":', "unexpected EOF"),
        (b"  \n [ ", "unexpected EOF"),
        (b"tru", "unexpected EOF"),
        (b"1e", "unexpected EOF"),
        (b"5 6", "json: cannot unmarshal number into Go value of type models.PostableAlerts"),
        (b'"str" x', "json: cannot unmarshal string into Go value of type models.PostableAlerts"),
        (b'["\xff"]', f"json: cannot unmarshal string into Go value of type {PARTS_TYPE}"),
        (b"{nope", "invalid character 'n' looking for beginning of object key string"),
        (b"[1,]", "invalid character ']' looking for beginning of value"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"[01]", "invalid character '1' after array element"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'[{"a":1 "b":2}]', "invalid character '\"' after object key:value pair"),
        (b"-a", "invalid character 'a' in numeric literal"),
        (b"1.x", "invalid character 'x' after decimal point in numeric literal"),
        (b"[1e+]", "invalid character ']' in exponent of numeric literal"),
        (b'["\\x"]', "invalid character 'x' in string escape code"),
        (b'["\\u12g4"]', "invalid character 'g' in \\u hexadecimal character escape"),
        (b'["a\x01"]', "invalid character '\\x01' in string literal"),
        (b'[{"a":tx}]', "invalid character 'x' in literal true (expecting 'r')"),
        (b"[.5]", "invalid character '.' looking for beginning of value"),
    ],
)
def test_malformed_bodies_get_alertmanagers_message(body: bytes, message: str) -> None:
    with pytest.raises(FrameworkError) as raised:
        decode_postable_alerts(body)
    response = raised.value.response
    assert response.status == 400
    assert orjson.loads(response.body) == {"code": 400, "message": PREFIX + message}


def test_trailing_data_after_the_first_value_is_ignored() -> None:
    assert [postable.labels for postable in decode_postable_alerts(b'[{"labels": {"a": "b"}}] x')] == [{"a": "b"}]
