"""Value parsing and doveconf's printed forms; post-load checks."""

from __future__ import annotations

import pytest

from labsim.mailserver.config import checks, values
from labsim.mailserver.config.model import AuthDb, DovecotSettings
from labsim.mailserver.config.settings_table import FOREIGN_SETTINGS, defaults, top_types


@pytest.mark.parametrize(
    ("text", "number", "shown"),
    [
        ("0", 0, "0"),
        ("10 K", 10240, "10 k"),
        ("10b", 10, "10 B"),
        ("10MB", 10485760, "10 M"),
        ("10mb", 10485760, "10 M"),
        ("10kib", 10240, "10 k"),
        ("1536", 1536, "1536 B"),
        ("1024", 1024, "1 k"),
        ("4294967296", 4294967296, "4 G"),
        ("  5 k", 5120, "5 k"),
        ("10T", 10 * 1024**4, "10 T"),
    ],
)
def test_sizes(text: str, number: int, shown: str) -> None:
    assert values.parse_size(text) == (number, shown)


@pytest.mark.parametrize("text", ["10 bytes", "1.5k", "99999999999999999999", "", "k"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match=r"^Invalid size: "):
        values.parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds", "shown"),
    [
        ("0", 0, "0"),
        ("1 sec", 1, "1 secs"),
        ("120s", 120, "2 mins"),
        ("1 hour", 3600, "1 hours"),
        ("1H", 3600, "1 hours"),
        ("1 Minute", 60, "1 mins"),
        ("3 w", 1814400, "3 weeks"),
        ("1d", 86400, "1 days"),
        ("90 s", 90, "90 secs"),
    ],
)
def test_times(text: str, seconds: int, shown: str) -> None:
    assert values.parse_time(text) == (seconds, shown)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.5s", "Invalid time interval: 1.5s"),
        ("1 min 30 s", "Invalid time interval: 1 min 30 s"),
        ("1 msec", "Milliseconds not supported for this setting: 1 msec"),
        ("5", "Time interval '5' is missing units (add e.g. 's' for seconds)"),
    ],
)
def test_bad_times(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        values.parse_time(text)
    assert str(info.value) == reason


def test_bools_and_numbers() -> None:
    assert [values.parse_bool(t) for t in ("yes", "Y", "1", "no", "NO")] == [
        (True, "yes"),
        (True, "yes"),
        (True, "yes"),
        (False, "no"),
        (False, "no"),
    ]
    for text in ("0", "n", "N", "true"):
        with pytest.raises(ValueError) as info:
            values.parse_bool(text)
        assert str(info.value) == f"Invalid boolean value: {text} (use yes or no)"
    assert values.parse_uint("010") == (10, "10")
    assert values.parse_uint("4294967295") == (4294967295, "4294967295")
    with pytest.raises(ValueError, match=r"^Invalid number \+5: Not a valid number$"):
        values.parse_uint("+5")
    assert values.parse_port("993") == (993, "993")
    with pytest.raises(ValueError, match=r"^Invalid port number 65536$"):
        values.parse_port("65536")


def test_table_covers_the_typed_model() -> None:
    types = top_types()
    typed = {
        f
        for f in DovecotSettings.__dataclass_fields__
        # Sections and values derived from them, not top-level settings of the table.
        if f
        not in (
            "passdbs",
            "userdbs",
            "services",
            "values",
            "ssl_cert_path",
            "ssl_key_path",
            "mailbox_special_use",
        )
    }
    assert typed <= set(types)
    assert types["ssl"] == "enum:no:yes:required"
    assert (types["auth_failure_delay"], types["mbox_min_index_size"]) == ("time", "size")
    assert (types["first_valid_uid"], types["disable_plaintext_auth"]) == ("uint", "bool")
    assert not set(FOREIGN_SETTINGS) & set(types)
    assert defaults().services["pop3-login"].children[1].settings["port"] == "995"


def _settings(**kw: object) -> DovecotSettings:
    s = DovecotSettings()
    for key, value in kw.items():
        setattr(s, key, value)
    return s


def test_auth_startup_problems() -> None:
    unknown = checks.auth_startup_problem(_settings(auth_mechanisms=["plain", "foo"]))
    assert unknown == checks.Problem("auth", "Fatal", "Unknown authentication mechanism 'FOO'")
    cram = checks.auth_startup_problem(
        _settings(auth_mechanisms=["plain", "cram-md5"], passdbs=[AuthDb("pam")])
    )
    assert cram == checks.Problem("auth", "Fatal", "CRAM-MD5 mechanism can't be supported with given passdbs")
    fine = _settings(auth_mechanisms=["plain", "cram-md5"], passdbs=[AuthDb("pam"), AuthDb("passwd-file")])
    assert checks.auth_startup_problem(fine) is None


CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"ssl_cert": ""}, "Can't load SSL certificate (ssl_cert setting): The certificate is empty"),
        (
            {"ssl_cert": "/etc/ssl/certs/dovecot.pem"},
            "Can't load SSL certificate (ssl_cert setting): There is no valid PEM certificate.",
        ),
        (
            {"ssl_cert": KEY},
            "Can't load SSL certificate (ssl_cert setting): The file contains a private key "
            "(you've mixed ssl_cert and ssl_key settings)",
        ),
        (
            {"ssl_cert": CERT, "ssl_key": KEY, "ssl_min_protocol": "TLSv9"},
            "Unknown ssl_min_protocol setting 'TLSv9'",
        ),
        (
            {"ssl_cert": CERT, "ssl_key": ""},
            "Couldn't parse private SSL key (ssl_key setting) (maybe ssl_key_password is wrong?): "
            "error:1E08010C:DECODER routines::unsupported: No supported data to decode. Input type: PEM",
        ),
        ({"ssl_cert": CERT, "ssl_key": KEY}, None),
    ],
)
def test_ssl_context_problems(kw: dict[str, str], reason: str | None) -> None:
    assert checks.ssl_context_problem(_settings(**kw)) == reason


def test_forgot_lt_hint() -> None:
    s = _settings(ssl_cert="/etc/ssl/certs/dovecot.pem")
    assert checks.forgot_lt_hint(s) == "You probably forgot '<' from ssl_cert=/etc/ssl/certs/dovecot.pem"
    assert checks.forgot_lt_hint(_settings(ssl_cert=CERT, ssl_cert_path="/x")) is None
