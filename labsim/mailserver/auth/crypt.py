"""crypt(3) hashes: MD5-crypt, SHA256-crypt and SHA512-crypt in pure Python,
everything else (yescrypt, bcrypt, DES) through the system's libcrypt.

The pure-Python versions follow the published algorithms (PHK's MD5-crypt,
Drepper's "Unix crypt using SHA-256 and SHA-512") so a lab without libcrypt
still verifies the hashes Dovecot and Debian write.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable

ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

SHA_ROUNDS_DEFAULT = 5000
SHA_ROUNDS_MIN = 1000
SHA_ROUNDS_MAX = 999_999_999


def _b64_24(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(ITOA64[w & 0x3F])
        w >>= 6
    return "".join(out)


def gen_salt(length: int) -> str:
    return "".join(secrets.choice(ITOA64) for _ in range(length))


def md5_crypt(password: bytes, salt: str) -> str:
    """`$1$salt$hash`; `salt` may carry the `$1$` prefix and a trailing hash."""
    if salt.startswith("$1$"):
        salt = salt[3:]
    salt = salt.split("$", 1)[0][:8]
    s = salt.encode("latin-1", "replace")
    pw = password
    alt = hashlib.md5(pw + s + pw).digest()
    ctx = pw + b"$1$" + s
    n = len(pw)
    while n > 0:
        ctx += alt[: min(16, n)]
        n -= 16
    i = len(pw)
    while i:
        ctx += b"\0" if i & 1 else pw[:1]
        i >>= 1
    final = hashlib.md5(ctx).digest()
    for r in range(1000):
        c = pw if r & 1 else final
        if r % 3:
            c += s
        if r % 7:
            c += pw
        c += final if r & 1 else pw
        final = hashlib.md5(c).digest()
    f = final
    enc = (
        _b64_24(f[0], f[6], f[12], 4)
        + _b64_24(f[1], f[7], f[13], 4)
        + _b64_24(f[2], f[8], f[14], 4)
        + _b64_24(f[3], f[9], f[15], 4)
        + _b64_24(f[4], f[10], f[5], 4)
        + _b64_24(0, 0, f[11], 2)
    )
    return f"$1${salt}${enc}"


_SHA512_ORDER = [
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
]  # fmt: skip
_SHA256_ORDER = [
    (0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
    (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29),
]  # fmt: skip


def sha_crypt(password: bytes, setting: str, bits: int = 512, rounds: int | None = None) -> str:
    """`$5$`/`$6$` hashes. `setting` is a salt or a full `$6$[rounds=N$]salt[$...]` string."""
    magic = "$6$" if bits == 512 else "$5$"
    hfunc: Callable[[bytes], hashlib._Hash] = hashlib.sha512 if bits == 512 else hashlib.sha256
    hl = 64 if bits == 512 else 32
    rest = setting[3:] if setting.startswith(magic) else setting
    custom_rounds = rounds is not None
    n_rounds = rounds if rounds is not None else SHA_ROUNDS_DEFAULT
    if rest.startswith("rounds="):
        head, _, tail = rest.partition("$")
        digits = head[len("rounds=") :]
        if digits.isdigit():
            n_rounds = int(digits)
            custom_rounds = True
            rest = tail
    n_rounds = max(SHA_ROUNDS_MIN, min(SHA_ROUNDS_MAX, n_rounds))
    salt = rest.split("$", 1)[0][:16]
    s = salt.encode("latin-1", "replace")
    pw = password

    b = hfunc(pw + s + pw).digest()
    a = pw + s
    n = len(pw)
    while n > hl:
        a += b
        n -= hl
    a += b[:n]
    n = len(pw)
    while n > 0:
        a += b if n & 1 else pw
        n >>= 1
    a_d = hfunc(a).digest()
    dp = hfunc(pw * len(pw)).digest()
    p = (dp * (len(pw) // hl + 1))[: len(pw)]
    ds = hfunc(s * (16 + a_d[0])).digest()
    sb = (ds * (len(s) // hl + 1))[: len(s)]
    c = a_d
    for r in range(n_rounds):
        x = p if r & 1 else c
        if r % 3:
            x += sb
        if r % 7:
            x += p
        x += c if r & 1 else p
        c = hfunc(x).digest()
    if bits == 512:
        enc = "".join(_b64_24(c[i], c[j], c[k], 4) for i, j, k in _SHA512_ORDER) + _b64_24(0, 0, c[63], 2)
    else:
        enc = "".join(_b64_24(c[i], c[j], c[k], 4) for i, j, k in _SHA256_ORDER) + _b64_24(0, c[31], c[30], 3)
    rounds_part = f"rounds={n_rounds}$" if custom_rounds else ""
    return f"{magic}{rounds_part}{salt}${enc}"


# --- the system's crypt(3) -------------------------------------------------

_libcrypt_lock = threading.Lock()
_libcrypt: ctypes.CDLL | None = None
_libcrypt_tried = False


def _load_libcrypt() -> ctypes.CDLL | None:
    global _libcrypt, _libcrypt_tried
    if _libcrypt_tried:
        return _libcrypt
    _libcrypt_tried = True
    name = ctypes.util.find_library("crypt")
    candidates = [n for n in (name, "libcrypt.so.1", "libcrypt.so.2") if n]
    for cand in candidates:
        try:
            lib = ctypes.CDLL(cand)
            lib.crypt.restype = ctypes.c_char_p
            lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        except (OSError, AttributeError):
            continue
        _libcrypt = lib
        break
    return _libcrypt


def system_crypt(password: bytes, setting: str) -> str | None:
    """crypt(3) from libcrypt; None when unavailable or the setting is refused."""
    if b"\0" in password:
        return None
    lib = _load_libcrypt()
    if lib is None:
        return None
    try:
        setting_b = setting.encode("ascii")
    except UnicodeEncodeError:
        return None
    with _libcrypt_lock:
        try:
            out: bytes | None = lib.crypt(password, setting_b)
        except (OSError, ValueError):
            return None
    if not out:
        return None
    text = out.decode("ascii", "replace")
    # libxcrypt signals failure with "*0"/"*1" (never a valid hash).
    if text.startswith("*"):
        return None
    return text


def crypt(password: bytes, setting: str) -> str | None:
    """Any crypt(3) hash: pure Python for $1$, $5$, $6$, libcrypt for the rest."""
    if setting.startswith("$1$"):
        return md5_crypt(password, setting)
    if setting.startswith("$5$"):
        return sha_crypt(password, setting, 256)
    if setting.startswith("$6$"):
        return sha_crypt(password, setting, 512)
    return system_crypt(password, setting)


def crypt_verify(password: bytes, stored: str) -> bool:
    """Fail closed: a locked (`!`, `*`), empty or unverifiable hash never matches."""
    if not stored or stored[0] in "!*":
        return False
    computed = crypt(password, stored)
    if computed is None:
        return False
    return hmac.compare_digest(computed.encode(), stored.encode())


def bcrypt_salt() -> str:
    # bcrypt's own base64 alphabet; 22 characters carry the 128-bit salt.
    alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    body = "".join(secrets.choice(alphabet) for _ in range(21))
    # The last character only carries 4 bits; pick one whose low bits are 0.
    return body + secrets.choice(".Oeu")
