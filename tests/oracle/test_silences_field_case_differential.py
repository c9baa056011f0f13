"""POST /api/v2/silences with keys spelled other than the API's names, against Alertmanager.

As for alerts (test_alerts_field_case_differential.py): Go's encoding/json fills
PostableSilence's and each Matcher's fields from keys that equal their json names ignoring
case (plus U+212A for k and U+017F for s), the last key naming a field wins. Each body goes to
both daemons; the answers must agree (the same error, or both a new silence), and every
silence created must read back the same from both (IDs differ, so it is read by its own ID).
Start times lie in the future, so neither daemon replaces them with the moment of the POST.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.helpers.alerts_gen import api_time, utc_now
from tests.oracle.differential import HTTP_TIMEOUT_SECONDS, PairStarter

pytestmark = [pytest.mark.oracle, pytest.mark.process]

CONFIG = """\
route:
  receiver: quiet
receivers:
  - name: quiet
"""

LONG_S = "\u017f"
KELVIN = "\u212a"
# What a created silence is compared on (its ID, status and updatedAt differ by nature).
COMPARED_FIELDS = ("matchers", "startsAt", "endsAt", "createdBy", "comment")


def bodies() -> list[str]:
    start = api_time(utc_now() + timedelta(hours=1))
    end = api_time(utc_now() + timedelta(hours=2))
    later_end = api_time(utc_now() + timedelta(hours=3))
    matcher = '{"name":"alertname","value":"Down","isRegex":false}'
    return [
        # Accepted: a Go struct without json tags, matchers included.
        f'{{"Matchers":[{{"Name":"alertname","Value":"GoNames","IsRegex":false,"IsEqual":true}}],'
        f'"StartsAt":"{start}","EndsAt":"{end}","CreatedBy":"go","Comment":"struct names"}}',
        f'{{"MATCHERS":[{{"NAME":"a","VALUE":"b.*","ISREGEX":true}}],"STARTSAT":"{start}",'
        f'"ENDSAT":"{end}","CREATEDBY":"upper","COMMENT":"upper case"}}',
        # The last key naming a field wins, also around an exactly repeated key.
        f'{{"matchers":[{matcher}],"startsAt":"{start}","endsAt":"{end}","createdBy":"x",'
        f'"comment":"first","Comment":"second"}}',
        f'{{"matchers":[{matcher}],"startsAt":"{start}","endsAt":"{end}","createdBy":"x",'
        f'"Comment":"second","comment":"first"}}',
        f'{{"matchers":[{matcher}],"startsAt":"{start}","endsAt":"{end}","EndsAt":"{later_end}",'
        f'"createdBy":"x","comment":"a","COMMENT":"b","comment":"c"}}',
        f'{{"matchers":[{{"name":"a","value":"b","isRegex":false,"Name":"c","isEqual":true,"ISEQUAL":false}}],'
        f'"startsAt":"{start}","endsAt":"{end}","createdBy":"x","comment":"matcher keys"}}',
        # Long s and the Kelvin sign fold to s and k; unknown keys are ignored.
        f'{{"matcher{LONG_S}":[{matcher}],"{LONG_S}tartsAt":"{start}","endsAt":"{end}",'
        f'"createdBy":"x","comment":"long s","{KELVIN}ind":"ignored"}}',
        # Refused, with the field's own name in the message.
        f'{{"matchers":[{matcher}],"startsAt":"{start}","endsAt":"{end}","createdBy":"x","Comment":5}}',
        f'{{"Matchers":5,"startsAt":"{start}","endsAt":"{end}","createdBy":"x","comment":"c"}}',
        f'{{"matchers":[{{"Name":5,"value":"b","isRegex":false}}],"startsAt":"{start}","endsAt":"{end}",'
        f'"createdBy":"x","comment":"c"}}',
        f'{{"matchers":[{matcher}],"startsAt":"{start}","ENDSAT":"garbage","createdBy":"x","comment":"c"}}',
        f'{{"matchers":[{matcher}],"startsAt":"{start}","endsAt":"{end}","createdBy":"x","comment":"c","ID":5}}',
        # Required fields satisfied (or not) after folding.
        f'{{"matchers":[{matcher}],"startsAt":"{start}","EndsAt":"{end}","CreatedBy":"x"}}',
        f'{{"matchers":[{{"NAME":"a","VALUE":"b"}}],"startsAt":"{start}","endsAt":"{end}","createdBy":"x",'
        f'"comment":"c"}}',
    ]


def silence_fields(client_url: str, silence_id: str) -> dict[str, Any]:
    found = httpx.get(f"{client_url}/api/v2/silence/{silence_id}", timeout=HTTP_TIMEOUT_SECONDS).json()
    return {field: found[field] for field in COMPARED_FIELDS}


def test_keys_in_any_case_are_decoded_like_alertmanager(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(CONFIG)
    created = 0
    for body in bodies():
        answers = pair.post_raw("/api/v2/silences", body)
        statuses = [answer.status_code for answer in answers]
        assert statuses[1] == statuses[0], body
        if statuses[0] != 200:
            assert answers[1].text.strip() == answers[0].text.strip(), body
            continue
        created += 1
        oracle, candidate = (
            silence_fields(side.url, answer.json()["silenceID"])
            for side, answer in zip(pair.sides, answers, strict=True)
        )
        assert candidate == oracle, body
    assert created == 7
