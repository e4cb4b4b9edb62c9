"""Password schemes: Dovecot's {SCHEME} hashes and crypt(3) hashes.

    hash_password("SHA512-CRYPT", "secret") -> "$6$salt$..."     (no {SCHEME} prefix)
    verify_password(stored, "secret", default_scheme="CRYPT") -> bool
        `stored` may carry a "{SCHEME}" prefix (passwd-file) or be a bare crypt hash (shadow).

Scheme names are case-insensitive and may end in `.b64`/`.hex` to pick the
encoding of a binary digest, as in Dovecot.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from labsim.mailserver.auth import crypt as _crypt
from labsim.mailserver.auth.md5state import cram_md5_credential


class UnknownScheme(ValueError):
    """`Unknown scheme: NAME`, as doveadm says it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown scheme: {name}")
        self.name = name


@dataclass(frozen=True)
class Scheme:
    name: str
    # "raw": the stored text is the hash itself (plaintext, crypt strings);
    # "hex"/"b64": a binary digest in that default encoding.
    encoding: str
    generate: Callable[[bytes, str, int | None], bytes]
    verify: Callable[[bytes, bytes, str], bool]
    digest_len: int = 0  # for unsalted binary digests: helps guess the encoding


def _salted(hfunc: Callable[[bytes], bytes], dlen: int) -> tuple[Callable[..., bytes], Callable[..., bool]]:
    def gen(pw: bytes, user: str, rounds: int | None) -> bytes:
        salt = os.urandom(4)
        return hfunc(pw + salt) + salt

    def ver(pw: bytes, raw: bytes, user: str) -> bool:
        if len(raw) <= dlen:
            return False
        salt = raw[dlen:]
        return hmac.compare_digest(hfunc(pw + salt), raw[:dlen])

    return gen, ver


def _plain_digest(hfunc: Callable[[bytes], bytes]) -> tuple[Callable[..., bytes], Callable[..., bool]]:
    def gen(pw: bytes, user: str, rounds: int | None) -> bytes:
        return hfunc(pw)

    def ver(pw: bytes, raw: bytes, user: str) -> bool:
        return hmac.compare_digest(hfunc(pw), raw)

    return gen, ver


def _md5(b: bytes) -> bytes:
    return hashlib.md5(b).digest()


def _sha1(b: bytes) -> bytes:
    return hashlib.sha1(b).digest()


def _sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _sha512(b: bytes) -> bytes:
    return hashlib.sha512(b).digest()


def _digest_md5(pw: bytes, user: str) -> bytes:
    name, _, realm = user.partition("@")
    return hashlib.md5(name.encode() + b":" + realm.encode() + b":" + pw).digest()


def _plain_gen(pw: bytes, user: str, rounds: int | None) -> bytes:
    return pw


def _plain_ver(pw: bytes, raw: bytes, user: str) -> bool:
    return hmac.compare_digest(pw, raw)


def _crypt_ver(pw: bytes, raw: bytes, user: str) -> bool:
    return _crypt.crypt_verify(pw, raw.decode("latin-1"))


def _sha_crypt_gen(bits: int) -> Callable[[bytes, str, int | None], bytes]:
    def gen(pw: bytes, user: str, rounds: int | None) -> bytes:
        return _crypt.sha_crypt(pw, _crypt.gen_salt(16), bits, rounds).encode()

    return gen


def _md5_crypt_gen(pw: bytes, user: str, rounds: int | None) -> bytes:
    return _crypt.md5_crypt(pw, _crypt.gen_salt(8)).encode()


def _blf_crypt_gen(pw: bytes, user: str, rounds: int | None) -> bytes:
    cost = max(4, min(31, rounds if rounds is not None else 5))
    out = _crypt.system_crypt(pw, f"$2y${cost:02d}${_crypt.bcrypt_salt()}")
    if out is None:
        # No libcrypt with bcrypt: the strongest hash we can make ourselves.
        return _crypt.sha_crypt(pw, _crypt.gen_salt(16), 512).encode()
    return out.encode()


