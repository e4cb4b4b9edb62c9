"""TLS contexts from ssl_* settings, and Dovecot's words when they cannot be built."""

from __future__ import annotations

import ssl

from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.tls import setup
from tests.conftest import LabCerts


def settings(certs: LabCerts, **kw: str | None) -> DovecotSettings:
    s = DovecotSettings(
        ssl_cert=certs.cert_pem,
        ssl_cert_path="/etc/ssl/certs/dovecot.pem",
        ssl_key=certs.key_pem,
        ssl_key_path="/etc/ssl/private/dovecot.pem",
    )
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_good_pair_default_minimum_tls12(lab_certs: LabCerts) -> None:
    t = setup(settings(lab_certs))
    assert (t.enabled, t.required, t.error) == (True, False, None)
    assert t.context is not None
    assert t.context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_min_protocol_and_required(lab_certs: LabCerts) -> None:
    t = setup(settings(lab_certs, ssl="required", ssl_min_protocol="TLSv1.3"))
    assert t.required and t.context is not None
    assert t.context.minimum_version == ssl.TLSVersion.TLSv1_3


def test_ssl_no_builds_nothing(lab_certs: LabCerts) -> None:
    t = setup(settings(lab_certs, ssl="no", ssl_cert="", ssl_key=""))
    assert (t.enabled, t.context, t.error) == (False, None, None)


def test_mismatched_key(lab_certs: LabCerts) -> None:
    t = setup(settings(lab_certs, ssl_key=lab_certs.other_key_pem))
    assert t.context is None
    assert (
        t.error == "Can't load SSL private key (ssl_key setting): Key is for a different cert than ssl_cert"
    )


def test_forgot_lt_on_cert(lab_certs: LabCerts) -> None:
    t = setup(settings(lab_certs, ssl_cert="/etc/ssl/certs/dovecot.pem", ssl_cert_path=None))
    assert t.error == (
        "Can't load SSL certificate (ssl_cert setting): There is no valid PEM certificate. "
        "(You probably forgot '<' from ssl_cert=</etc/ssl/certs/dovecot.pem)"
    )


def test_forgot_lt_on_key(lab_certs: LabCerts) -> None:
    t = setup(settings(lab_certs, ssl_key="/etc/ssl/private/dovecot.pem", ssl_key_path=None))
    assert t.error == (
        "Couldn't parse private SSL key (ssl_key setting) (maybe ssl_key_password is wrong?): "
        "error:1E08010C:DECODER routines::unsupported: No supported data to decode. Input type: PEM "
        "(You probably forgot '<' from ssl_key=</etc/ssl/private/dovecot.pem)"
    )


def test_garbage_key_text(lab_certs: LabCerts) -> None:
    broken = lab_certs.key_pem.replace(lab_certs.key_pem.splitlines()[1], "AAAA")
    t = setup(settings(lab_certs, ssl_key=broken))
    assert t.context is None
    assert t.error is not None and t.error.startswith("Couldn't parse private SSL key (ssl_key setting)")
