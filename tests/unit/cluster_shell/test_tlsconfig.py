"""--cluster.tls-config parsing (strict, as Go's yaml.UnmarshalStrict) and the TLS
transport's MemberlistMessage framing (golden bytes from Alertmanager's clusterpb)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from cluster import transport
from cluster.tlsconfig import TLSConfigError, load_tls_config, parse_tls_config


def test_full_config_with_relative_paths(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "node.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    (tmp_path / "tls.yml").write_text(
        "tls_server_config:\n"
        "  cert_file: node.pem\n"
        "  key_file: node.pem\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        "  client_ca_file: ca.pem\n"
        "  min_version: TLS13\n"
        "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"
        "  prefer_server_cipher_suites: true\n"
        "tls_client_config:\n"
        "  ca_file: ca.pem\n"
        "  cert_file: node.pem\n"
        "  key_file: node.pem\n"
        "  server_name: 127.0.0.1\n"
    )
    config = load_tls_config(tmp_path / "tls.yml")
    assert config is not None and config.server is not None
    assert config.server.cert_file == str(tmp_path / "node.pem")
    assert config.server_name == "127.0.0.1"
    server = config.server_context()
    assert server.verify_mode == ssl.CERT_REQUIRED
    assert server.minimum_version == ssl.TLSVersion.TLSv1_3
    client = config.client_context()
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname


def test_empty_path_means_no_tls() -> None:
    assert load_tls_config("") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  bogus: 1\n", "field bogus not found"),
        ("tls_client_config:\n  insecure_skip_verify: maybe\n", "expected a boolean"),
        ("tls_server_config:\n  cert_file: a\n", "missing key_file"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n", "Invalid ClientAuth"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n", "unknown TLS version: SSL3"),
        ("cluster_tls: {}\n", "field cluster_tls not found"),
        ("tls_client_config:\n  cert_file: a\n", "both be set"),
    ],
)
def test_invalid_configs_are_refused(text: str, message: str) -> None:
    with pytest.raises(TLSConfigError, match=message):
        parse_tls_config(text, Path("/etc"))


def test_memberlist_message_frame_golden_bytes() -> None:
    # clusterpb.MemberlistMessage{Version "v0.1.0", Kind PACKET, FromAddr "127.0.0.1:9094", Msg 02 03}
    body = "0a0676302e312e3010011a0e3132372e302e302e313a3930393422020203"
    frame = transport.encode_tls_frame(transport.TLS_KIND_PACKET, "127.0.0.1:9094", b"\x02\x03")
    assert frame.hex() == "1e000000" + body
    assert transport.decode_tls_message(bytes.fromhex(body)) == ("v0.1.0", 1, "127.0.0.1:9094", b"\x02\x03")
    stream_frame = transport.encode_tls_frame(transport.TLS_KIND_STREAM, "", b"")
    assert stream_frame == b"\x08\x00\x00\x00" + bytes.fromhex("0a0676302e312e30")
