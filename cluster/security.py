"""Gossip encryption compatible with memberlist's keyring (AES-GCM).

Wire format (memberlist v0.5.0, encryption version 1, which every protocol version >= 1
peer sends):

    packet  = version(1) | nonce(12) | AES-GCM ciphertext with its 16-byte tag
    stream  = 0x0a (encryptMsg) | uint32 big-endian length of what follows | packet layout

The additional authenticated data is the cluster label for packets and, for streams, the
five header bytes followed by the label. Alertmanager 0.25 sets no label, so it is empty by
default. Version 0 (PKCS#7-padded plaintext) is still accepted when decrypting, as
memberlist does. The primary (first) key encrypts; every key is tried when decrypting, which
is how keys are rotated without downtime.

Key file (`--cluster.key-file`, a tocsin addition; Alertmanager 0.25 has no gossip
encryption flag): one key per line, each the standard base64 encoding of 16, 24 or 32
random bytes (AES-128/192/256), e.g. from `head -c 32 /dev/urandom | base64`. Blank lines and
lines starting with `#` are ignored. The first key is the primary key. Every member of a
cluster needs the same keys; a peer without them cannot join (its packets and push/pulls are
rejected), and mixing with an Alertmanager that runs without encryption is not possible.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENCRYPTION_VERSION_PADDED: Final = 0
ENCRYPTION_VERSION_UNPADDED: Final = 1
VERSION_BYTES: Final = 1
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
AES_BLOCK_BYTES: Final = 16
# memberlist's message type byte that opens an encrypted stream message.
ENCRYPT_MESSAGE_TYPE: Final = 10
STREAM_HEADER_BYTES: Final = 5
# AES-128, AES-192 and AES-256, the key sizes memberlist's keyring accepts.
VALID_KEY_SIZES: Final = (16, 24, 32)
# What encryption adds to a packet: version, nonce and tag (memberlist's encryptOverhead).
PACKET_OVERHEAD_BYTES: Final = VERSION_BYTES + NONCE_BYTES + TAG_BYTES
# A key file is a handful of lines; refuse to read something that is clearly not one.
MAX_KEY_FILE_BYTES: Final = 64 * 1024


class SecurityError(ValueError):
    """A message could not be decrypted, or a key is unusable."""


def _validate_key(key: bytes) -> bytes:
    if len(key) not in VALID_KEY_SIZES:
        raise SecurityError(f"key size must be 16, 24 or 32 bytes, got {len(key)}")
    return key


class Keyring:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SecurityError("a keyring needs at least one key")
        self._ciphers = [AESGCM(_validate_key(bytes(key))) for key in keys]

    @classmethod
    def from_file(cls, path: str | Path) -> Keyring:
        """Load a key file (format in the module docstring). Raises SecurityError."""
        try:
            with open(path, "rb") as file:
                raw = file.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as error:
            raise SecurityError(f"reading cluster key file: {error}") from error
        if len(raw) > MAX_KEY_FILE_BYTES:
            raise SecurityError(f"cluster key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes")
        keys = []
        for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                key = base64.b64decode(text, validate=True)
            except binascii.Error as error:
                raise SecurityError(f"cluster key file {path} line {number}: invalid base64: {error}") from error
            try:
                keys.append(_validate_key(key))
            except SecurityError as error:
                raise SecurityError(f"cluster key file {path} line {number}: {error}") from error
        if not keys:
            raise SecurityError(f"cluster key file {path} holds no key")
        return cls(keys)

    # --- packets ----------------------------------------------------------------------------

    def encrypt_packet(self, plaintext: bytes, label: bytes = b"") -> bytes:
        return self._seal(plaintext, label)

    def decrypt_packet(self, message: bytes, label: bytes = b"") -> bytes:
        return self._open(message, label)

    # --- streams ----------------------------------------------------------------------------

    def encrypt_stream(self, plaintext: bytes, label: bytes = b"") -> bytes:
        sealed_length = VERSION_BYTES + NONCE_BYTES + len(plaintext) + TAG_BYTES
        header = struct.pack(">BI", ENCRYPT_MESSAGE_TYPE, sealed_length)
        return header + self._seal(plaintext, header + label)

    def decrypt_stream(self, message: bytes, label: bytes = b"") -> bytes:
        """One whole encrypted stream message (type byte and length included)."""
        if len(message) < STREAM_HEADER_BYTES or message[0] != ENCRYPT_MESSAGE_TYPE:
            raise SecurityError("Encryption is configured but remote state is not encrypted")
        (length,) = struct.unpack(">I", message[1:STREAM_HEADER_BYTES])
        body = message[STREAM_HEADER_BYTES:]
        if len(body) != length:
            raise SecurityError(f"encrypted stream announces {length} bytes but holds {len(body)}")
        return self._open(body, message[:STREAM_HEADER_BYTES] + label)

    # --- AES-GCM ----------------------------------------------------------------------------

    def _seal(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[0].encrypt(nonce, plaintext, associated or None)
        return bytes((ENCRYPTION_VERSION_UNPADDED,)) + nonce + sealed

    def _open(self, message: bytes, associated: bytes) -> bytes:
        if not message:
            raise SecurityError("Cannot decrypt empty payload")
        version = message[0]
        if version > ENCRYPTION_VERSION_UNPADDED:
            raise SecurityError(f"Unsupported encryption version {version}")
        minimum = VERSION_BYTES + NONCE_BYTES + TAG_BYTES
        if version == ENCRYPTION_VERSION_PADDED:
            minimum += AES_BLOCK_BYTES
        if len(message) < minimum:
            raise SecurityError(f"Payload is too small to decrypt: {len(message)}")
        nonce = message[VERSION_BYTES : VERSION_BYTES + NONCE_BYTES]
        ciphertext = message[VERSION_BYTES + NONCE_BYTES :]
        for cipher in self._ciphers:
            try:
                plain = cipher.decrypt(nonce, ciphertext, associated or None)
            except InvalidTag:
                continue
            if version == ENCRYPTION_VERSION_PADDED:
                return _pkcs7_unpad(plain)
            return plain
        raise SecurityError("No installed keys could decrypt the message")


def _pkcs7_unpad(data: bytes) -> bytes:
    padding = data[-1] if data else 0
    if not 1 <= padding <= AES_BLOCK_BYTES or padding > len(data):
        raise SecurityError("invalid padding in a version 0 encrypted message")
    return data[:-padding]
