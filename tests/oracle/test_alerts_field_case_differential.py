"""POST /api/v2/alerts with keys spelled other than the API's names, against Alertmanager.

Go's encoding/json fills a struct field from a key that equals its json name ignoring case
(plus U+212A for k and U+017F for s), the last key wins and map fields are merged into, so
a Go client posting a struct without json tags ("Labels", "StartsAt", ...) is accepted.
Each body goes to both daemons; the answers must be identical, and so must the stored
alerts afterwards. Every accepted body carries an explicit start time in some spelling
(a defaulted one is the moment of the POST, which differs between the two daemons).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers.alerts_gen import api_time, utc_now
from tests.oracle.differential import PairStarter

pytestmark = [pytest.mark.oracle, pytest.mark.process]

CONFIG = """\
route:
  receiver: quiet
  group_wait: 1h
receivers:
  - name: quiet
"""

LONG_S = "\u017f"


def bodies() -> list[str]:
    start = api_time(utc_now() - timedelta(minutes=1))
    later = api_time(utc_now() - timedelta(seconds=30))
    end = api_time(utc_now() + timedelta(hours=1))
    return [
        # Accepted: a Go struct without json tags, every field.
        f'[{{"Labels":{{"alertname":"GoNames"}},"Annotations":{{"x":"y"}},"StartsAt":"{start}",'
        f'"EndsAt":"{end}","GeneratorURL":"http://prom/graph"}}]',
        f'[{{"LABELS":{{"alertname":"Upper"}},"ANNOTATIONS":{{"x":"y"}},"STARTSAT":"{start}"}}]',
        # Maps merge in document order whatever the spelling; null empties; label names are
        # not folded.
        f'[{{"labels":{{"alertname":"Merge","a":"1"}},"Labels":{{"b":"2","A":"3"}},"startsAt":"{start}",'
        f'"annotations":{{"a":"1"}},"ANNOTATIONS":null,"Annotations":{{"c":"3"}}}}]',
        # The last key naming a field wins, also around an exactly repeated key.
        f'[{{"labels":{{"alertname":"LastWins"}},"startsAt":"{start}","StartsAt":"{end}","startsAt":"{later}",'
        f'"GeneratorUrl":"http://x/a","generatorURL":"http://x/b","generatorurl":"http://x/c"}}]',
        # Long s folds to s; dotted and dotless i fold to nothing in Go 1.19.
        f'[{{"label{LONG_S}":{{"alertname":"LongS"}},"{LONG_S}tartsAt":"{start}",'
        f'"annotat\u0130ons":{{"i":"dotted"}},"annotat\u0131ons":{{"i":"dotless"}}}}]',
        # Several alerts, one of them needing the slow path.
        f'[{{"labels":{{"alertname":"Batch","n":"1"}},"startsAt":"{start}"}},'
        f'{{"labels":{{"alertname":"Batch","n":"2"}},"Labels":{{"m":"x"}},"labels":{{"o":"y"}},"startsAt":"{start}"}},'
        f'{{"LABELS":{{"alertname":"Batch","n":"3"}},"StartsAt":"{start}"}}]',
        # Refused, with the field's own name in the message.
        '[{"Labels":5}]',
        '[{"ANNOTATIONS":5,"labels":{"a":"b"}}]',
        '[{"StartsAt":5,"labels":{"a":"b"}}]',
        '[{"ENDSAT":"garbage","labels":{"a":"b"}}]',
        '[{"GENERATORURL":5,"labels":{"a":"b"}}]',
        '[{"GENERATORURL":"not a uri","labels":{"a":"b"}}]',
        '[{"labels":{"a":"b"},"Labels":null}]',
        '[{"labels":{"a":"b"}},{"LABELS":null,"labels":{"a":"b"},"Labels":null}]',
        # Handler validation after folding.
        f'[{{"Labels":{{"alertname":"Bad","0x":"y"}},"StartsAt":"{end}","EndsAt":"{start}"}}]',
    ]


def test_keys_in_any_case_are_decoded_like_alertmanager(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(CONFIG)
    for body in bodies():
        answers = pair.post_raw("/api/v2/alerts", body)
        oracle, candidate = ((answer.status_code, answer.text.strip()) for answer in answers)
        assert candidate == oracle, body
    accepted = pair.oracle.get("/api/v2/alerts").json()
    assert {alert["labels"]["alertname"] for alert in accepted} == {
        "GoNames",
        "Upper",
        "Merge",
        "LastWins",
        "LongS",
        "Batch",
    }
    pair.compare_api()