def _des_crypt_gen(pw: bytes, user: str, rounds: int | None) -> bytes:
    out = _crypt.system_crypt(pw, _crypt.gen_salt(2))
    if out is None:
        return _crypt.md5_crypt(pw, _crypt.gen_salt(8)).encode()
    return out.encode()


def _cram_gen(pw: bytes, user: str, rounds: int | None) -> bytes:
    return cram_md5_credential(pw)


def _cram_ver(pw: bytes, raw: bytes, user: str) -> bool:
    return hmac.compare_digest(cram_md5_credential(pw), raw)


def _build() -> dict[str, Scheme]:
    table: dict[str, Scheme] = {}

    def add(
        names: tuple[str, ...],
        encoding: str,
        gen: Callable[..., bytes],
        ver: Callable[..., bool],
        dlen: int = 0,
    ) -> None:
        for n in names:
            table[n] = Scheme(names[0], encoding, gen, ver, dlen)

    add(("PLAIN", "CLEAR", "CLEARTEXT"), "raw", _plain_gen, _plain_ver)
    add(("CRAM-MD5", "HMAC-MD5"), "hex", _cram_gen, _cram_ver, 32)
    add(
        ("DIGEST-MD5",),
        "hex",
        lambda pw, u, r: _digest_md5(pw, u),
        lambda pw, raw, u: hmac.compare_digest(_digest_md5(pw, u), raw),
        16,
    )
    add(("PLAIN-MD5",), "hex", *_plain_digest(_md5), 16)
    add(("LDAP-MD5",), "b64", *_plain_digest(_md5), 16)
    add(("SMD5",), "b64", *_salted(_md5, 16))
    add(("SHA", "SHA1"), "b64", *_plain_digest(_sha1), 20)
    add(("SSHA",), "b64", *_salted(_sha1, 20))
    add(("SHA256",), "b64", *_plain_digest(_sha256), 32)
    add(("SSHA256",), "b64", *_salted(_sha256, 32))
    add(("SHA512",), "b64", *_plain_digest(_sha512), 64)
    add(("SSHA512",), "b64", *_salted(_sha512, 64))
    add(("MD5-CRYPT", "MD5"), "raw", _md5_crypt_gen, _crypt_ver)
    add(("SHA256-CRYPT",), "raw", _sha_crypt_gen(256), _crypt_ver)
    add(("SHA512-CRYPT",), "raw", _sha_crypt_gen(512), _crypt_ver)
    add(("BLF-CRYPT",), "raw", _blf_crypt_gen, _crypt_ver)
    add(("DES-CRYPT",), "raw", _des_crypt_gen, _crypt_ver)
    # CRYPT verifies whatever crypt(3) knows; doveadm 2.3 generates bcrypt with it.
    add(("CRYPT",), "raw", _blf_crypt_gen, _crypt_ver)
    return table


SCHEMES = _build()
PLAINTEXT_SCHEMES = {"PLAIN"}


def parse_scheme(name: str) -> tuple[Scheme, str | None]:
    """("SHA256.b64") -> (the SHA256 scheme, "b64"); raises UnknownScheme."""
    upper = name.strip().upper()
    base, dot, enc = upper.rpartition(".")
    if dot and enc in ("B64", "BASE64", "HEX"):
        forced: str | None = "hex" if enc == "HEX" else "b64"
    else:
        base, forced = upper, None
    scheme = SCHEMES.get(base)
    if scheme is None:
        raise UnknownScheme(name)
    return scheme, forced


def split_stored(stored: str, default_scheme: str = "CRYPT") -> tuple[str, str]:
    """("{SHA}abc") -> ("SHA", "abc"); a bare value gets `default_scheme`."""
    if stored.startswith("{"):
        end = stored.find("}")
        if end > 1:
            return stored[1:end], stored[end + 1 :]
    return default_scheme, stored


