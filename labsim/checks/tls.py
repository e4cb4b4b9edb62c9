"""tls_certificate: the certificate a port serves, read with openssl inside the lab and parsed here."""

from __future__ import annotations

import datetime
import re
import shlex

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from labsim.checks.base import p_float, p_int, p_mode, p_opt, verdict
from labsim.checks.maillog import lines_since, log_offset, log_says, log_section
from labsim.checks.result import CheckResult
from labsim.checks.session import DEFAULT_TIMEOUT, lab_port
from labsim.lab.model import Lab, LabError
from labsim.scenario.model import CheckSpec

SERVICES = {"imaps": (993, ""), "pop3s": (995, ""), "imap": (143, "imap"), "pop3": (110, "pop3")}
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def served_certificate(lab: Lab, well_known: int, starttls: str, timeout: float) -> tuple[str, str | None]:
    """(openssl's output, the first PEM certificate in it or None)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{lab_port(lab, well_known)}", "-showcerts"]
    if starttls:
        cmd += ["-starttls", starttls]
    result = lab.exec(["sh", "-c", shlex.join(cmd) + " </dev/null 2>&1"], timeout=timeout)
    m = _PEM.search(result.output)
    return f"$ {shlex.join(cmd)} </dev/null\n{result.output}", m.group(0) if m else None


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def key_matches(cert: x509.Certificate, key_pem: bytes) -> bool:
    key = serialization.load_pem_private_key(key_pem, password=None)
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return bool(key.public_key().public_bytes(enc, fmt) == cert.public_key().public_bytes(enc, fmt))


def file_mode(lab: Lab, path: str) -> int | None:
    result = lab.exec(["stat", "-c", "%a", path.lstrip("/") or "."], timeout=10)
    text = result.output.strip()
    return int(text, 8) if result.ok and re.fullmatch(r"[0-7]+", text) else None


def tls_certificate(lab: Lab, spec: CheckSpec) -> CheckResult:
    timeout = p_float(spec, "timeout", DEFAULT_TIMEOUT)
    service = p_opt(spec, "service")
    if service:
        port, starttls = SERVICES[service]
    else:
        port = p_int(spec, "port") or 993
        starttls = {143: "imap", 110: "pop3"}.get(port, "")
    where = f"port {port}" + (f" after STARTTLS ({starttls})" if starttls else "")
    want_cn, days_min = p_opt(spec, "subject_cn"), p_int(spec, "valid_days_min")
    key_path, want_mode = p_opt(spec, "key_path"), p_mode(spec, "key_mode")
    expected = f"Expected a certificate on {where}" + _wanted(spec, want_cn, days_min, key_path, want_mode)
    offset = log_offset(lab)
    transcript, pem = served_certificate(lab, port, starttls, timeout)
    if pem is None:
        log = lines_since(lab, offset)
        if "Connection refused" in transcript or "errno=111" in transcript:
            failure = "nothing listens there: the connection was refused"
        else:
            failure = "the server sent no certificate: the TLS handshake failed"
        detail = f"{expected}, but {failure}.{log_says(log)}"
        return verdict(spec, False, detail, transcript + log_section(log))
    cert = x509.load_pem_x509_certificate(pem.encode())
    problems: list[str] = []
    seen: list[str] = []
    cn = common_name(cert)
    seen.append(f"subject CN = {cn}" if cn else "a subject without CN")
    if want_cn is not None and cn != want_cn:
        problems.append(f"the subject's CN should be {want_cn}, the name clients connect to")
    until = cert.not_valid_after_utc
    left = (until - datetime.datetime.now(datetime.UTC)).days
    seen.append(f"valid until {until:%Y-%m-%d} ({left} days)")
    if days_min is not None and left < days_min:
        problems.append(f"it should stay valid for at least {days_min} days")
    if spec.params.get("matches_key") and key_path:
        try:
            if key_matches(cert, lab.read_file(key_path)):
                seen.append(f"matches {key_path}")
            else:
                seen.append(f"does not match {key_path}")
                problems.append(f"the served certificate should belong to the key in {key_path}")
        except LabError as exc:
            problems.append(str(exc))
        except (ValueError, TypeError):
            problems.append(f"{key_path} holds no unencrypted PEM private key")
    if want_mode is not None and key_path:
        mode = file_mode(lab, key_path)
        seen.append(f"{key_path} mode {mode:04o}" if mode is not None else f"{key_path} missing")
        if mode != want_mode:
            problems.append(f"{key_path} should have mode {want_mode:04o}: a private key must stay private")
    detail = f"{expected}. Seen: {', '.join(seen)}."
    if problems:
        detail += " Problem: " + "; ".join(problems) + "."
    return verdict(spec, not problems, detail, transcript)


def _wanted(spec: CheckSpec, cn: str | None, days: int | None, key: str | None, mode: int | None) -> str:
    """' (CN = mail.example.org, matching the key in /etc/ssl/private/dovecot.pem, ...)' or ''."""
    wanted = []
    if cn is not None:
        wanted.append(f"CN = {cn}")
    if days is not None:
        wanted.append(f"valid for at least {days} days")
    if spec.params.get("matches_key") and key:
        wanted.append(f"matching the key in {key}")
    if mode is not None and key:
        wanted.append(f"that key file with mode {mode:04o}")
    return f" ({', '.join(wanted)})" if wanted else ""
