"""LZW as Go's `compress/lzw` writes it with LSB bit order and 8-bit literals, which is
what memberlist uses inside its `compress` message.

Format facts (from Go's reader and writer): code 256 clears the table, 257 ends the stream,
the first table entry is 258; codes start 9 bits wide and grow by one bit when the next
entry to assign reaches a power of two, up to 12 bits. The writer opens every stream with a
clear code and emits a clear code itself when the table is full (code 4095), then restarts
at 9 bits. Bits are packed least significant first; the last partial byte is padded with
zeros.
"""

from __future__ import annotations

LITERAL_WIDTH = 8
CLEAR_CODE = 1 << LITERAL_WIDTH
END_CODE = CLEAR_CODE + 1
FIRST_WIDTH = LITERAL_WIDTH + 1
MAX_WIDTH = 12
MAX_CODE = (1 << MAX_WIDTH) - 1


class LzwError(ValueError):
    """The compressed bytes are not a valid stream, or expand beyond the caller's limit."""


class _BitWriter:
    __slots__ = ("bits", "nbits", "out")

    def __init__(self) -> None:
        self.out = bytearray()
        self.bits = 0
        self.nbits = 0

    def write(self, code: int, width: int) -> None:
        self.bits |= code << self.nbits
        self.nbits += width
        while self.nbits >= 8:
            self.out.append(self.bits & 0xFF)
            self.bits >>= 8
            self.nbits -= 8

    def finish(self) -> bytes:
        if self.nbits > 0:
            self.out.append(self.bits & 0xFF)
        return bytes(self.out)


def compress(data: bytes) -> bytes:
    """Compress `data` to exactly the bytes Go's `lzw.NewWriter(w, lzw.LSB, 8)` produces."""
    writer = _BitWriter()
    writer.write(CLEAR_CODE, FIRST_WIDTH)
    if not data:
        writer.write(END_CODE, FIRST_WIDTH)
        return writer.finish()

    width = FIRST_WIDTH
    highest = END_CODE  # the last code assigned so far
    overflow = 1 << FIRST_WIDTH
    table: dict[int, int] = {}  # (prefix code << 8 | next byte) -> code

    def next_code() -> bool:
        """Claims the next code; False when the table just filled up and was cleared."""
        nonlocal highest, width, overflow
        highest += 1
        if highest == overflow:
            width += 1
            overflow <<= 1
        if highest == MAX_CODE:
            writer.write(CLEAR_CODE, width)
            width = FIRST_WIDTH
            highest = END_CODE
            overflow = 1 << FIRST_WIDTH
            table.clear()
            return False
        return True

    code = data[0]
    for literal in data[1:]:
        key = (code << 8) | literal
        known = table.get(key)
        if known is not None:
            code = known
            continue
        writer.write(code, width)
        code = literal
        if next_code():
            table[key] = highest
    writer.write(code, width)
    next_code()
    writer.write(END_CODE, width)
    return writer.finish()


def decompress(data: bytes, max_output: int) -> bytes:
    """Expand an LZW stream; raises LzwError on a malformed stream or past `max_output`."""
    out = bytearray()
    entries: dict[int, bytes] = {}
    width = FIRST_WIDTH
    highest = END_CODE
    overflow = 1 << FIRST_WIDTH
    previous: bytes | None = None
    bits = 0
    nbits = 0
    position = 0
    while True:
        while nbits < width:
            if position >= len(data):
                raise LzwError("lzw: unexpected end of compressed data")
            bits |= data[position] << nbits
            position += 1
            nbits += 8
        code = bits & ((1 << width) - 1)
        bits >>= width
        nbits -= width

        if code == CLEAR_CODE:
            width = FIRST_WIDTH
            highest = END_CODE
            overflow = 1 << FIRST_WIDTH
            previous = None
            entries.clear()
            continue
        if code == END_CODE:
            return bytes(out)
        if code < CLEAR_CODE:
            chunk = bytes((code,))
        elif code in entries and code != highest:
            chunk = entries[code]
        elif code == highest and previous is not None:
            # The code being defined by this very step (the "cScSc" case).
            chunk = previous + previous[:1]
        elif code == highest and code in entries:
            chunk = entries[code]
        else:
            raise LzwError("lzw: invalid code")
        if previous is not None:
            entries[highest] = previous + chunk[:1]
        out += chunk
        if len(out) > max_output:
            raise LzwError(f"lzw: decompressed data exceeds the limit of {max_output} bytes")
        previous = chunk
        highest += 1
        if highest >= overflow:
            if width == MAX_WIDTH:
                # Table full: the writer sends a clear code next; until then add nothing.
                previous = None
                highest -= 1
            else:
                width += 1
                overflow <<= 1
