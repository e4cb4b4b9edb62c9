"""Local delivery as Courier's MTA does it: aliases from aliases.dat, then the user's Maildir.

    result = deliver(root, ["root"], message_bytes, sender="alice")

Courier never delivers to root (uid 0): mail for root is refused with
`550 User <root> unknown` unless an alias sends it elsewhere, which is why
the stock aliases/system maps root to postmaster. Aliases come only from
the compiled /etc/courier/aliases.dat. A refused recipient gets the sender a
delivery status notification in the sender's Maildir; when that cannot be
delivered either, the log keeps it. Nothing is dropped silently.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from email.utils import formatdate

from labsim.mailserver.auth.unixdb import PasswdEntry, getpwnam
from labsim.mailserver.courier.aliases import AliasDb, hostname, load_dat
from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.labroot import LabRoot

DEFAULT_MAILDIR = "Maildir"


@dataclass
class Outcome:
    address: str  # the final address, fully qualified
    ok: bool
    detail: str  # "Message delivered." or the SMTP-style reason ("550 User <root> unknown")
    path: str = ""  # lab path of the delivered file


@dataclass
class DeliveryResult:
    recipients: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    bounce: str = ""  # lab path of the DSN written to the sender, or "" when logged only
    queue_id: str = ""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def _queue_id() -> str:
    return f"{secrets.randbits(48):012X}.{int(time.time()):010d}.{os.getpid():06d}"


def split_address(address: str, host: str) -> tuple[str, str]:
    addr = address.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@") if "@" in addr else (addr, "", "")
    return local.lower(), (domain.lower() if at else host)


def is_local_domain(domain: str, host: str) -> bool:
    return domain in (host, "localhost", "localhost.localdomain") or domain == host.split(".")[0]


def check_local(root: LabRoot, local: str) -> tuple[PasswdEntry | None, str]:
    """(account, refusal): the refusal is Courier's reply when the user cannot get mail."""
    pw = getpwnam(root, local)
    if pw is None or pw.uid == 0:
        return None, f"550 User <{local}> unknown"
    return pw, ""


