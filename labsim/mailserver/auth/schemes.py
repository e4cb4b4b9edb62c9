"""Password schemes: Dovecot's {SCHEME} hashes and crypt(3) hashes.

    hash_password("SHA512-CRYPT", "secret") -> "$6$salt$..."     (no {SCHEME} prefix)
    verify_password(stored, "secret", default_scheme="CRYPT") -> bool
        `stored` may carry a "{SCHEME}" prefix (passwd-file) or be a bare crypt hash (shadow).
"""

from __future__ import annotations


def hash_password(scheme: str, password: str, user: str = "") -> str:
    raise NotImplementedError


def verify_password(stored: str, password: str, user: str = "", default_scheme: str = "CRYPT") -> bool:
    raise NotImplementedError
