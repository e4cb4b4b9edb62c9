"""Courier-IMAP's face on the shared IMAP session: greeting, CAPABILITY, LOGIN replies, log lines.

After login the shared mail-phase commands run on Courier's folder names
(`INBOX.Sent` for the Maildir++ folder `.Sent`, courier/folders.py) and
answer in imapd's words, as Debian's Courier-IMAP 5.0 does (compared by
tests/conformance/test_courier_conformance.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from pathlib import Path

from labsim.mailserver.auth.model import AuthResult
from labsim.mailserver.connection import ClientConn, ServerContext
from labsim.mailserver.connection import ClientGone as ClientGoneShared
from labsim.mailserver.courier import folders as FD
from labsim.mailserver.courier.authdaemon import AUTH_ERROR
from labsim.mailserver.courier.daemon import CourierContext, courier_ip
from labsim.mailserver.imap import fetch as F
from labsim.mailserver.imap import responses as R
from labsim.mailserver.imap.args import BadMailboxName, mailbox_name
from labsim.mailserver.imap.commands import (
    MailCommands,
    ReadLine,
    Reply,
    flag_state,
    store_args,
    stored_flags,
)
from labsim.mailserver.imap.parser import (
    Atom,
    Command,
    ParseError,
    astring,
    parse_sequence_set,
    split_command,
)
from labsim.mailserver.imap.session import MAX_BAD_PRELOGIN, Disconnect, ImapSession
from labsim.mailserver.storage.base import (
    Mailbox,
    MailboxExists,
    MailboxNameInvalid,
    MailboxNotFound,
    MailStorage,
    MessageInfo,
    StorageError,
    SyncChanges,
)

GREETING = (
    "Courier-IMAP ready. Copyright 1998-2019 Double Precision, Inc.  "
    "See COPYING for distribution information."
)
# imapd adds these to IMAP_CAPABILITY itself.
TRAILING_CAPS = ("ENABLE", "UTF8=ACCEPT")
# Courier-IMAP answers every command it cannot run, unknown or malformed, with this NO.
COMMAND_ERROR = "NO Error in IMAP command received by server."
_TAGGED_BAD = re.compile(r"^(\S+) BAD ")
_STATUS_LINE = re.compile(r"^\* STATUS ([^\s\"(]+) (\(.*)$")
_LIST_LINE = re.compile(r'^\* LIST \(([^)]*)\) ("[^"]*"|NIL) (.*)$')
# imapd's words for commands that worked (Debian's Courier-IMAP 5.0, observed).
OK_WORDS = {
    "LIST": "LIST completed",
    "LSUB": "LSUB completed",
    "FETCH": "FETCH completed.",
    "UID FETCH": "FETCH completed.",
    "SEARCH": "SEARCH done.",
    "UID SEARCH": "SEARCH done.",
    "STATUS": "STATUS Completed.",
    "NAMESPACE": "NAMESPACE completed.",
    "CHECK": "CHECK completed",
    "IDLE": "IDLE completed",
}
NO_FOLDER = "Mailbox does not exist, or must be subscribed to."
INVALID_NAME = "Invalid mailbox name."
# In the order of their Maildir letters (D F R S T), as imapd writes them.
SYSTEM_FLAGS = ("\\Draft", "\\Flagged", "\\Answered", "\\Seen", "\\Deleted")
_FLAGS_ITEM = re.compile(rb"FLAGS \(([^)]*)\)")
_LITERAL_END = re.compile(rb"\{\d+\+?\}$")


def courier_flags(flags: AbstractSet[str], recent: bool) -> str:
    """imapd's order: system flags, \\Recent, then keywords."""
    out = [f for f in SYSTEM_FLAGS if f in flags]
    if recent:
        out.append("\\Recent")
    out += sorted(f for f in flags if not f.startswith("\\"))
    return "(" + " ".join(out) + ")"


