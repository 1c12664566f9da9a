"""gmpy2's binary form of an ``mpq`` rational, decoded and encoded by hand (no gmpy2).

Layout (as stored in the smol-strats JSON files, each byte a latin-1 character):
byte 0 is ``0x03`` (the mpq tag); byte 1 is ``0x00`` for zero (two bytes in all), ``0x01``
for a positive and ``0x02`` for a negative value; bytes 2..5 hold the numerator's length
``n`` (uint32, little-endian); then ``n`` bytes of numerator and the remaining bytes of
denominator, both unsigned little-endian.

Example:
    >>> decode_mpq("\\x03\\x01\\x01\\x00\\x00\\x00\\x03\\x01")
    Fraction(3, 1)
    >>> encode_mpq(decode_mpq("\\x03\\x02\\x01\\x00\\x00\\x00\\x05\\x07"))
    '\\x03\\x02\\x01\\x00\\x00\\x00\\x05\\x07'
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["decode_mpq", "encode_mpq"]


def decode_mpq(text: str) -> Fraction:
    """Decode one gmpy2 binary mpq (given as a latin-1 string); ValueError if malformed."""
    if not isinstance(text, str):
        raise ValueError("a coordinate must be a string holding gmpy2's binary mpq")
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("a coordinate holds a character above U+00FF") from None
    if len(data) < 2 or data[0] != 0x03:
        raise ValueError("not a gmpy2 mpq (first byte must be 0x03)")
    sign = data[1]
    if sign == 0x00:
        if len(data) != 2:
            raise ValueError("a zero mpq must be exactly 2 bytes")
        return Fraction(0)
    if sign not in (0x01, 0x02):
        raise ValueError(f"bad mpq sign byte 0x{sign:02x}")
    if len(data) < 6:
        raise ValueError("truncated mpq (no numerator length)")
    n = int.from_bytes(data[2:6], "little")
    if n == 0 or 6 + n >= len(data):
        raise ValueError("truncated mpq (numerator or denominator missing)")
    num = int.from_bytes(data[6 : 6 + n], "little")
    den = int.from_bytes(data[6 + n :], "little")
    if num == 0 or den == 0:
        raise ValueError("mpq with a zero numerator or denominator")
    value = Fraction(num, den)
    return -value if sign == 0x02 else value


def encode_mpq(value: Fraction) -> str:
    """Encode a rational the way gmpy2 does (the inverse of :func:`decode_mpq`)."""
    if value == 0:
        return "\x03\x00"
    num = abs(value.numerator)
    den = value.denominator
    nb = num.to_bytes((num.bit_length() + 7) // 8, "little")
    db = den.to_bytes((den.bit_length() + 7) // 8, "little")
    head = bytes([0x03, 0x01 if value > 0 else 0x02]) + len(nb).to_bytes(4, "little")
    return (head + nb + db).decode("latin-1")
