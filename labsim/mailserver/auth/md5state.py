"""MD5 with access to its internal state.

Dovecot's CRAM-MD5 credential is the pair of MD5 states left after hashing
the HMAC key XOR ipad and XOR opad blocks; hashlib does not expose those, so
this module carries a small MD5 of its own. It only ever hashes short
challenges, so speed does not matter.
"""

from __future__ import annotations

import math
import struct

_S = [7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4
_K = [int(abs(math.sin(i + 1)) * 2**32) & 0xFFFFFFFF for i in range(64)]
INIT = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)


def _rotl(x: int, c: int) -> int:
    x &= 0xFFFFFFFF
    return ((x << c) | (x >> (32 - c))) & 0xFFFFFFFF


def compress(state: tuple[int, int, int, int], block: bytes) -> tuple[int, int, int, int]:
    """One MD5 compression of a 64-byte block."""
    m = struct.unpack("<16I", block)
    a, b, c, d = state
    for i in range(64):
        if i < 16:
            f = (b & c) | (~b & d)
            g = i
        elif i < 32:
            f = (d & b) | (~d & c)
            g = (5 * i + 1) % 16
        elif i < 48:
            f = b ^ c ^ d
            g = (3 * i + 5) % 16
        else:
            f = c ^ (b | ~d)
            g = (7 * i) % 16
        f = (f + a + _K[i] + m[g]) & 0xFFFFFFFF
        a, d, c = d, c, b
        b = (b + _rotl(f, _S[i])) & 0xFFFFFFFF
    s = state
    return (
        (s[0] + a) & 0xFFFFFFFF,
        (s[1] + b) & 0xFFFFFFFF,
        (s[2] + c) & 0xFFFFFFFF,
        (s[3] + d) & 0xFFFFFFFF,
    )


def finish(state: tuple[int, int, int, int], data: bytes, prior_len: int) -> bytes:
    """The digest of (prior_len bytes already folded into `state`) + data."""
    total = prior_len + len(data)
    msg = data + b"\x80"
    msg += b"\0" * ((56 - len(msg) % 64) % 64)
    msg += struct.pack("<Q", (total * 8) & 0xFFFFFFFFFFFFFFFF)
    for i in range(0, len(msg), 64):
        state = compress(state, msg[i : i + 64])
    return struct.pack("<4I", *state)


def hmac_md5_states(secret: bytes) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """(inner, outer) states after the ipad and opad key blocks."""
    import hashlib

    key = hashlib.md5(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    inner = compress(INIT, bytes(k ^ 0x36 for k in key))
    outer = compress(INIT, bytes(k ^ 0x5C for k in key))
    return inner, outer


def cram_md5_credential(secret: bytes) -> bytes:
    """32 bytes: outer state then inner state, little-endian words (as Dovecot stores them)."""
    inner, outer = hmac_md5_states(secret)
    return struct.pack("<4I", *outer) + struct.pack("<4I", *inner)


def cram_md5_response(credential: bytes, challenge: bytes) -> str:
    """HMAC-MD5(challenge) in hex, computed from a stored CRAM-MD5 credential."""
    outer = struct.unpack("<4I", credential[:16])
    inner = struct.unpack("<4I", credential[16:32])
    inner_digest = finish((inner[0], inner[1], inner[2], inner[3]), challenge, 64)
    return finish((outer[0], outer[1], outer[2], outer[3]), inner_digest, 64).hex()
