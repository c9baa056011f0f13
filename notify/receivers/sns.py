"""Amazon SNS Publish (query API, SigV4-signed), as Alertmanager 0.25's AWS SDK call sends it.

    POST {api_url or https://sns.<region>.amazonaws.com}/
    Content-Type: application/x-www-form-urlencoded; charset=utf-8
    Action=Publish&Message=..&MessageAttributes.entry.1.Name=..&MessageAttributes.entry.1.Value
    .DataType=String&MessageAttributes.entry.1.Value.StringValue=..&MessageDeduplicationId=..
    &MessageGroupId=..&PhoneNumber=..&Subject=..&TargetArn=..&TopicArn=..&Version=2010-03-31

Form keys are sorted (the SDK writes url.Values); attributes are sorted by name, and an empty
attribute map is still sent as `MessageAttributes=`. Attribute names and values, the topic,
target and phone number, the subject (only when configured) and the message are templates. A
topic ending in `.fifo` adds MessageGroupId and MessageDeduplicationId = sha256(group key).
The message is cut to 256 KiB (1600 bytes when a phone number is set) by bytes, exactly as
Alertmanager does (a character may be split), and the attribute `truncated=true` is added.

Signing: botocore's SigV4Auth (service `sns`), with the static `sigv4` keys when both are set,
otherwise botocore's default credential chain (environment, shared files with `profile`,
container and instance roles), and an STS AssumeRole when `role_arn` is set. Credential
lookups may block (files, metadata endpoints), so they run in a worker thread; assumed-role
credentials are cached until shortly before they expire.

Retries: an AWS error answer is classified by its status (5xx retried, 4xx not) with the AWS
error message as details; transport and credential errors are retried. The SDK's own inner
retries (up to three for 5xx and throttling) are not reproduced: the retry stage's backoff
covers them. `send_resolved` defaults to true.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import trio
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import Session

from notify.context import FlushContext
from notify.errors import PermanentError, RetryableError, check_status
from notify.model import Alert
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    group_key_hash,
    send_http,
    settings_bool,
    settings_map,
    settings_text,
)
from notify.template import Templates

logger = logging.getLogger("notify.receivers.sns")

INTEGRATION_NAME = "sns"
SERVICE_NAME = "sns"
API_VERSION = "2010-03-31"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
# SNS limits: 256 KiB for a published message, 1600 bytes for an SMS.
MAX_MESSAGE_BYTES = 256 * 1024
MAX_SMS_BYTES = 1600
FIFO_SUFFIX = ".fifo"
STRING_DATA_TYPE = "String"
TRUNCATED_ATTRIBUTE = "truncated"
# Assumed-role credentials are refreshed this long before they expire, so a send never
# signs with credentials that lapse in flight.
CREDENTIAL_REFRESH_MARGIN_SECONDS = 300.0
ROLE_SESSION_PREFIX = "tocsin-"
NO_REGION_MESSAGE = "region not configured in sns.sigv4.region or in default credentials chain"


@dataclasses.dataclass(frozen=True, slots=True)
class SigV4Settings:
    region: str = ""
    access_key: str = ""
    secret_key: str = ""
    profile: str = ""
    role_arn: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class SnsConfig:
    api_url: str = ""
    sigv4: SigV4Settings = SigV4Settings()
    topic_arn: str = ""
    phone_number: str = ""
    target_arn: str = ""
    subject: str = '{{ template "sns.default.subject" . }}'
    message: str = '{{ template "sns.default.message" . }}'
    attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    send_resolved: bool = True
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> SnsConfig:
        targets = {name: settings_text(raw, name) for name in ("topic_arn", "phone_number", "target_arn")}
        if not any(targets.values()):
            raise ValueError("must provide either a Target ARN, Topic ARN, or Phone Number for SNS config")
        sigv4 = raw.get("sigv4") or {}
        return cls(
            api_url=settings_text(raw, "api_url"),
            sigv4=SigV4Settings(
                **{
                    name: settings_text(sigv4, name)
                    for name in ("region", "access_key", "secret_key", "profile", "role_arn")
                }
            ),
            subject=settings_text(raw, "subject", '{{ template "sns.default.subject" . }}'),
            message=settings_text(raw, "message", '{{ template "sns.default.message" . }}'),
            attributes=settings_map(raw, "attributes"),
            send_resolved=settings_bool(raw, "send_resolved", True),
            http_config=dict(raw.get("http_config") or {}),
            **targets,
        )


def truncate_message(message: str, limit: int) -> tuple[bytes, bool]:
    """The message's UTF-8 bytes, cut at `limit` bytes (Alertmanager cuts bytes, not runes)."""
    try:
        encoded = message.encode("utf-8")
    except UnicodeEncodeError:
        raise PermanentError("non utf8 encoded message string") from None
    if len(encoded) <= limit:
        return encoded, False
    return encoded[:limit], True


