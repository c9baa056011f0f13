"""Silence IDs drawn from a buffered block of kernel randomness."""

from __future__ import annotations

import uuid
from unittest import mock

from daemon import silences as silences_module
from daemon.silences import RANDOM_ID_BLOCK_BYTES, BufferedUuid4Source, Silences

IDS_PER_BLOCK = RANDOM_ID_BLOCK_BYTES // 16


def test_ids_are_the_uuid4_text_of_the_kernel_bytes() -> None:
    blocks = [bytes(range(256)) * (RANDOM_ID_BLOCK_BYTES // 256), bytes([0xFF]) * RANDOM_ID_BLOCK_BYTES]
    with mock.patch.object(silences_module.os, "urandom", side_effect=blocks) as urandom:
        source = BufferedUuid4Source()
        drawn = [source() for _ in range(IDS_PER_BLOCK + 1)]
    assert urandom.call_count == 2  # one syscall per block, not per ID
    for index, text in enumerate(drawn[:IDS_PER_BLOCK]):
        raw = blocks[0][index * 16 : index * 16 + 16]
        assert text == str(uuid.UUID(bytes=raw, version=4))
    assert drawn[0] == "00010203-0405-4607-8809-0a0b0c0d0e0f"
    assert drawn[-1] == "ffffffff-ffff-4fff-bfff-ffffffffffff"


def test_every_variant_digit_is_rfc4122() -> None:
    for first in range(256):
        raw = bytes([0] * 8 + [first] + [0] * 7)
        with mock.patch.object(silences_module.os, "urandom", return_value=raw * (RANDOM_ID_BLOCK_BYTES // 16)):
            text = BufferedUuid4Source()()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert text == str(uuid.UUID(bytes=raw, version=4))


def test_ids_are_unique_across_block_refills() -> None:
    source = BufferedUuid4Source()
    drawn = {source() for _ in range(3 * IDS_PER_BLOCK + 7)}
    assert len(drawn) == 3 * IDS_PER_BLOCK + 7
    assert all(uuid.UUID(text).version == 4 for text in drawn)


def test_silences_without_an_injected_generator_use_kernel_randomness() -> None:
    block = bytes([0xAB]) * RANDOM_ID_BLOCK_BYTES
    with mock.patch.object(silences_module.os, "urandom", return_value=block):
        assert Silences()._new_id() == "abababab-abab-4bab-abab-abababababab"