class CourierMailCommands(MailCommands):
    """The shared mail-phase commands on Courier's names, with imapd's answers."""

    def __init__(self, session: CourierImapSession, storage: MailStorage | None) -> None:
        super().__init__(session.ctx, session.mail_prefix, storage, session.send)
        self.session = session
        self._captured: list[str] | None = None  # untagged lines held back for rewording
        self._names = FD.CourierNames(storage) if storage is not None else None

    def _storage(self) -> MailStorage:
        if self._names is None:
            raise StorageError("Mail storage could not be opened")
        return self._names

    def _maildir(self) -> Path:
        base = getattr(self.storage, "base", None)
        if base is None:
            raise StorageError("Mail storage could not be opened")
        return Path(base)

    async def line(self, text: str) -> None:
        m = _STATUS_LINE.match(text)
        if m is not None:  # imapd quotes the name in STATUS replies too
            text = f'* STATUS "{m.group(1)}" {m.group(2)}'
        elif text == "+ idling":
            text = "+ entering idle mode"
        if self._captured is not None:
            self._captured.append(text)
        else:
            await super().line(text)

    async def _capture(self, run: Callable[[], Awaitable[Reply]]) -> tuple[Reply, list[str]]:
        self._captured = []
        try:
            reply = await run()
            return reply, self._captured
        finally:
            self._captured = None

    async def _announce_flags(self, box: Mailbox) -> None:
        keywords = "".join(f"{k} " for k in self.keywords)
        await self.line(f"* FLAGS ({keywords}\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)")
        if box.readonly:
            await self.line("* OK [PERMANENTFLAGS ()] No permanent flags permitted")
        else:
            await self.line(
                f"* OK [PERMANENTFLAGS ({keywords}\\* \\Draft \\Answered \\Flagged \\Deleted \\Seen)] Limited"
            )

    async def select(self, cmd: Command) -> Reply:
        """imapd's SELECT/EXAMINE lines: its FLAGS order, no UNSEEN/UIDNEXT, MYRIGHTS (ACL)."""
        reply, lines = await self._capture(lambda: super(CourierMailCommands, self).select(cmd))
        # imapd closes the previous folder without a word ([CLOSED] is RFC 7162's).
        lines = [t for t in lines if not t.startswith("* OK [CLOSED]")]
        if reply.status != "OK" or self.box is None:
            if reply.status == "NO":
                reply.text = NO_FOLDER
            for text in lines:
                await self.line(text)
            return reply
        await self._announce_flags(self.box)
        for text in lines:
            if text.endswith((" EXISTS", " RECENT")):
                await self.line(text)
        await self.line(f"* OK [UIDVALIDITY {self.box.uidvalidity}] Ok")
        if self.session.courier.daemon.vars.get("IMAP_ACL", "1").strip() != "0":
            await self.line('* OK [MYRIGHTS "acdilrsw"] ACL')
        return reply

    # --- folders (INBOX. namespace) ------------------------------------------------------

    async def namespace(self, cmd: Command) -> Reply:
        await self.line(FD.NAMESPACE)
        return Reply("OK", "NAMESPACE completed.")

    def _reference_exists(self, reference: str) -> bool:
        try:
            FD.to_storage(reference.rstrip(FD.SEP) or "INBOX")
            return True
        except MailboxNameInvalid:
            return False

    async def _listing(self, cmd: Command, verb: str) -> Reply:
        args = cmd.args()
        if verb == "LIST" and len(args) == 3 and isinstance(args[0], list):
            args = args[1:]  # imapd takes RFC 5258's selection options and lists as ever
        if len(args) != 2:
            raise ParseError("Invalid arguments")
        reference, name = astring(args[0]), astring(args[1])
        pattern = FD.scan_pattern(reference, name, self._reference_exists(reference))
        if pattern is not None:
            maildir = self._maildir()
            subscribed = FD.read_subscriptions(maildir) if verb == "LSUB" else None
            for text in FD.list_lines(verb, maildir, pattern, name == "", subscribed):
                await self.line(text)
        return Reply("OK", f"{verb} completed")

    async def list_cmd(self, cmd: Command) -> Reply:
        return await self._listing(cmd, "LIST")

    async def lsub(self, cmd: Command) -> Reply:
        return await self._listing(cmd, "LSUB")

    def _one_name(self, cmd: Command) -> tuple[str, str]:
        """(as the client wrote it, decoded) for commands taking one folder name."""
        args = cmd.args()
        if len(args) == 2 and cmd.name == "CREATE" and isinstance(args[1], list):
            args = args[:1]
        if len(args) != 1:
            raise ParseError("Invalid arguments")
        return astring(args[0]), mailbox_name(args[0])

    async def create(self, cmd: Command) -> Reply:
        raw, name = self._one_name(cmd)
        folder = name[:-1] if name.endswith(FD.SEP) else name
        if folder.upper() == FD.INBOX:
            return Reply("NO", "INBOX already exists!")
        try:
            inner = FD.to_storage(folder)
        except MailboxNameInvalid:
            return Reply("NO", INVALID_NAME)
        if folder != name:  # a trailing separator names a hierarchy: nothing to make in Maildir++
            # imapd then looks for the new name's ACLs, which a name ending in "." cannot have.
            self.ctx.log.error(self.session.login_prefix, f"Error reading ACLs for {raw}: Invalid argument")
            return Reply("OK", f'"{raw}" created.')
        assert self.storage is not None
        try:
            self.storage.create(inner)
        except MailboxExists:
            return Reply("NO", "Cannot create this folder.")
        except MailboxNameInvalid:
            return Reply("NO", INVALID_NAME)
        return Reply("OK", f'"{raw}" created.')

    async def delete(self, cmd: Command) -> Reply:
        _raw, name = self._one_name(cmd)
        if name.upper() == FD.INBOX:
            return Reply("NO", "Cannot delete this folder.")
        try:
            inner = FD.to_storage(name)
        except MailboxNameInvalid:
            return Reply("NO", NO_FOLDER)
        if self.box is not None and self.box.name == inner:
            return Reply("NO", "Cannot delete currently-open folder.")
        assert self.storage is not None
        try:
            self.storage.delete(inner)
        except (MailboxNotFound, MailboxNameInvalid):
            return Reply("NO", NO_FOLDER)
        return Reply("OK", "Folder deleted.")

    async def rename(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) != 2:
            raise ParseError("Invalid arguments")
        old, new = mailbox_name(args[0]), mailbox_name(args[1])
        try:
            inner_old, inner_new = FD.to_storage(old), FD.to_storage(new)
        except MailboxNameInvalid:
            return Reply("NO", INVALID_NAME)
        if inner_old == FD.INBOX:
            return Reply("NO", "INBOX rename not implemented.")
        if inner_new == FD.INBOX:
            return Reply("NO", "RENAME failed: File exists")
        assert self.storage is not None
        try:
            self.storage.rename(inner_old, inner_new)
        except MailboxExists:
            return Reply("NO", "RENAME failed: File exists")
        except MailboxNotFound:
            pass  # imapd renames the folder and its subfolders: none of them is no error
        except MailboxNameInvalid:
            return Reply("NO", INVALID_NAME)
        return Reply("OK", "Folder renamed.")

    async def subscribe(self, cmd: Command) -> Reply:
        _raw, name = self._one_name(cmd)
        try:
            FD.to_storage(name)
        except MailboxNameInvalid:
            return Reply("NO", INVALID_NAME)
        folder = FD.from_storage(FD.to_storage(name))
        maildir = self._maildir()
        names = FD.read_subscriptions(maildir)
        on = cmd.name == "SUBSCRIBE"
        if on and folder not in names:
            names.append(folder)
        elif not on:
            names = [n for n in names if n != folder]
        user = self.session.user
        uid, gid = (user.uid, user.gid) if user is not None else (-1, -1)
        try:
            FD.write_subscriptions(maildir, names, uid, gid)
        except OSError as exc:
            raise StorageError(f"{maildir}/{FD.SUBSCRIBE_FILE}: {exc.strerror}") from exc
        return Reply("OK", "Folder subscribed." if on else "Folder unsubscribed.")

    async def status(self, cmd: Command) -> Reply:
        reply = await super().status(cmd)
        if reply.status == "NO":
            reply.text = NO_FOLDER
        return reply

    # --- messages ------------------------------------------------------------------------

    def append_refusal(self, first_line: bytes) -> str | None:
        """imapd checks APPEND's folder before it sends `+ OK` for the message."""
        _tag, cmd = split_command(_LITERAL_END.sub(b"", first_line))
        try:
            args = cmd.args() if cmd is not None else []
            name = mailbox_name(args[0]) if args else ""
        except (ParseError, BadMailboxName):
            return None  # the command's own error comes after the literal
        try:
            inner = FD.to_storage(name)
        except MailboxNameInvalid:
            return INVALID_NAME
        exists = getattr(self.storage, "exists", None)
        if inner != FD.INBOX and callable(exists):
            try:
                if not exists(inner):
                    return "[TRYCREATE] Must create mailbox before append"
            except StorageError:
                return None
        return None

    async def append(self, cmd: Command) -> Reply:
        args = cmd.args()
        if args:
            try:
                FD.to_storage(mailbox_name(args[0]))
            except MailboxNameInvalid:
                return Reply("NO", INVALID_NAME)
        reply = await super().append(cmd)
        reply.sync = False  # imapd reports the new message at the next command that looks
        if reply.status == "OK":
            reply.text = reply.text.replace("Append completed", "APPEND Ok.")
        elif reply.text.startswith("[TRYCREATE]"):
            reply.text = "[TRYCREATE] Must create mailbox before append"
        return reply

    async def copy(self, cmd: Command) -> Reply:
        if cmd.name.endswith("MOVE"):  # Courier-IMAP 5.0 has no MOVE
            return Reply("BAD", "Unknown command")
        args = cmd.args()
        if len(args) == 2:
            try:
                FD.to_storage(mailbox_name(args[1]))
            except MailboxNameInvalid:
                return Reply("BAD", INVALID_NAME)
        reply = await super().copy(cmd)
        reply.sync = False
        if reply.status == "OK":
            reply.text = reply.text.replace("Copy completed", "COPY completed.")
        elif reply.text.startswith("[TRYCREATE]"):
            reply.text = "[TRYCREATE] Mailbox does not exist."
        return reply

    def _fetch_line(
        self,
        box: Mailbox,
        seq: int,
        msg: MessageInfo,
        req: F.FetchRequest,
        needs_body: bool,
        sets_seen: bool,
    ) -> bytes:
        data = super()._fetch_line(box, seq, msg, req, needs_body, sets_seen)
        flags = f"FLAGS {courier_flags(msg.flags, msg.recent)}".encode()
        return _FLAGS_ITEM.sub(lambda _m: flags, data, count=1)

    def _store_targets(
        self, box: Mailbox, set_text: str, uid: bool
    ) -> tuple[list[tuple[int, MessageInfo]], int]:
        """The messages a STORE names, in the set's order, up to the first sequence
        number past the end, which imapd reports and stops at (0: none)."""
        if uid:
            return self._select_msgs(set_text, True), 0
        count = len(box.messages)
        picked: list[tuple[int, MessageInfo]] = []
        for lo, hi in parse_sequence_set(set_text, count):
            for n in range(lo, hi + 1):
                if n < 1 or n > count:
                    return picked, n
                picked.append((n, box.messages[n - 1]))
        return picked, 0

    async def store(self, cmd: Command) -> Reply:
        seqset, uid, base, silent, flags = store_args(cmd)
        flags.discard("\\Recent")
        box = self._box()
        if box.readonly:
            return Reply("NO", "Current box is selected READ-ONLY.", sync=False)
        targets, bad = self._store_targets(box, seqset, uid)
        new_keywords = sorted(f for f in flags if not f.startswith("\\") and f not in self.keywords)
        if new_keywords and base != "-FLAGS" and targets:
            self.keywords = new_keywords + self.keywords
            await self._announce_flags(box)
        for seq, msg in targets:
            current = set(msg.flags)
            new = stored_flags(base, current, flags)
            if new != current:
                if "\\Deleted" in new and "\\Deleted" not in current:
                    self.stats.deleted += 1
                box.set_flags(msg, set(new))
                self.known_flags[msg.uid] = flag_state(msg.flags, msg.recent)
            if not silent:  # imapd reports every message named, changed or not
                uid_part = f"UID {msg.uid} " if uid else ""
                await self.line(f"* {seq} FETCH ({uid_part}FLAGS {courier_flags(msg.flags, msg.recent)})")
        if bad:
            await self.line(f"* NO Invalid message sequence number: {bad}")
        return Reply("OK", "STORE completed.", sync=False)

    async def _expunge_deleted(self, box: Mailbox, uids: list[int] | None, report: bool) -> None:
        gone = [m.uid for m in box.messages if "\\Deleted" in m.flags and (uids is None or m.uid in uids)]
        if not gone:
            return
        seqs = box.expunge(gone)
        self.stats.expunged += len(seqs)
        self.known_flags = {m.uid: flag_state(m.flags, m.recent) for m in box.messages}
        if not report:
            return
        for seq in seqs:
            await self.line(f"* {seq} EXPUNGE")
        await self.line(f"* {len(box.messages)} EXISTS")
        await self.line(f"* {self._recent_count(box)} RECENT")
        await self._keywords_changed(box)

    async def _keywords_changed(self, box: Mailbox) -> None:
        """imapd announces FLAGS again when the keywords in use changed."""
        used = {f for m in box.messages for f in m.flags if not f.startswith("\\")}
        if used != set(self.keywords):
            self.keywords = [k for k in self.keywords if k in used] + sorted(used - set(self.keywords))
            await self._announce_flags(box)

    async def expunge(self, cmd: Command) -> Reply:
        box = self._box()
        if box.readonly:
            return Reply("NO", "Cannot expunge read-only mailbox.", sync=False)
        uids: list[int] | None = None
        if cmd.name == "UID EXPUNGE":
            args = cmd.args()
            if len(args) != 1 or not isinstance(args[0], Atom):
                raise ParseError("Invalid arguments")
            star = box.messages[-1].uid if box.messages else 0
            ranges = parse_sequence_set(args[0].text, star)
            uids = [m.uid for m in box.messages if any(lo <= m.uid <= hi for lo, hi in ranges)]
        await self._expunge_deleted(box, uids, report=True)
        return Reply("OK", "EXPUNGE completed", sync=False)

    async def close_cmd(self, cmd: Command) -> Reply:
        box = self._box()
        if not box.readonly:
            await self._expunge_deleted(box, None, report=False)
        self.close()
        return Reply("OK", "mailbox closed.", sync=False)

    # imapd's report of other sessions' changes: the shared one, with EXISTS and RECENT
    # after any change of the count (EXPUNGEs included) and flags in imapd's order.
    def count_changed(self, changes: SyncChanges, before: int, after: int) -> bool:
        return bool(changes.expunged_seqs or changes.new_count or after != before)

    def flag_list(self, flags: AbstractSet[str], recent: bool) -> str:
        return courier_flags(flags, recent)

    async def dispatch(self, cmd: Command, reader: asyncio.StreamReader, read_line: ReadLine) -> Reply:
        """The shared commands, in imapd's words: no timings, NO for what cannot run."""
        reply = await super().dispatch(cmd, reader, read_line)
        reply.timing = False
        # imapd tells of other sessions' changes only where a client waits for them.
        reply.sync = reply.sync and cmd.name in ("NOOP", "CHECK", "IDLE")
        if reply.status == "BAD":
            reply.status, reply.text = COMMAND_ERROR.split(" ", 1)
        elif reply.status == "OK" and cmd.name in OK_WORDS:
            reply.text = OK_WORDS[cmd.name]
        elif reply.status == "OK" and cmd.name in ("SELECT", "EXAMINE"):
            reply.text = ("[READ-ONLY]" if "READ-ONLY" in reply.text else "[READ-WRITE]") + " Ok"
        return reply

    async def capability(self, cmd: Command) -> Reply:
        # After login imapd no longer offers STARTTLS.
        await self.line(f"* CAPABILITY {self.session.prelogin_capability(logged_in=True)}")
        return Reply("OK", "CAPABILITY completed", timing=False)

    async def noop(self, cmd: Command) -> Reply:
        return Reply("OK", "NOOP completed", timing=False)

    async def logout(self, cmd: Command) -> Reply:
        return Reply(
            "OK", "LOGOUT completed", timing=False, sync=False, logout=True,
            after=["* BYE Courier-IMAP server shutting down"],
        )  # fmt: skip

    async def id(self, cmd: Command) -> Reply:
        return Reply("NO", R.BAD_PRELOGIN, timing=False)