def build_publish_form(
    config: SnsConfig, render: TextRenderer, group_key: str
) -> list[tuple[str, str | bytes]]:
    """The Publish parameters, sorted by name as the SDK's query serializer writes them."""
    params: dict[str, str | bytes] = {"Action": "Publish", "Version": API_VERSION}
    attributes = {render(name): render(value) for name, value in config.attributes.items()}
    limit = MAX_MESSAGE_BYTES
    if config.topic_arn:
        topic = render(config.topic_arn)
        params["TopicArn"] = topic
        if topic.endswith(FIFO_SUFFIX):
            params["MessageDeduplicationId"] = group_key_hash(group_key)
            params["MessageGroupId"] = group_key_hash(group_key)
    if config.phone_number:
        params["PhoneNumber"] = render(config.phone_number)
        limit = MAX_SMS_BYTES
    if config.target_arn:
        params["TargetArn"] = render(config.target_arn)
    message, truncated = truncate_message(render(config.message), limit)
    if truncated:
        attributes[TRUNCATED_ATTRIBUTE] = "true"
    params["Message"] = message
    if attributes:
        for position, name in enumerate(sorted(attributes), start=1):
            prefix = f"MessageAttributes.entry.{position}"
            params[f"{prefix}.Name"] = name
            params[f"{prefix}.Value.DataType"] = STRING_DATA_TYPE
            params[f"{prefix}.Value.StringValue"] = attributes[name]
    else:
        params["MessageAttributes"] = ""
    if config.subject:
        params["Subject"] = render(config.subject)
    return sorted(params.items())


def endpoint_url(api_url: str, region: str) -> str:
    base = api_url or f"https://sns.{region}.amazonaws.com"
    return base + "/"


def error_message(body: bytes) -> str:
    """The <Message> of an AWS query-protocol error answer ("" when there is none)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return ""
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Message" and element.text:
            return element.text
    return ""


class CredentialSource:
    """Where signing credentials come from; `resolve()` may block, so call it in a thread."""

    def __init__(self, settings: SigV4Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._assumed: Any = None
        self._assumed_until = 0.0

    def session(self) -> Any:
        return Session(profile=self._settings.profile or None)

    def region(self, session: Any) -> str:
        return self._settings.region or session.get_config_variable("region") or ""

    def resolve(self) -> tuple[Any, str]:
        """(credentials, region); raises RetryableError when none can be found."""
        session = self.session()
        region = self.region(session)
        if not region:
            raise RetryableError(NO_REGION_MESSAGE)
        settings = self._settings
        if settings.access_key and settings.secret_key:
            base = Credentials(settings.access_key, settings.secret_key)
        else:
            base = session.get_credentials()
        if settings.role_arn:
            return self._assume_role(session, base, region), region
        if base is None:
            raise RetryableError("no AWS credentials found in sns.sigv4 or the default credential chain")
        return base.get_frozen_credentials(), region

    def _assume_role(self, session: Any, base: Any, region: str) -> Any:
        if self._assumed is not None and self._clock() < self._assumed_until:
            return self._assumed
        keys: dict[str, Any] = {}
        if base is not None:
            frozen = base.get_frozen_credentials()
            keys = {
                "aws_access_key_id": frozen.access_key,
                "aws_secret_access_key": frozen.secret_key,
                "aws_session_token": frozen.token,
            }
        sts = session.create_client("sts", region_name=region, **keys)
        answer = sts.assume_role(
            RoleArn=self._settings.role_arn, RoleSessionName=f"{ROLE_SESSION_PREFIX}{int(self._clock())}"
        )["Credentials"]
        self._assumed = Credentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])
        expires = answer["Expiration"].timestamp()
        self._assumed_until = expires - CREDENTIAL_REFRESH_MARGIN_SECONDS
        return self._assumed


def sign(url: str, body: bytes, credentials: Any, region: str) -> dict[str, str]:
    """The headers of a SigV4-signed POST (Authorization, X-Amz-Date, and the session
    token when there is one)."""
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": FORM_CONTENT_TYPE})
    SigV4Auth(credentials, SERVICE_NAME, region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


class SnsIntegration(HttpIntegration[SnsConfig]):
    name = INTEGRATION_NAME

    def __init__(
        self,
        receiver_name: str,
        index: int,
        config: SnsConfig,
        client: httpx.AsyncClient,
        templates: Templates,
        external_url: str,
        *,
        credentials: CredentialSource | None = None,
    ) -> None:
        super().__init__(receiver_name, index, config, client, templates, external_url)
        self._credentials = credentials or CredentialSource(config.sigv4)

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        form = build_publish_form(self.config, render, ctx.group_key)
        api_url = render(self.config.api_url)
        render.raise_if_failed()
        try:
            credentials, region = await trio.to_thread.run_sync(self._credentials.resolve)
        except (BotoCoreError, ClientError) as exc:
            raise RetryableError(f"sns credentials: {exc}") from None
        body = urllib.parse.urlencode(form).encode("ascii")
        url = endpoint_url(api_url, region)
        headers = sign(url, body, credentials, region)
        response = await send_http(
            self._client, "POST", url, content=body, headers=headers, content_type=None, check=False
        )
        message = error_message(response.content) if response.status_code // 100 != 2 else ""
        check_status(response.status_code, message.encode(), (), response.headers)


__all__ = [
    "INTEGRATION_NAME",
    "MAX_MESSAGE_BYTES",
    "MAX_SMS_BYTES",
    "CredentialSource",
    "SigV4Settings",
    "SnsConfig",
    "SnsIntegration",
    "build_publish_form",
    "endpoint_url",
    "error_message",
    "sign",
    "truncate_message",
]
