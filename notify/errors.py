"""Errors an integration raises from `send()`, and how HTTP outcomes map onto them.

    NotifyError                 anything that stopped one notification attempt
     ├── RetryableError         try again after the backoff: 5xx, the integration's extra
     │                          retry codes (429 for PagerDuty v2 and OpsGenie, 403 for
     │                          PagerDuty v1), transport errors (refused, reset, TLS, timeout)
     └── PermanentError         give up at once: any other non-2xx status, a payload that
                                cannot be built, a secret file that cannot be read

The retry loop (`notify.retry`) only looks at this split. Error texts follow Alertmanager's:
`unexpected status code 500: <body>` (just `unexpected status code 500` for an empty body),
and transport errors name the request as Go's `url.Error` does with the URL redacted, since it
may hold a secret (`Post "<redacted>": connection refused`).
"""

from __future__ import annotations

from collections.abc import Collection

REDACTED_URL = "<redacted>"
# Go's retrier puts the whole body into the message; keep an error message (and so a log line)
# bounded when an endpoint answers with a whole HTML page.
MAX_ERROR_BODY_CHARS = 4096

STATUS_CLASS_SUCCESS = 2
STATUS_CLASS_SERVER_ERROR = 5


class NotifyError(Exception):
    """One attempt failed; `retryable` says whether another attempt may help."""

    retryable: bool = False


class RetryableError(NotifyError):
    retryable = True


class PermanentError(NotifyError):
    retryable = False


def is_success(status_code: int) -> bool:
    return status_code // 100 == STATUS_CLASS_SUCCESS


def is_retryable_status(status_code: int, extra_retry_codes: Collection[int] = ()) -> bool:
    return status_code // 100 == STATUS_CLASS_SERVER_ERROR or status_code in extra_retry_codes


def status_error_text(status_code: int, details: str) -> str:
    text = f"unexpected status code {status_code}"
    if details:
        if len(details) > MAX_ERROR_BODY_CHARS:
            details = details[:MAX_ERROR_BODY_CHARS] + "…"
        text = f"{text}: {details}"
    return text


def check_status(status_code: int, body: bytes, extra_retry_codes: Collection[int] = ()) -> None:
    """Alertmanager's retrier: return on 2xx, else raise the classified error."""
    if is_success(status_code):
        return
    message = status_error_text(status_code, body.decode("utf-8", errors="replace"))
    if is_retryable_status(status_code, extra_retry_codes):
        raise RetryableError(message)
    raise PermanentError(message)


def _go_operation_name(method: str) -> str:
    # Go's url.Error names the operation like "Post" or "Get".
    return method[:1].upper() + method[1:].lower()


def transport_error(method: str, exc: BaseException) -> RetryableError:
    """A request that got no HTTP answer: always worth retrying, URL redacted."""
    cause = str(exc) or type(exc).__name__
    return RetryableError(f'{_go_operation_name(method)} "{REDACTED_URL}": {cause}')


def redact(text: str, secret: str) -> str:
    """Remove a secret (typically a URL) from a message that may quote it."""
    return text.replace(secret, REDACTED_URL) if secret else text


__all__ = [
    "MAX_ERROR_BODY_CHARS",
    "REDACTED_URL",
    "NotifyError",
    "PermanentError",
    "RetryableError",
    "check_status",
    "is_retryable_status",
    "is_success",
    "redact",
    "status_error_text",
    "transport_error",
]