SASL_MECHANISMS = ("PLAIN", "LOGIN")


class CourierImapSession(ImapSession):
    def __init__(self, ctx: ServerContext, conn: ClientConn, courier: CourierContext) -> None:
        super().__init__(ctx, conn)
        self.courier = courier
        # imapd counts rcvd/sent from its own start, which is after imaplogin's LOGIN.
        self.login_bytes = (0, 0)
        self.sasl_mech = ""  # AUTHENTICATE's mechanism: a failed one is logged as method=, not user=

    @property
    def login_prefix(self) -> str:
        return "imapd-ssl" if self.courier.daemon.ssl else "imapd"

    def append_check(self) -> Callable[[bytes], str | None] | None:
        mail = self.mail
        return mail.append_refusal if isinstance(mail, CourierMailCommands) else None

    def where(self) -> str:
        return f"ip=[{courier_ip(self.conn.rip)}], port=[{self.conn.rport}]"

    async def run(self) -> None:
        # couriertcpd's debug line (Debian's rsyslog puts mail.debug in mail.log too).
        self.ctx.log.info(self.login_prefix, f"Connection, {self.where()}")
        await super().run()

    def log_login_disconnect(self, reason: str) -> None:
        secs = int(time.monotonic() - self.started)
        self.ctx.log.info(self.login_prefix, f"Disconnected, {self.where()}, time={secs}")

    async def line(self, text: str) -> None:
        # The shared session says BAD for unknown and malformed commands; imapd says NO.
        m = _TAGGED_BAD.match(text)
        if m:
            text = f"{m.group(1)} {COMMAND_ERROR}"
        await super().line(text)

    def capability_words(self, logged_in: bool = False) -> list[str]:
        d = self.courier.daemon
        words = (d.capability_tls if self.conn.tls else d.capability).split()
        added: list[str] = []
        if d.vars.get("IMAP_ACL", "1").strip() != "0":
            added += ["ACL", "ACL2=UNION"]
        # Offered whenever IMAPDSTARTTLS=YES: couriertls looks for the certificate only at STARTTLS.
        starttls = not self.conn.tls and not d.ssl and d.starttls
        if starttls and not logged_in:
            added.append("STARTTLS")
        if d.tls_required and not self.conn.tls:
            added.append("LOGINDISABLED")
        words += [w for w in added if w not in words]
        # The file's own words stay as written, repeats included (IMAP_CAPABILITY_TLS adds
        # AUTH=PLAIN to $IMAP_CAPABILITY even when it has one); only imapd's additions are unique.
        return words + [w for w in TRAILING_CAPS if w not in words]

    def prelogin_capability(self, logged_in: bool = False) -> str:
        return " ".join(self.capability_words(logged_in))

    def mechanisms(self) -> list[str]:
        # What AUTHENTICATE accepts: authlib's mechanisms, whether or not IMAP_CAPABILITY
        # advertises them (its AUTH= words only tell clients).
        return list(SASL_MECHANISMS)

    def plaintext_allowed(self) -> bool:
        return self.conn.tls or not self.courier.daemon.tls_required

    def log_mail_disconnect(self, reason: str) -> None:
        st = self.mail.stats if self.mail else None
        user = self.user.user if self.user else self.last_user
        what = "LOGOUT" if reason == "Logged out" else "DISCONNECTED"
        rcvd, sent = self.bytes_in - self.login_bytes[0], self.bytes_out - self.login_bytes[1]
        starttls = ", starttls=1" if self.conn.tls and not self.courier.daemon.ssl else ""
        self.ctx.log.info(
            self.login_prefix,
            f"{what}, user={user}, {self.where()}, "
            f"headers={st.hdr_bytes if st else 0}, body={st.body_bytes if st else 0}, "
            f"rcvd={rcvd}, sent={sent}, time={int(time.monotonic() - self.started)}{starttls}",
        )

    async def _capability_pre(self, cmd: Command) -> bool:
        await self.line(f"* CAPABILITY {self.prelogin_capability()}")
        await self.line(f"{cmd.tag} OK CAPABILITY completed")
        return False

    async def _noop_pre(self, cmd: Command) -> bool:
        await self.line(f"{cmd.tag} OK NOOP completed")
        return False

    async def _id_pre(self, cmd: Command) -> bool:
        # Courier-IMAP does not implement ID (RFC 2971): an unknown command to it.
        await self._count_bad(MAX_BAD_PRELOGIN)
        await self.line(f"{cmd.tag} BAD {R.BAD_PRELOGIN}")
        return False

    async def _logout_pre(self, cmd: Command) -> bool:
        await self.line("* BYE Courier-IMAP server shutting down")
        await self.line(f"{cmd.tag} OK LOGOUT completed")
        self.ctx.log.info(
            self.login_prefix, f"LOGOUT, {self.where()}, rcvd={self.bytes_in}, sent={self.bytes_out}"
        )
        return True

    async def _starttls(self, cmd: Command) -> bool:
        d = self.courier.daemon
        if self.courier.tls is None or self.conn.tls or d.ssl or not d.starttls:
            await self.line(f"{cmd.tag} BAD Error in IMAP command received by server.")
            return False
        attempt = self.courier.tls.current()
        await self.line(f"{cmd.tag} OK Begin SSL/TLS negotiation now.")
        if attempt.context is None:
            # imapd's couriertls gives up before the handshake and says nothing in the log:
            # the client sees the connection close, the log only imapd's Disconnected line.
            raise Disconnect("Connection closed")
        try:
            await self.conn.start_tls(attempt.context)
        except ClientGoneShared as exc:
            self.ctx.log.info(self.login_prefix, f"couriertls: accept: {exc or 'handshake failed'}")
            raise Disconnect("") from exc
        return False

    async def _login(self, cmd: Command) -> bool:
        if not self.plaintext_allowed():
            await self.line(f"{cmd.tag} NO STARTTLS required")
            return False
        self.sasl_mech = ""
        return await super()._login(cmd)

    async def _authenticate(self, cmd: Command) -> bool:
        args = cmd.args()
        self.sasl_mech = astring(args[0]).upper() if args else ""
        if not self.plaintext_allowed():
            await self.line(f"{cmd.tag} NO STARTTLS required")
            return False
        if 1 <= len(args) <= 2 and self.sasl_mech not in self.mechanisms():
            # imaplogin hands any mechanism to authlib, which fails it like a wrong password.
            self.ctx.log.info(self.login_prefix, f"LOGIN FAILED, method={self.sasl_mech}, {self.where()}")
            await asyncio.sleep(max(0.0, float(self.settings.auth_failure_delay)))
            await self.line(f"{cmd.tag} NO Login failed.")
            return False
        return await super()._authenticate(cmd)

    async def _auth_done(self, cmd: Command, result: AuthResult) -> bool:
        ip = courier_ip(self.conn.rip)
        if not result.ok or result.userinfo is None:
            who = f"method={self.sasl_mech}" if self.sasl_mech else f"user={self.last_user}"
            self.ctx.log.info(self.login_prefix, f"LOGIN FAILED, {who}, ip=[{ip}], port=[{self.conn.rport}]")
            if result.temp_fail:  # authdaemond down, or no home to change to: imaplogin gives up
                self.ctx.log.error(self.login_prefix, AUTH_ERROR)
                await self.line(f"* BYE {result.client_message}")
                raise Disconnect("")
            await self.line(f"{cmd.tag} NO Login failed.")
            return False
        info = result.userinfo
        self.last_user = result.user or info.user
        # MAXPERIP is couriertcpd's: it counts connections, before any login (see server.py).
        key = (info.user, self.conn.rip)
        self.ctx.userip_sessions[key] = self.ctx.userip_sessions.get(key, 0) + 1
        self.userip_key = key
        self.ctx.log.info(
            self.login_prefix,
            f"LOGIN, user={self.last_user}, ip=[{ip}], port=[{self.conn.rport}], protocol=IMAP",
        )
        self.user = info
        storage: MailStorage | None = None
        try:
            storage = self.ctx.open_storage(info)
        except StorageError as exc:
            self.ctx.log.error(self.login_prefix, f"{info.user}: {exc}")
        except Exception as exc:
            self.ctx.log.error(self.login_prefix, f"{info.user}: error opening the Maildir: {exc!r}")
        self.mail = CourierMailCommands(self, storage)
        # imapd's sent= starts with this reply (imaplogin has exec'd it by then).
        self.login_bytes = (self.bytes_in, self.bytes_out)
        await self.line(f"{cmd.tag} OK LOGIN Ok.")
        return False


async def serve_courier_imap(ctx: ServerContext, conn: ClientConn, courier: CourierContext) -> None:
    session = CourierImapSession(ctx, conn, courier)
    try:
        await session.run()
    except Exception as exc:  # never a traceback to the client
        with contextlib.suppress(Exception):
            ctx.log.error("imapd", f"Internal error: {exc!r}")