def _encode(raw: bytes, encoding: str) -> str:
    if encoding == "hex":
        return raw.hex()
    if encoding == "b64":
        return base64.b64encode(raw).decode("ascii")
    return raw.decode("utf-8", "surrogateescape")


def _decode(body: str, scheme: Scheme, forced: str | None) -> bytes | None:
    if scheme.encoding == "raw" and forced is None:
        return body.encode("utf-8", "surrogateescape")
    order = [forced] if forced else [scheme.encoding, "b64" if scheme.encoding == "hex" else "hex"]
    for enc in order:
        try:
            if enc == "hex":
                if scheme.digest_len and forced is None and len(body) != scheme.digest_len * 2:
                    continue
                return bytes.fromhex(body)
            raw = base64.b64decode(body.encode("ascii"), validate=True)
            if scheme.digest_len and forced is None and len(raw) != scheme.digest_len:
                continue
            return raw
        except (ValueError, binascii.Error, UnicodeEncodeError):
            continue
    return None


def hash_password(scheme: str, password: str, user: str = "", rounds: int | None = None) -> str:
    sch, forced = parse_scheme(scheme)
    raw = sch.generate(password.encode("utf-8", "surrogateescape"), user, rounds)
    return _encode(raw, forced or sch.encoding)


def verify_password_detail(
    stored: str, password: str, user: str = "", default_scheme: str = "CRYPT"
) -> tuple[bool, str | None]:
    """(matched, problem): problem is Dovecot's complaint about the stored value, if any."""
    name, body = split_stored(stored, default_scheme)
    try:
        sch, forced = parse_scheme(name)
    except UnknownScheme:
        return False, f"Unknown scheme {name.upper()}"
    raw = _decode(body, sch, forced)
    if raw is None:
        enc = forced or sch.encoding
        why = (
            "Input isn't valid base64 encoded data" if enc == "b64" else "Input isn't valid hex encoded data"
        )
        return False, f"Password data is not valid for scheme {name.upper()}: {why}"
    try:
        return sch.verify(password.encode("utf-8", "surrogateescape"), raw, user), None
    except (ValueError, UnicodeError):
        return False, f"Password data is not valid for scheme {name.upper()}"


def verify_password(stored: str, password: str, user: str = "", default_scheme: str = "CRYPT") -> bool:
    return verify_password_detail(stored, password, user, default_scheme)[0]


def stored_scheme(stored: str, default_scheme: str = "CRYPT") -> str | None:
    """The canonical scheme name of a stored password, or None when unknown."""
    name, _ = split_stored(stored, default_scheme)
    try:
        return parse_scheme(name)[0].name
    except UnknownScheme:
        return None


def plaintext(stored: str, default_scheme: str = "CRYPT") -> str | None:
    """The password itself when the stored form is a plaintext scheme."""
    name, body = split_stored(stored, default_scheme)
    try:
        sch, forced = parse_scheme(name)
    except UnknownScheme:
        return None
    if sch.name != "PLAIN":
        return None
    raw = _decode(body, sch, forced)
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def cram_md5_credential_of(stored: str, default_scheme: str = "CRYPT") -> bytes | None:
    """The 32-byte HMAC-MD5 state pair CRAM-MD5 needs, from plaintext or a CRAM-MD5 hash."""
    name, body = split_stored(stored, default_scheme)
    try:
        sch, forced = parse_scheme(name)
    except UnknownScheme:
        return None
    if sch.name == "PLAIN":
        text = plaintext(stored, default_scheme)
        return None if text is None else cram_md5_credential(text.encode("utf-8", "surrogateescape"))
    if sch.name == "CRAM-MD5":
        raw = _decode(body, sch, forced)
        return raw if raw is not None and len(raw) == 32 else None
    return None


def can_provide(scheme_name: str, wanted: str) -> bool:
    """Can a passdb storing `scheme_name` serve a mechanism needing `wanted` credentials?"""
    try:
        sch = parse_scheme(scheme_name)[0]
    except UnknownScheme:
        return False
    return sch.name == "PLAIN" or sch.name == wanted
