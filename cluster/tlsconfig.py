"""Alertmanager's `--cluster.tls-config` file, parsed strictly, turned into SSL contexts.

    tls_server_config:            # prometheus/exporter-toolkit web.TLSConfig
      cert_file, key_file         # required
      client_auth_type            # NoClientCert (default), RequestClientCert,
                                  # RequireAnyClientCert (alias RequireClientCert),
                                  # VerifyClientCertIfGiven, RequireAndVerifyClientCert
      client_ca_file
      cipher_suites, curve_preferences    # Go names; validated as lists of strings
      min_version, max_version            # TLS10, TLS11, TLS12, TLS13
      prefer_server_cipher_suites         # bool
    tls_client_config:            # prometheus/common config.TLSConfig
      ca_file, cert_file, key_file, server_name, insecure_skip_verify, min_version,
      max_version

Unknown keys are errors (Go's yaml.UnmarshalStrict). Relative paths are relative to the
config file's directory. Differences from Go's TLS stack, by necessity: cipher suite and
curve names are accepted but OpenSSL's defaults apply, and RequireAnyClientCert verifies the
client certificate against `client_ca_file` (OpenSSL cannot demand a certificate without
verifying it).
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from pathlib import Path
from typing import Any, Final

import yaml

TLS_VERSIONS: Final = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH_TYPES: Final = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_SERVER_KEYS: Final = {
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "cipher_suites",
    "curve_preferences",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
}
_CLIENT_KEYS: Final = {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify", "min_version", "max_version"}
_TOP_KEYS: Final = {"tls_server_config", "tls_client_config"}


class TLSConfigError(ValueError):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class TLSServerConfig:
    cert_file: str
    key_file: str
    client_auth_type: str = ""
    client_ca_file: str = ""
    cipher_suites: tuple[str, ...] = ()
    curve_preferences: tuple[str, ...] = ()
    min_version: str = ""
    max_version: str = ""
    prefer_server_cipher_suites: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class TLSClientConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""
    max_version: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class TLSTransportConfig:
    server: TLSServerConfig | None
    client: TLSClientConfig | None

    def server_context(self) -> ssl.SSLContext:
        if self.server is None:
            raise TLSConfigError("missing tls_server_config")
        return build_server_context(self.server)

    def client_context(self) -> ssl.SSLContext:
        return build_client_context(self.client or TLSClientConfig())

    @property
    def server_name(self) -> str:
        return self.client.server_name if self.client is not None else ""


def _check_keys(section: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TLSConfigError(f"{section}: expected a mapping")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise TLSConfigError(f"{section}: field {unknown[0]} not found in type")
    return value


def _string(section: str, data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TLSConfigError(f"{section}.{key}: expected a string")
    return value


def _strings(section: str, data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TLSConfigError(f"{section}.{key}: expected a list of strings")
    return tuple(value)


def _bool(section: str, data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise TLSConfigError(f"{section}.{key}: expected a boolean")
    return value


def _version(section: str, data: dict[str, Any], key: str) -> str:
    value = _string(section, data, key)
    if value and value not in TLS_VERSIONS:
        raise TLSConfigError(f"unknown TLS version: {value}")
    return value


def _path(base: Path, value: str) -> str:
    return value if not value or os.path.isabs(value) else str(base / value)


def parse_tls_config(text: str, base_dir: Path) -> TLSTransportConfig:
    """Parse the YAML text; relative file paths are joined with `base_dir`."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TLSConfigError(f"invalid YAML: {error}") from error
    top = _check_keys("tls config", document, _TOP_KEYS)
    server: TLSServerConfig | None = None
    client: TLSClientConfig | None = None
    if top.get("tls_server_config") is not None:
        section = "tls_server_config"
        data = _check_keys(section, top[section], _SERVER_KEYS)
        auth = _string(section, data, "client_auth_type")
        if auth not in CLIENT_AUTH_TYPES:
            raise TLSConfigError(f"Invalid ClientAuth: {auth}")
        server = TLSServerConfig(
            cert_file=_path(base_dir, _string(section, data, "cert_file")),
            key_file=_path(base_dir, _string(section, data, "key_file")),
            client_auth_type=auth,
            client_ca_file=_path(base_dir, _string(section, data, "client_ca_file")),
            cipher_suites=_strings(section, data, "cipher_suites"),
            curve_preferences=_strings(section, data, "curve_preferences"),
            min_version=_version(section, data, "min_version"),
            max_version=_version(section, data, "max_version"),
            prefer_server_cipher_suites=_bool(section, data, "prefer_server_cipher_suites"),
        )
        if not server.cert_file:
            raise TLSConfigError("missing cert_file")
        if not server.key_file:
            raise TLSConfigError("missing key_file")
    if top.get("tls_client_config") is not None:
        section = "tls_client_config"
        data = _check_keys(section, top[section], _CLIENT_KEYS)
        client = TLSClientConfig(
            ca_file=_path(base_dir, _string(section, data, "ca_file")),
            cert_file=_path(base_dir, _string(section, data, "cert_file")),
            key_file=_path(base_dir, _string(section, data, "key_file")),
            server_name=_string(section, data, "server_name"),
            insecure_skip_verify=_bool(section, data, "insecure_skip_verify"),
            min_version=_version(section, data, "min_version"),
            max_version=_version(section, data, "max_version"),
        )
        if bool(client.cert_file) != bool(client.key_file):
            raise TLSConfigError("client cert file and key file must both be set or both be empty")
    return TLSTransportConfig(server, client)


def load_tls_config(path: str | Path) -> TLSTransportConfig | None:
    """Alertmanager's GetTLSTransportConfig: None for an empty path."""
    if not path:
        return None
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as error:
        raise TLSConfigError(f"reading {file}: {error}") from error
    return parse_tls_config(text, file.parent)


def _apply_versions(context: ssl.SSLContext, min_version: str, max_version: str) -> None:
    # Go's default minimum is TLS 1.2; keep that when nothing is configured.
    context.minimum_version = TLS_VERSIONS[min_version] if min_version else ssl.TLSVersion.TLSv1_2
    if max_version:
        context.maximum_version = TLS_VERSIONS[max_version]


def build_server_context(config: TLSServerConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _apply_versions(context, config.min_version, config.max_version)
    try:
        context.load_cert_chain(config.cert_file, config.key_file)
        if config.client_ca_file:
            context.load_verify_locations(config.client_ca_file)
    except (OSError, ssl.SSLError) as error:
        raise TLSConfigError(f"loading TLS server files: {error}") from error
    context.verify_mode = CLIENT_AUTH_TYPES[config.client_auth_type]
    if config.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def build_client_context(config: TLSClientConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _apply_versions(context, config.min_version, config.max_version)
    try:
        if config.ca_file:
            context.load_verify_locations(config.ca_file)
        else:
            context.load_default_certs()
        if config.cert_file:
            context.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError) as error:
        raise TLSConfigError(f"loading TLS client files: {error}") from error
    if config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
