"""Requests with bad (or borderline) input for the alerts API, sent unchanged to the real
Alertmanager 0.25 and to tocsin; the status code and body must agree.

Each case is (name, method, path, body bytes or None, headers). Timestamps are far from now so
answers do not depend on the moment the test runs.
"""

from __future__ import annotations

import orjson

JSON = {"Content-Type": "application/json"}
PAST = "2020-01-01T00:00:00Z"
EARLIER = "2019-01-01T00:00:00Z"
FUTURE = "2999-01-01T00:00:00Z"


def alerts(*items: object) -> bytes:
    return orjson.dumps(list(items))


ApiCase = tuple[str, str, str, bytes | None, dict[str, str]]

POST_ALERT_CASES: list[ApiCase] = [
    ("valid single alert", "POST", "/api/v2/alerts", alerts({"labels": {"alertname": "ok"}}), JSON),
    ("empty array", "POST", "/api/v2/alerts", b"[]", JSON),
    ("empty body", "POST", "/api/v2/alerts", b"", JSON),
    ("not json", "POST", "/api/v2/alerts", b"{nope", JSON),
    ("object instead of array", "POST", "/api/v2/alerts", b'{"labels": {"a": "b"}}', JSON),
    ("null body", "POST", "/api/v2/alerts", b"null", JSON),
    # `[null]` is left out: Alertmanager panics on it and drops the connection.
    ("array of number", "POST", "/api/v2/alerts", b"[1]", JSON),
    ("missing labels", "POST", "/api/v2/alerts", alerts({"annotations": {"a": "b"}}), JSON),
    ("labels null", "POST", "/api/v2/alerts", b'[{"labels": null}]', JSON),
    ("labels empty object", "POST", "/api/v2/alerts", alerts({"labels": {}}), JSON),
    ("only empty label values", "POST", "/api/v2/alerts", alerts({"labels": {"a": ""}}), JSON),
    ("labels as list", "POST", "/api/v2/alerts", b'[{"labels": ["a"]}]', JSON),
    ("label value number", "POST", "/api/v2/alerts", b'[{"labels": {"a": 1}}]', JSON),
    ("bad label name dash", "POST", "/api/v2/alerts", alerts({"labels": {"a-b": "x"}}), JSON),
    ("bad label name digit first", "POST", "/api/v2/alerts", alerts({"labels": {"1a": "x"}}), JSON),
    ("bad label name colon", "POST", "/api/v2/alerts", alerts({"labels": {"a:b": "x"}}), JSON),
    ("bad label name unicode", "POST", "/api/v2/alerts", alerts({"labels": {"é": "x"}}), JSON),
    ("empty label name", "POST", "/api/v2/alerts", alerts({"labels": {"": "x"}}), JSON),
    ("bad annotation name", "POST", "/api/v2/alerts",
     alerts({"labels": {"a": "b"}, "annotations": {"x-y": "1"}}), JSON),
    ("end before start", "POST", "/api/v2/alerts",
     alerts({"labels": {"a": "b"}, "startsAt": PAST, "endsAt": EARLIER}), JSON),
    ("end equals start", "POST", "/api/v2/alerts",
     alerts({"labels": {"a": "b"}, "startsAt": PAST, "endsAt": PAST}), JSON),
    ("startsAt not a date", "POST", "/api/v2/alerts", alerts({"labels": {"a": "b"}, "startsAt": "yesterday"}), JSON),
    ("endsAt not a date", "POST", "/api/v2/alerts", alerts({"labels": {"a": "b"}, "endsAt": "2020-13-01"}), JSON),
    ("startsAt number", "POST", "/api/v2/alerts", b'[{"labels": {"a": "b"}, "startsAt": 5}]', JSON),
    ("zero times", "POST", "/api/v2/alerts",
     alerts({"labels": {"a": "b"}, "startsAt": "0001-01-01T00:00:00.000Z", "endsAt": "0001-01-01T00:00:00.000Z"}),
     JSON),
    ("generatorURL not uri", "POST", "/api/v2/alerts", alerts({"labels": {"a": "b"}, "generatorURL": "::"}), JSON),
    ("generatorURL relative", "POST", "/api/v2/alerts",
     alerts({"labels": {"a": "b"}, "generatorURL": "relative/path"}), JSON),
    ("generatorURL number", "POST", "/api/v2/alerts", b'[{"labels": {"a": "b"}, "generatorURL": 3}]', JSON),
    ("unknown field ignored", "POST", "/api/v2/alerts", alerts({"labels": {"a": "b"}, "bogus": 1}), JSON),
    ("one valid one invalid", "POST", "/api/v2/alerts",
     alerts({"labels": {"a": "b"}}, {"labels": {"a-b": "c"}}), JSON),
    ("two invalid joined", "POST", "/api/v2/alerts",
     alerts({"labels": {"a-b": "c"}}, {"labels": {}},
            {"labels": {"a": "b"}, "startsAt": PAST, "endsAt": EARLIER}), JSON),
    ("second alert missing labels", "POST", "/api/v2/alerts", alerts({"labels": {"a": "b"}}, {}), JSON),
    ("text/plain content type", "POST", "/api/v2/alerts", alerts({"labels": {"a": "b"}}),
     {"Content-Type": "text/plain"}),
    ("no content type", "POST", "/api/v2/alerts", alerts({"labels": {"a": "b"}}), {}),
    ("json with charset", "POST", "/api/v2/alerts", alerts({"labels": {"a": "b"}}),
     {"Content-Type": "application/json; charset=utf-8"}),
    ("trailing garbage", "POST", "/api/v2/alerts", b'[{"labels": {"a": "b"}}] x', JSON),
    ("PUT alerts", "PUT", "/api/v2/alerts", b"[]", JSON),
    ("DELETE alerts", "DELETE", "/api/v2/alerts", None, {}),
    ("unknown v2 path", "GET", "/api/v2/nothing", None, {}),
    ("swagger not served", "GET", "/api/v2/swagger.json", None, {}),
    ("GET reload", "GET", "/-/reload", None, {}),
]

