"""Password schemes against hashes the real doveadm and openssl produced."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from labsim.mailserver.auth import crypt
from labsim.mailserver.auth.schemes import (
    UnknownScheme,
    cram_md5_credential_of,
    hash_password,
    plaintext,
    verify_password,
    verify_password_detail,
)

# Printed by Debian 12's `doveadm pw -s SCHEME -p secret -u alice` (2.3.19.1).
DOVEADM_SECRET = {
    "PLAIN": "{PLAIN}secret",
    "CLEARTEXT": "{CLEARTEXT}secret",
    "CRAM-MD5": "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
    "PLAIN-MD5": "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69",
    "LDAP-MD5": "{LDAP-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==",
    "SHA": "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
    "SSHA": "{SSHA}g4q8NzzGaA1N5vI8ptfiP0eTQa57lQ8T",
    "SHA256": "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
    "SSHA256": "{SSHA256}UvdG9gobiT/E905p+Ru6N6q22lDp/rHQT1ts1/gz1McVg6Kp",
    "SHA512": "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==",  # noqa: E501
    "SSHA512": "{SSHA512}TWUEGRTo6SHQGKIf19ikel1eKywHBfkPu2VOdPhaMi+xhhv/0g9vLdN4GlTg2g1uKY+OUfJ8QPdzhB6689uo/QhVFjQ=",  # noqa: E501
    "MD5-CRYPT": "{MD5-CRYPT}$1$aYu6UI66$EVLKlQOKkdXqYaigDVU1E.",
    "SHA256-CRYPT": "{SHA256-CRYPT}$5$/gMWxM4MpPBUxp0c$RywuVFNYhXZACQNCWqGo6hX6rPzcQyvTDl2Ll2XOjQ.",
    "SHA512-CRYPT": "{SHA512-CRYPT}$6$RDywUvAME2K89nHZ$WDOOb.C4GFOl603wQJDumbH96XooJQ65kT5IU3steZTG.oUkWx426LixAkdPzC/SqC44ewhWyjTLbqa.NdO6T/",  # noqa: E501
    "CRYPT": "{CRYPT}$2y$05$H0N7VpvaWw8EuPoJPHcMJOJf8OEcVksGKoh2Ky/U4Iro8eQdQoHYu",
    "DIGEST-MD5": "{DIGEST-MD5}cc3a3506aba601d2feee7bf9b34237ce",
    "PLAIN.B64": "{PLAIN.B64}c2VjcmV0",
    "SHA.HEX": "{SHA.HEX}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4",
    "PLAIN.HEX": "{PLAIN.HEX}736563726574",
    "PLAIN-MD5.B64": "{PLAIN-MD5.B64}Xr4ilOzQ4PCOq3aQ0qbuaQ==",
}


@pytest.mark.parametrize("scheme", sorted(DOVEADM_SECRET))
def test_real_doveadm_hashes_verify(scheme: str) -> None:
    stored = DOVEADM_SECRET[scheme]
    if scheme == "CRYPT" and crypt.system_crypt(b"x", "$2y$05$abcdefghijklmnopqrstuu") is None:
        pytest.skip("no libcrypt with bcrypt here")
    assert verify_password(stored, "secret", user="alice") is True
    assert verify_password(stored, "Secret", user="alice") is False


@pytest.mark.parametrize(
    "scheme",
    [
        "PLAIN",
        "CRAM-MD5",
        "PLAIN-MD5",
        "LDAP-MD5",
        "SHA",
        "SHA256",
        "SHA512",
        "DIGEST-MD5",
        "PLAIN.B64",
        "SHA.HEX",
    ],
)
def test_deterministic_schemes_match_doveadm_exactly(scheme: str) -> None:
    expected = DOVEADM_SECRET[scheme].split("}", 1)[1]
    assert hash_password(scheme, "secret", user="alice") == expected


@pytest.mark.parametrize(
    "scheme",
    ["SSHA", "SSHA256", "SSHA512", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT", "SMD5", "BLF-CRYPT", "CRYPT"],
)
def test_salted_roundtrip(scheme: str) -> None:
    a = hash_password(scheme, "pässword")
    b = hash_password(scheme, "pässword")
    assert a != b  # fresh salt each time
    assert verify_password("{" + scheme + "}" + a, "pässword") is True
    assert verify_password("{" + scheme + "}" + a, "password") is False


def test_crypt_prefixes_and_lengths() -> None:
    assert hash_password("MD5-CRYPT", "x").startswith("$1$")
    assert len(hash_password("SHA512-CRYPT", "x").split("$")[2]) == 16
    assert hash_password("SHA256-CRYPT", "x").startswith("$5$")
    assert hash_password("SHA512-CRYPT", "x", rounds=10000).startswith("$6$rounds=10000$")
    # below the minimum: clamped, as doveadm -r 100 prints rounds=1000
    assert hash_password("SHA512-CRYPT", "x", rounds=100).startswith("$6$rounds=1000$")


def test_rounds_vector_from_doveadm() -> None:
    stored = "$6$rounds=1000$kbWsfDxpTbzQVqis$fb8BYorTE6vkemNYJjwxM9vRSmGBJ1jKhjZSYxpVRAe9Sto7S2v47q8qTWiWmmtwrUgO81IlEwvXC4T9ivAyX."  # noqa: E501
    assert crypt.sha_crypt(b"x", stored) == stored


def test_drepper_reference_vectors() -> None:
    # From "Unix crypt using SHA-256 and SHA-512", the specification's own test table.
    assert (
        crypt.sha_crypt(b"Hello world!", "$6$saltstring")
        == "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"  # noqa: E501
    )
    assert (
        crypt.crypt(b"Hello world!", "$5$rounds=10000$saltstringsaltstring")
        == "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")
@pytest.mark.parametrize(
    ("flag", "salt"), [("-1", "abcdefgh"), ("-5", "saltsaltsaltsalt"), ("-6", "Zq9/xy.salt")]
)
def test_crypt_matches_openssl(flag: str, salt: str) -> None:
    out = subprocess.run(
        ["openssl", "passwd", flag, "-salt", salt, "correct horse"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert crypt.crypt(b"correct horse", out) == out
    assert crypt.crypt_verify(b"correct horse", out) is True
    assert crypt.crypt_verify(b"correct horsE", out) is False


@pytest.mark.skipif(not shutil.which("/usr/bin/doveadm"), reason="real doveadm missing")
def test_cram_md5_matches_live_doveadm() -> None:
    for pw in ("", "secret", "x" * 70, "pässword"):
        out = subprocess.run(
            ["/usr/bin/doveadm", "pw", "-s", "CRAM-MD5", "-p", pw], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert out == "{CRAM-MD5}" + hash_password("CRAM-MD5", pw)


@pytest.mark.skipif(not shutil.which("/usr/bin/doveadm"), reason="real doveadm missing")
def test_our_hashes_verify_with_live_doveadm() -> None:
    for scheme in ("SHA512-CRYPT", "SHA256-CRYPT", "MD5-CRYPT", "SSHA512", "CRAM-MD5"):
        stored = "{" + scheme + "}" + hash_password(scheme, "s3cret")
        res = subprocess.run(
            ["/usr/bin/doveadm", "pw", "-t", stored, "-p", "s3cret"], capture_output=True, text=True
        )
        assert res.returncode == 0, (scheme, res.stderr)
        assert res.stdout.strip() == f"{stored} (verified)"


def test_yescrypt_through_libcrypt() -> None:
    # A hash as Debian 12's passwd/chpasswd writes it.
    stored = "$y$j9T$GcYWW6uvlXnFmsm5MMIzX1$Pr57YDW9SArtkYF93xnpV0tZkJrhS07L5l/KCefE4q4"
    if crypt.system_crypt(b"secret", stored) is None:
        pytest.skip("libcrypt without yescrypt")
    assert verify_password(stored, "secret") is True
    assert verify_password(stored, "secreT") is False


def test_locked_and_empty_hashes_fail_closed() -> None:
    for stored in ("!", "*", "!$6$abc$def", "", "!!"):
        assert crypt.crypt_verify(b"", stored) is False
        assert crypt.crypt_verify(b"anything", stored) is False


def test_unknown_and_broken_stored_values() -> None:
    assert verify_password_detail("{FOO}bar", "bar") == (False, "Unknown scheme FOO")
    assert verify_password_detail("{SHA}not base64!", "x") == (
        False,
        "Password data is not valid for scheme SHA: Input isn't valid base64 encoded data",
    )
    with pytest.raises(UnknownScheme, match="Unknown scheme: NOPE"):
        hash_password("NOPE", "x")


def test_scheme_names_are_case_insensitive_and_default_applies() -> None:
    assert verify_password("{plain}secret", "secret") is True
    assert verify_password("secret", "secret", default_scheme="PLAIN") is True
    assert (
        verify_password("$1$aYu6UI66$EVLKlQOKkdXqYaigDVU1E.", "secret") is True
    )  # bare crypt, CRYPT default


def test_hex_scheme_also_accepts_base64() -> None:
    # Dovecot guesses the encoding from the length when no suffix is given.
    assert verify_password("{PLAIN-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "secret") is True


def test_credentials_for_cram_md5() -> None:
    cram = bytes.fromhex(DOVEADM_SECRET["CRAM-MD5"].split("}", 1)[1])
    assert cram_md5_credential_of("{PLAIN}secret") == cram
    assert cram_md5_credential_of(DOVEADM_SECRET["CRAM-MD5"]) == cram
    assert cram_md5_credential_of(DOVEADM_SECRET["SHA512-CRYPT"]) is None
    assert plaintext("{PLAIN.B64}c2VjcmV0") == "secret"
    assert plaintext("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=") is None
