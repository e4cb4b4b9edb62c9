from __future__ import annotations

import shutil
import subprocess

import pytest

from labsim.lab.sha512crypt import sha512_crypt


def test_known_vectors_match_openssl() -> None:
    # Produced with `openssl passwd -6 -salt SALT PASSWORD`.
    assert sha512_crypt("secret", "saltsalt") == (
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
    )
    assert sha512_crypt("x" * 100, "abcdefghijklmnopqrst") == (
        "$6$abcdefghijklmnop$r/HtRGuCzMNedONV3I8Xz8Qm4Qy85pQ/RigX0agmbAzWsa3BCc1B564NfCD/"
        "Giyliby36KbTMkrVLsmFYtbTu1"
    )


def test_random_salt_is_sixteen_chars_and_verifies() -> None:
    hashed = sha512_crypt("pw")
    salt = hashed.split("$")[2]
    assert len(salt) == 16
    assert sha512_crypt("pw", salt) == hashed
    assert sha512_crypt("pw!", salt) != hashed


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize("password", ["a", "p@ss wörd", "0123456789" * 7])
def test_agrees_with_openssl(password: str) -> None:
    out = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", "Qx9.abc/", password], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert sha512_crypt(password, "Qx9.abc/") == out
