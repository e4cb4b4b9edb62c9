"""A small ESMTP listener (Courier's esmtpd) that hands mail to local delivery.

Enough of RFC 5321 for a learner's `telnet localhost 25` or a check sending
mail to root: HELO/EHLO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT.
Recipients are checked against aliases.dat and the local accounts at RCPT
time; remote domains are refused (the lab does not relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field

from labsim.mailserver.connection import ClientConn, ClientGone, LineTooLong
from labsim.mailserver.courier.aliases import hostname, load_dat
from labsim.mailserver.courier.daemon import courier_ip
from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.delivery import check_local, deliver, is_local_domain, split_address
from labsim.mailserver.labroot import LabRoot

MAX_LINE = 1000
MAX_MESSAGE = 32 * 1024 * 1024
IDLE = 300.0
_PATH = re.compile(r"^(FROM|TO):\s*<([^<>]*)>", re.IGNORECASE)


@dataclass
class _Envelope:
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)


class SmtpSession:
    def __init__(self, root: LabRoot, log: CourierLog, conn: ClientConn) -> None:
        self.root = root
        self.log = log
        self.conn = conn
        self.host = hostname(root)
        self.env = _Envelope()
        self.helo = ""

    async def reply(self, text: str) -> None:
        await self.conn.send(text.encode("utf-8", "replace") + b"\r\n")

    async def run(self) -> None:
        await self.reply(f"220 {self.host} ESMTP")
        while True:
            try:
                line = await self.conn.readline(limit=MAX_LINE + 2, timeout=IDLE)
            except TimeoutError:
                await self.reply("421 Timeout.")
                return
            except LineTooLong:
                await self.reply("500 Line too long.")
                return
            if line is None:
                return
            text = line.decode("utf-8", "replace")
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                await self.reply("221 Bye.")
                return
            handler = {
                "HELO": self.helo_cmd,
                "EHLO": self.ehlo_cmd,
                "MAIL": self.mail_cmd,
                "RCPT": self.rcpt_cmd,
                "DATA": self.data_cmd,
                "RSET": self.rset_cmd,
                "NOOP": self.noop_cmd,
            }.get(verb)
            if handler is None:
                await self.reply("502 ESMTP command error")
                continue
            await handler(arg.strip())

    async def helo_cmd(self, arg: str) -> None:
        self.helo = arg
        await self.reply(f"250 {self.host} Ok.")

    async def ehlo_cmd(self, arg: str) -> None:
        self.helo = arg
        await self.reply(f"250-{self.host} Ok.\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE {MAX_MESSAGE}")

    async def rset_cmd(self, arg: str) -> None:
        self.env = _Envelope()
        await self.reply("250 Ok.")

    async def noop_cmd(self, arg: str) -> None:
        await self.reply("250 Ok.")

    async def mail_cmd(self, arg: str) -> None:
        m = _PATH.match(arg)
        if m is None or m.group(1).upper() != "FROM":
            await self.reply("501 Syntax error: MAIL FROM:<address>")
            return
        if self.env.sender is not None:
            await self.reply("503 Sender already specified.")
            return
        self.env = _Envelope(sender=m.group(2))
        await self.reply("250 Ok.")

    async def rcpt_cmd(self, arg: str) -> None:
        m = _PATH.match(arg)
        if m is None or m.group(1).upper() != "TO" or not m.group(2):
            await self.reply("501 Syntax error: RCPT TO:<address>")
            return
        if self.env.sender is None:
            await self.reply("503 MAIL first.")
            return
        local, domain = split_address(m.group(2), self.host)
        if not is_local_domain(domain, self.host):
            await self.reply("513 Relaying denied.")
            return
        db = load_dat(self.root)
        known = db is not None and db.lookup(local) is not None
        if not known:
            _, refusal = check_local(self.root, local)
            if refusal:
                self.log.info("courieresmtpd", f"error,relay=::ffff:{self.conn.rip},from=<{self.env.sender}>,"
                              f"to=<{local}@{domain}>: {refusal}")  # fmt: skip
                await self.reply(refusal)
                return
        self.env.recipients.append(f"{local}@{domain}")
        await self.reply("250 Ok.")

    async def data_cmd(self, arg: str) -> None:
        if self.env.sender is None or not self.env.recipients:
            await self.reply("503 RCPT first.")
            return
        await self.reply("354 Ok.")
        body: list[bytes] = []
        size = 0
        while True:
            line = await self.conn.readline(limit=MAX_LINE * 64, timeout=IDLE)
            if line is None:
                raise ClientGone()
            if line == b".":
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line) + 1
            if size <= MAX_MESSAGE:
                body.append(line)
        if size > MAX_MESSAGE:
            await self.reply("534 Message too big.")
            self.env = _Envelope()
            return
        received = (
            f"Received: from {self.helo or 'unknown'} ([{courier_ip(self.conn.rip)}])\n"
            f"  by {self.host} with ESMTP\n"
        ).encode()
        message = received + b"".join(ln + b"\n" for ln in body)
        result = await asyncio.to_thread(
            deliver, self.root, self.env.recipients, message, self.env.sender or "", self.log
        )
        self.env = _Envelope()
        await self.reply(f"250 Ok. {result.queue_id}")


async def serve_smtp(root: LabRoot, log: CourierLog, conn: ClientConn) -> None:
    with contextlib.suppress(ClientGone):
        await SmtpSession(root, log, conn).run()