GET_ALERT_CASES: list[ApiCase] = [
    ("several alerts for listing", "POST", "/api/v2/alerts",
     alerts(*({"labels": {"alertname": name, "job": job, "instance": instance, "team": team}}
              for name, job, instance, team in [("Z", "b", "2", "db"), ("Z", "a", "9", "db"), ("Y", "a", "1", "web"),
                                                ("Z", "a", "1", "web")]),
            {"labels": {"alertname": "Z"}}), JSON),
    ("list all", "GET", "/api/v2/alerts", None, {}),
    ("list by filter", "GET", "/api/v2/alerts?filter=alertname%3D%22Z%22&filter=team%21~%22web%22", None, {}),
    ("list by receiver", "GET", "/api/v2/alerts?receiver=d.*", None, {}),
    ("list inactive only", "GET", "/api/v2/alerts?active=false", None, {}),
    ("groups", "GET", "/api/v2/alerts/groups", None, {}),
    ("groups by receiver", "GET", "/api/v2/alerts/groups?receiver=db", None, {}),
    ("groups filtered", "GET", "/api/v2/alerts/groups?filter=instance%3D%221%22", None, {}),
    ("bad filter", "GET", "/api/v2/alerts?filter=foo", None, {}),
    ("bad filter regex", "GET", "/api/v2/alerts?filter=foo%3D~%22(%22", None, {}),
    ("bad receiver regex", "GET", "/api/v2/alerts?receiver=(", None, {}),
    ("groups bad filter", "GET", "/api/v2/alerts/groups?filter=%7Bfoo", None, {}),
    ("groups bad receiver regex", "GET", "/api/v2/alerts/groups?receiver=%5B", None, {}),
    ("unparseable bool", "GET", "/api/v2/alerts?active=maybe", None, {}),
    ("trailing slash", "GET", "/api/v2/alerts/", None, {}),
    ("receivers", "GET", "/api/v2/receivers", None, {}),
    ("POST status", "POST", "/api/v2/status", b"{}", JSON),
    ("healthy", "GET", "/-/healthy", None, {}),
    ("ready", "GET", "/-/ready", None, {}),
]

ALL_CASES = POST_ALERT_CASES + GET_ALERT_CASES