def write_maildir(root: LabRoot, home: str, data: bytes, maildir: str = DEFAULT_MAILDIR) -> str:
    """Deliver `data` into <home>/<maildir>/new as `<time>.M<usec>P<pid>.<host>,S=<size>`."""
    home_host = root.path(home)
    if not home_host.is_dir():
        raise OSError(f"Unable to change to home directory {home}")
    md = root.path(maildir if maildir.startswith("/") else f"{home.rstrip('/')}/{maildir}")
    for sub in ("tmp", "new", "cur"):
        (md / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    now = time.time()
    host = socket.gethostname().split(".")[0] or "localhost"
    name = f"{int(now)}.M{int((now % 1) * 1_000_000)}P{os.getpid()}_{secrets.randbelow(1_000_000)}.{host}"
    name += f",S={len(data)}"
    tmp = md / "tmp" / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    final = md / "new" / name
    os.rename(tmp, final)
    try:
        st = home_host.stat()
        if os.geteuid() == 0:
            for p in (md, md / "tmp", md / "new", md / "cur", final):
                os.chown(p, st.st_uid, st.st_gid)
    except OSError:
        pass
    return root.lab_path(final)


def _with_headers(message: bytes, sender: str, recipient: str) -> bytes:
    head = f"Return-Path: <{sender}>\nDelivered-To: {recipient}\n".encode()
    return head + message.replace(b"\r\n", b"\n")


def dsn(host: str, sender: str, failures: list[Outcome], original: bytes, when: float) -> bytes:
    """A delivery status notification in Courier's words."""
    boundary = f"=_{host}-{secrets.token_hex(6)}"
    lines = "".join(f"<{o.address}>: <<< {o.detail}\n" for o in failures)
    status = "".join(
        f"\nFinal-Recipient: rfc822; {o.address}\nAction: failed\nStatus: 5.0.0\n"
        f"Diagnostic-Code: smtp; {o.detail}\n"
        for o in failures
    )
    headers = original.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    text = (
        f"From: Courier mail server at {host} <@>\n"
        f"To: {sender}\n"
        f"Subject: NOTICE: mail delivery status.\n"
        f"Date: {formatdate(when, localtime=True)}\n"
        "Mime-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\n    boundary="{boundary}"\n'
        "Content-Transfer-Encoding: 7bit\n\n"
        "This is a MIME-formatted message.  If you see this text it means that your\n"
        "E-mail software does not support MIME-formatted messages.\n\n"
        f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n"
        f"This is a delivery status notification from {host},\n"
        "running the Courier mail server.\n\n"
        "---------------------------------------------------------------------------\n\n"
        "                           UNDELIVERABLE MAIL\n\n"
        "Your message to the following recipients cannot be delivered:\n\n"
        f"{lines}\n"
        "---------------------------------------------------------------------------\n\n"
        f"--{boundary}\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: 7bit\n\n"
        f"Reporting-MTA: dns; {host}\nArrival-Date: {formatdate(when, localtime=True)}\n{status}\n"
        f"--{boundary}\nContent-Type: text/rfc822-headers; charset=us-ascii\n"
        "Content-Transfer-Encoding: 7bit\n\n"
        f"{headers}\n\n--{boundary}--\n"
    )
    return text.encode("utf-8")


def deliver(
    root: LabRoot,
    recipients: list[str],
    message: bytes,
    sender: str = "",
    log: CourierLog | None = None,
    aliases: AliasDb | None = None,
) -> DeliveryResult:
    """Deliver `message` to each recipient; failures bounce to the sender."""
    log = log or CourierLog(root, stderr=None)
    host = hostname(root)
    db = aliases if aliases is not None else load_dat(root)
    sender_local, sender_domain = split_address(sender or "root", host)
    sender_addr = f"{sender_local}@{sender_domain}"
    result = DeliveryResult(recipients=list(recipients), queue_id=_queue_id())
    now = time.time()
    finals: list[str] = []
    for rcpt in recipients:
        local, domain = split_address(rcpt, host)
        if not local:
            result.outcomes.append(Outcome(rcpt, False, "517 Invalid address."))
            continue
        addr = f"{local}@{domain}"
        if is_local_domain(domain, host) and db is not None:
            expanded = db.lookup(local)
            if expanded is not None:
                if not expanded:
                    log.info("courierlocal", f"id={result.queue_id},from=<{sender_addr}>,addr=<{addr}>,"
                             "size=0,success: alias has no addresses, message discarded")  # fmt: skip
                    result.outcomes.append(Outcome(addr, True, "alias has no addresses, message discarded"))
                finals.extend(a for a in expanded if a not in finals)
                continue
        if addr not in finals:
            finals.append(addr)
    for addr in finals:
        result.outcomes.append(_deliver_one(root, host, addr, message, sender_addr, result.queue_id, log))
    failures = result.failed
    if failures:
        _bounce(root, host, sender_addr, failures, message, now, result, log)
    return result


def _deliver_one(
    root: LabRoot, host: str, addr: str, message: bytes, sender: str, qid: str, log: CourierLog
) -> Outcome:
    if addr.startswith(("|", "/")):
        detail = "550 Delivery to programs and files is not available in this lab"
        log.info("courierlocal", f"id={qid},from=<{sender}>,addr=<{addr}>: {detail}")
        return Outcome(addr, False, detail)
    local, domain = split_address(addr, host)
    if not is_local_domain(domain, host):
        detail = f"550 Unable to relay to <{addr}>: this lab delivers locally only"
        log.info("courieresmtp", f"id={qid},from=<{sender}>,addr=<{addr}>: {detail}")
        return Outcome(addr, False, detail)
    pw, refusal = check_local(root, local)
    if pw is None:
        log.info("courierlocal", f"id={qid},from=<{sender}>,addr=<{addr}>: {refusal}")
        return Outcome(addr, False, refusal)
    data = _with_headers(message, sender, addr)
    try:
        path = write_maildir(root, pw.home, data)
    except OSError as exc:
        detail = f"550 {exc.strerror or exc}"
        log.info("courierlocal", f"id={qid},from=<{sender}>,addr=<{addr}>,size={len(data)}: {detail}")
        return Outcome(addr, False, detail)
    log.info(
        "courierlocal", f"id={qid},from=<{sender}>,addr=<{addr}>,size={len(data)},success: Message delivered."
    )
    return Outcome(addr, True, "Message delivered.", path)


def _bounce(root: LabRoot, host: str, sender: str, failures: list[Outcome], message: bytes, when: float,
            result: DeliveryResult, log: CourierLog) -> None:  # fmt: skip
    for o in failures:
        log.info("courierd", f"id={result.queue_id},from=<{sender}>,addr=<{o.address}>: {o.detail}")
    local, domain = split_address(sender, host)
    pw, _ = check_local(root, local) if is_local_domain(domain, host) else (None, "")
    report = dsn(host, sender, failures, message, when)
    if pw is not None:
        try:
            result.bounce = write_maildir(root, pw.home, _with_headers(report, "", sender))
            log.info("courierd", f"id={result.queue_id}: delivery status notification sent to <{sender}>")
            return
        except OSError:
            pass
    # A bounce that cannot be delivered is a double bounce: the log keeps all of it.
    log.error(
        "courierd", f"id={result.queue_id}: double bounce, notification for <{sender}> kept in the log:"
    )
    for line in report.decode("utf-8", "replace").splitlines():
        if line.startswith("<") and ">: <<< " in line:
            log.error("courierd", line)
