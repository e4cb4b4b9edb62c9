"""Commands of the authenticated and selected states (what Dovecot's imap process does)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from labsim.mailserver.connection import ServerContext
from labsim.mailserver.imap import fetch as F
from labsim.mailserver.imap import listing as L
from labsim.mailserver.imap import mime
from labsim.mailserver.imap import responses as R
from labsim.mailserver.imap.args import (
    BadMailboxName,
    mailbox_name,
    normalize_flag,
    parse_date_time,
    uid_set,
)
from labsim.mailserver.imap.parser import (
    Atom,
    Command,
    ParseError,
    Str,
    Value,
    astring,
    atom,
    in_set,
    parse_sequence_set,
    value_list,
)
from labsim.mailserver.imap.search import BadCharset, SearchContext, parse_search
from labsim.mailserver.storage.base import (
    Mailbox,
    MailboxExists,
    MailboxInfo,
    MailboxNameInvalid,
    MailboxNoPermission,
    MailboxNotFound,
    MailStorage,
    MessageInfo,
    StorageError,
    StoragePermissionError,
    SyncChanges,
)

# Dovecot's answers when the user may not write where the command must (MAIL_ERROR_PERM).
NOPERM = "[NOPERM] Permission denied"
NOPERM_SUBSCRIPTIONS = "[NOPERM] No permission to modify subscriptions"

# Bytes of FETCH responses gathered before one write to the client.
FETCH_BATCH_BYTES = 1 << 16

FlagState = tuple[frozenset[str], bool]
_FLAG_STATES: dict[frozenset[str], tuple[FlagState, FlagState]] = {}


def flag_state(flags: frozenset[str], recent: bool) -> FlagState:
    """(flags, recent) as a session remembers them for each message: one shared
    tuple per distinct combination instead of a new one per message."""
    states = _FLAG_STATES.get(flags)
    if states is None:
        states = ((flags, False), (flags, True))
        if len(_FLAG_STATES) < 4096:
            _FLAG_STATES[flags] = states
    return states[recent]


def _valid_keyword(text: str) -> bool:
    try:
        return not normalize_flag(text).startswith("\\")
    except ParseError:
        return False


def status_body(values: dict[str, int], items: list[str]) -> str:
    """STATUS items in Dovecot's fixed order, whatever order the client asked in."""
    wanted = set(items)
    return " ".join(f"{it} {values[it]}" for it in L.STATUS_ITEMS if it in wanted)


Send = Callable[[bytes], Awaitable[None]]
ReadLine = Callable[[], Awaitable[bytes]]


@dataclass
class Reply:
    status: str  # OK, NO, BAD
    text: str
    timing: bool = True
    sync: bool = True
    logout: bool = False
    after: list[str] = field(default_factory=list)  # untagged lines sent just before the tagged one


@dataclass
class Stats:
    deleted: int = 0
    expunged: int = 0
    hdr_count: int = 0
    hdr_bytes: int = 0
    body_count: int = 0
    body_bytes: int = 0


class MailCommands:
    IDLE_POLL = 1.0  # seconds between mailbox checks while a client IDLEs

    def __init__(self, ctx: ServerContext, prefix: str, storage: MailStorage | None, send: Send) -> None:
        self.ctx = ctx
        self.prefix = prefix
        self.storage = storage
        self.send = send
        self.box: Mailbox | None = None
        self.stats = Stats()
        self.known_flags: dict[int, tuple[frozenset[str], bool]] = {}
        self.keywords: list[str] = []  # announced in the last * FLAGS

    def close(self) -> None:
        if self.box is not None:
            with contextlib.suppress(Exception):
                self.box.close()
            self.box = None

    async def line(self, text: str) -> None:
        await self.send(text.encode("utf-8") + b"\r\n")

    def _storage(self) -> MailStorage:
        if self.storage is None:
            raise StorageError("Mail storage could not be opened")
        return self.storage

    async def dispatch(self, cmd: Command, reader: asyncio.StreamReader, read_line: ReadLine) -> Reply:
        name = cmd.name
        simple: dict[str, Callable[[Command], Awaitable[Reply]]] = {
            "CAPABILITY": self.capability,
            "NOOP": self.noop,
            "LOGOUT": self.logout,
            "ID": self.id,
            "NAMESPACE": self.namespace,
            "ENABLE": self.enable,
            "SELECT": self.select,
            "EXAMINE": self.select,
            "LIST": self.list_cmd,
            "LSUB": self.lsub,
            "STATUS": self.status,
            "CREATE": self.create,
            "RENAME": self.rename,
            "DELETE": self.delete,
            "SUBSCRIBE": self.subscribe,
            "UNSUBSCRIBE": self.subscribe,
            "APPEND": self.append,
        }
        selected: dict[str, Callable[[Command], Awaitable[Reply]]] = {
            "CHECK": self.check,
            "CLOSE": self.close_cmd,
            "UNSELECT": self.unselect,
            "EXPUNGE": self.expunge,
            "FETCH": self.fetch,
            "UID FETCH": self.fetch,
            "STORE": self.store,
            "UID STORE": self.store,
            "SEARCH": self.search,
            "UID SEARCH": self.search,
            "COPY": self.copy,
            "UID COPY": self.copy,
            "MOVE": self.copy,
            "UID MOVE": self.copy,
            "UID EXPUNGE": self.expunge,
        }
        if name == "IDLE":
            return await self.idle(cmd, read_line)
        handler = simple.get(name)
        if handler is None and name in selected:
            if self.box is None:
                return Reply("BAD", "No mailbox selected")
            handler = selected[name]
        if handler is not None:
            try:
                return await handler(cmd)
            except BadMailboxName:
                return Reply("NO", "Mailbox name is not valid mUTF-7")
            except MailboxNoPermission:
                # A permission problem is the user's to see, not an error of the server:
                # Dovecot answers [NOPERM] and logs nothing (observed on 2.3.19).
                return Reply("NO", NOPERM)
        return Reply("BAD", f"Error in IMAP command {name}: Unknown command")

    # --- any state --------------------------------------------------------------

    async def capability(self, cmd: Command) -> Reply:
        await self.line(f"* CAPABILITY {R.postlogin_capability(self.ctx.settings)}")
        return Reply("OK", "Capability completed")

    async def noop(self, cmd: Command) -> Reply:
        return Reply("OK", "NOOP completed")

    async def logout(self, cmd: Command) -> Reply:
        return Reply("OK", "Logout completed", sync=False, logout=True, after=["* BYE Logging out"])

    async def id(self, cmd: Command) -> Reply:
        await self.line('* ID ("name" "Dovecot")')
        return Reply("OK", "ID completed")

    async def namespace(self, cmd: Command) -> Reply:
        sep = self._storage().separator
        await self.line(f'* NAMESPACE (("" "{sep}")) NIL NIL')
        return Reply("OK", "Namespace completed")

    async def enable(self, cmd: Command) -> Reply:
        args = cmd.args()
        if not args:
            raise ParseError("Invalid arguments")
        for a in args:
            atom(a)
        # None of the ENABLE-able extensions (CONDSTORE, QRESYNC, UTF8=ACCEPT) is implemented.
        await self.line("* ENABLED")
        return Reply("OK", "Enabled")

    # --- mailboxes ---------------------------------------------------------------

    async def select(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) != 1:
            raise ParseError("Invalid arguments")
        name = mailbox_name(args[0])
        examine = cmd.name == "EXAMINE"
        if self.box is not None:
            self.close()
            await self.line("* OK [CLOSED] Previous mailbox closed.")
        try:
            box = self._storage().open(name, readonly=examine)
        except MailboxNotFound as exc:
            return Reply("NO", str(exc) or f"Mailbox doesn't exist: {name}")
        except MailboxNameInvalid as exc:
            return Reply("NO", f"[CANNOT] {exc}")
        await self._send_notices()
        self.box = box
        msgs = box.messages
        self.known_flags = {m.uid: flag_state(m.flags, m.recent) for m in msgs}
        self.keywords = sorted({f for m in msgs for f in m.flags if not f.startswith("\\")})
        await self._announce_flags(box)
        await self.line(f"* {len(msgs)} EXISTS")
        await self.line(f"* {sum(1 for m in msgs if m.recent)} RECENT")
        for seq, m in enumerate(msgs, 1):
            if "\\Seen" not in m.flags:
                await self.line(f"* OK [UNSEEN {seq}] First unseen.")
                break
        await self.line(f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid")
        await self.line(f"* OK [UIDNEXT {box.uidnext}] Predicted next UID")
        if box.partial:
            # The index is in memory only (the mail directory is not the user's to write).
            await self.line("* OK [NOMODSEQ] No permanent modsequences")
        if box.readonly:
            return Reply(
                "OK", "[READ-ONLY] " + ("Examine" if examine else "Select") + " completed", sync=False
            )
        return Reply("OK", "[READ-WRITE] Select completed", sync=False)

    async def list_cmd(self, cmd: Command) -> Reply:
        req = L.parse_list(cmd.args())
        storage = self._storage()
        sep = storage.separator
        if req.patterns == [""] and not req.extended:
            await self.line(f'* LIST (\\Noselect) "{sep}" ""')
            return Reply("OK", "List completed")
        subscribed = self._subscribed_names() if req.subscribed else []
        entries = L.list_entries(
            req, self._listed(storage, req.patterns), subscribed, self._special_use(), sep
        )
        for entry in entries:
            await self.line(entry.line(sep))
            if req.status_items and entry.selectable:
                await self._list_status(entry.name, req.status_items)
        return Reply("OK", "List completed")

    def _listed(self, storage: MailStorage, patterns: list[str]) -> list[MailboxInfo]:
        """The mailboxes a LIST walks. Without a usable mailbox list index Dovecot 2.3 logs why
        and lists INBOX alone for a wildcard pattern: a ~/mail or ~/Maildir that is root's
        hides the user's folders from the client."""
        errors = storage.list_index_errors()
        for error in errors:
            self.ctx.log.error(self.prefix, error)
        if errors and any("%" in p or "*" in p for p in patterns):
            return [MailboxInfo("INBOX", ["\\HasNoChildren"])]
        return storage.list()

    def _log_list_refresh(self) -> None:
        """Commands that look a folder up in the mailbox list first (STATUS of a folder,
        SUBSCRIBE, RENAME) log the list index's last failure, as Dovecot does."""
        for error in self._storage().list_index_errors()[-1:]:
            self.ctx.log.error(self.prefix, error)

    async def _send_notices(self) -> None:
        storage = self._storage()
        for error in storage.take_log_errors():
            self.ctx.log.error(self.prefix, error)
        for notice in storage.take_notices():
            await self.line(f"* NO {notice}")

    async def _list_status(self, name: str, items: list[str]) -> None:
        """LIST-STATUS: a STATUS line after the LIST line; a mailbox refused for want of
        permission gets Dovecot's untagged NO instead, other failures are left out."""
        try:
            values = self._status_values(name)
        except StoragePermissionError:
            await self.line(f"* NO {NOPERM}")
            return
        except StorageError:
            return
        await self.line(f"* STATUS {R.mailbox_out(name)} ({status_body(values, items)})")

    def _special_use(self) -> dict[str, list[str]]:
        return getattr(self.ctx.settings, "mailbox_special_use", None) or {}

    def _subscribed_names(self) -> list[str]:
        try:
            return [i.name for i in self._storage().list_subscribed()]
        except NotImplementedError:
            return []

    async def lsub(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) != 2:
            raise ParseError("Invalid arguments")
        ref, pattern = astring(args[0]), astring(args[1])
        storage = self._storage()
        sep = storage.separator
        if pattern == "":
            await self.line(f'* LSUB () "{sep}" ""')
            return Reply("OK", "Lsub completed")
        entries = L.lsub_entries(
            ref, pattern, self._subscribed_names(), storage.list(), self._special_use(), sep
        )
        for entry in entries:
            await self.line(entry.line(sep, "LSUB"))
        return Reply("OK", "Lsub completed")

    async def status(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) != 2:
            raise ParseError("Invalid arguments")
        name = mailbox_name(args[0])
        items = [atom(v).upper() for v in value_list(args[1])]
        if not items:
            raise ParseError("Invalid arguments")
        for it in items:
            if it not in ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"):
                raise ParseError(f"Invalid status item {it}")
        if name.upper() != "INBOX":
            self._log_list_refresh()
        try:
            values = self._status_values(name)
            await self._send_notices()
        except MailboxNotFound as exc:
            return Reply("NO", str(exc) or f"Mailbox doesn't exist: {name}")
        except MailboxNameInvalid as exc:
            return Reply("NO", f"[CANNOT] {exc}")
        body = status_body(values, items)
        await self.line(f"* STATUS {R.astring_out(astring(args[0]))} ({body})")
        if self.box is not None and self.box.name == ("INBOX" if name.upper() == "INBOX" else name):
            return Reply("OK", "[CLIENTBUG] Status on selected mailbox completed")
        return Reply("OK", "Status completed")

    def _status_values(self, name: str) -> dict[str, int]:
        storage = self._storage()
        try:
            st = storage.status(name)
        except NotImplementedError:
            box = storage.open(name, readonly=True)
            try:
                return {
                    "MESSAGES": len(box.messages),
                    "RECENT": sum(1 for m in box.messages if m.recent),
                    "UIDNEXT": box.uidnext,
                    "UIDVALIDITY": box.uidvalidity,
                    "UNSEEN": sum(1 for m in box.messages if "\\Seen" not in m.flags),
                }
            finally:
                box.close()
        return {
            "MESSAGES": st.messages,
            "RECENT": st.recent,
            "UIDNEXT": st.uidnext,
            "UIDVALIDITY": st.uidvalidity,
            "UNSEEN": st.unseen,
        }

    async def create(self, cmd: Command) -> Reply:
        args = cmd.args()
        # RFC 6154's `CREATE name (USE (\\Sent))`: Dovecot takes it and keeps the
        # special-use flags of its configuration, as we do.
        if len(args) == 2 and isinstance(args[1], list):
            args = args[:1]
        if len(args) != 1:
            raise ParseError("Invalid arguments")
        name = mailbox_name(args[0])
        sep = self._storage().separator
        try:
            self._storage().create(name.rstrip(sep) if name.endswith(sep) else name)
        except NotImplementedError:
            return Reply("NO", "CREATE not supported")
        except MailboxNameInvalid as exc:
            return Reply("NO", f"[CANNOT] {exc}")
        except StoragePermissionError as exc:
            return self._refused(exc, NOPERM)
        except StorageError as exc:
            if type(exc).__name__ == "MailboxExists":
                return Reply("NO", "[ALREADYEXISTS] Mailbox already exists")
            raise
        return Reply("OK", "Create completed")

    async def delete(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) != 1:
            raise ParseError("Invalid arguments")
        name = mailbox_name(args[0])
        if name.upper() == "INBOX":
            return Reply("NO", "INBOX can't be deleted")
        if self.box is not None and self.box.name == name:
            self.close()
            await self.line("* OK [CLOSED] Previous mailbox closed.")
        try:
            self._storage().delete(name)
        except NotImplementedError:
            return Reply("NO", "DELETE not supported")
        except MailboxNotFound as exc:
            return Reply("NO", f"[NONEXISTENT] {exc}")
        except MailboxNameInvalid as exc:
            return Reply("NO", f"[CANNOT] {exc}")
        except StoragePermissionError as exc:
            return self._refused(exc, NOPERM)
        return Reply("OK", "Delete completed")

    def _refused(self, exc: StorageError, answer: str) -> Reply:
        """[NOPERM] to the client, as Dovecot answers. Dovecot logs nothing for it: a refusal
        for want of permission is the user's error, not the server's (seen on 2.3.19)."""
        return Reply("NO", answer)

    async def subscribe(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) != 1:
            raise ParseError("Invalid arguments")
        name = mailbox_name(args[0])
        on = cmd.name == "SUBSCRIBE"
        storage = self._storage()
        self._log_list_refresh()
        if on and name.upper() != "INBOX" and not self._exists(name):
            return Reply("NO", f"Mailbox doesn't exist: {name}")
        try:
            storage.subscribe(name, on)
        except NotImplementedError:
            pass
        except MailboxNameInvalid as exc:
            return Reply("NO", f"[CANNOT] {exc}")
        except StoragePermissionError as exc:
            return self._refused(exc, NOPERM_SUBSCRIPTIONS)
        return Reply("OK", "Subscribe completed" if on else "Unsubscribe completed")

    def _exists(self, name: str) -> bool:
        storage = self._storage()
        try:
            return any(i.name == name and i.exists for i in storage.list())
        except StorageError:
            return False  # a mail directory it cannot read: Dovecot finds no such mailbox
        except NotImplementedError:
            return True

    async def rename(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) != 2:
            raise ParseError("Invalid arguments")
        old, new = mailbox_name(args[0]), mailbox_name(args[1])
        storage = self._storage()
        sep = storage.separator
        if old == new or (old.upper() == "INBOX" and new.upper() == "INBOX"):
            return Reply("NO", "[ALREADYEXISTS] Can't rename mailbox to itself")
        if old.upper() == "INBOX":
            return Reply("NO", "[CANNOT] Renaming INBOX isn't supported")
        if new == "":
            return Reply("NO", "[CANNOT] Invalid mailbox name: Name is empty")
        if new.startswith(old + sep):
            return Reply("NO", "Can't rename mailbox under its own child")
        self._log_list_refresh()
        names = {i.name for i in storage.list()}
        if new.upper() == "INBOX" or new in names:
            return Reply("NO", "[ALREADYEXISTS] Target mailbox already exists")
        if old not in names:
            return Reply("NO", f"[NONEXISTENT] Mailbox doesn't exist: {old}")
        if self.box is not None and self.box.name == old:
            self.close()
            await self.line("* OK [CLOSED] Previous mailbox closed.")
        try:
            storage.rename(old, new)
        except NotImplementedError:
            return Reply("NO", "RENAME not supported")
        except MailboxNotFound:
            return Reply("NO", f"[NONEXISTENT] Mailbox doesn't exist: {old}")
        except MailboxNameInvalid as exc:
            return Reply("NO", f"[CANNOT] {exc}")
        except MailboxExists:
            return Reply("NO", "[ALREADYEXISTS] Target mailbox already exists")
        except StoragePermissionError as exc:
            return self._refused(exc, NOPERM)
        return Reply("OK", "Rename completed")

    async def _announce_flags(self, box: Mailbox) -> None:
        flags = " ".join([*R.SYSTEM_FLAGS, *self.keywords])
        await self.line(f"* FLAGS ({flags})")
        if box.readonly:
            await self.line("* OK [PERMANENTFLAGS ()] Read-only mailbox.")
        else:
            await self.line(f"* OK [PERMANENTFLAGS ({flags} \\*)] Flags permitted.")

    # --- selected state --------------------------------------------------------------

    def _box(self) -> Mailbox:
        assert self.box is not None
        return self.box

    async def check(self, cmd: Command) -> Reply:
        return Reply("OK", "Check completed")

    async def unselect(self, cmd: Command) -> Reply:
        self.close()
        return Reply("OK", "Unselect completed", sync=False)

    async def close_cmd(self, cmd: Command) -> Reply:
        box = self._box()
        if not box.readonly:
            uids = [m.uid for m in box.messages if "\\Deleted" in m.flags]
            if uids:
                gone = box.expunge(uids)
                self.stats.expunged += len(gone)
        self.close()
        return Reply("OK", "Close completed", sync=False)

    async def expunge(self, cmd: Command) -> Reply:
        box = self._box()
        if box.readonly:
            return Reply("OK", "Expunge completed")
        uids = [m.uid for m in box.messages if "\\Deleted" in m.flags]
        if cmd.name == "UID EXPUNGE":
            args = cmd.args()
            if len(args) != 1 or not isinstance(args[0], Atom):
                raise ParseError("Invalid arguments")
            ranges = parse_sequence_set(args[0].text, box.messages[-1].uid if box.messages else 0)
            uids = [u for u in uids if in_set(u, ranges)]
        if uids:
            recent = self._recent_count(box)
            seqs = box.expunge(uids)
            self.stats.expunged += len(seqs)
            for seq in seqs:
                await self.line(f"* {seq} EXPUNGE")
            await self._recent_changed(box, recent)
        self.known_flags = {m.uid: flag_state(m.flags, m.recent) for m in box.messages}
        return Reply("OK", "Expunge completed")

    @staticmethod
    def _recent_count(box: Mailbox) -> int:
        return sum(1 for m in box.messages if m.recent)

    async def _recent_changed(self, box: Mailbox, before: int) -> None:
        """Dovecot follows expunges with `* N RECENT` when they took \\Recent messages."""
        now = self._recent_count(box)
        if now != before:
            await self.line(f"* {now} RECENT")

    def _select_msgs(self, set_text: str, uid: bool) -> list[tuple[int, MessageInfo]]:
        msgs = self._box().messages
        if uid:
            star = msgs[-1].uid if msgs else 0
            ranges = parse_sequence_set(set_text, star)
            if len(ranges) == 1:  # the common `1:*`: no per-message scan of the ranges
                lo, hi = ranges[0]
                return [(seq, m) for seq, m in enumerate(msgs, 1) if lo <= m.uid <= hi]
            return [(seq, m) for seq, m in enumerate(msgs, 1) if in_set(m.uid, ranges)]
        ranges = parse_sequence_set(set_text, len(msgs))
        if any(hi > len(msgs) or lo < 1 for lo, hi in ranges):
            raise ParseError("Invalid messageset")
        if len(ranges) == 1:
            lo, hi = ranges[0]
            return list(enumerate(msgs[lo - 1 : hi], lo))
        return [(seq, m) for seq, m in enumerate(msgs, 1) if in_set(seq, ranges)]

    async def fetch(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) < 2:
            raise ParseError("Invalid arguments")
        uid = cmd.name.startswith("UID ")
        if not isinstance(args[0], Atom):
            raise ParseError("Invalid messageset")
        request = F.parse_fetch_items(args[1:])
        if uid and "UID" not in request.items:
            request.implicit_uid = True
        box = self._box()
        # Responses go out in batches: one write per message costs a system call
        # each, which dominates FETCH 1:* of flags and sizes on a big mailbox.
        needs_body, sets_seen = request.needs_body, request.sets_seen
        # FETCH 1:* (UID FLAGS RFC822.SIZE), a client's first look at a big mailbox, goes by a
        # short path that renders the same lines (_fetch_line is the reference).
        # Only where _fetch_line is ours: Courier's session renders flags its own way.
        plain = type(self)._fetch_line is MailCommands._fetch_line
        quick = None if needs_body or sets_seen or not plain else _quick_renderer(request)
        out: list[bytes] = []
        pending = 0
        for seq, msg in self._select_msgs(args[0].text, uid):
            try:
                if quick is not None:
                    chunk = quick(seq, msg)
                else:
                    chunk = self._fetch_line(box, seq, msg, request, needs_body, sets_seen)
            except Exception:
                if out:
                    await self.send(b"".join(out))
                raise
            out.append(chunk)
            pending += len(chunk)
            if pending >= FETCH_BATCH_BYTES:
                await self.send(b"".join(out))
                out, pending = [], 0
        if out:
            await self.send(b"".join(out))
        return Reply("OK", "Fetch completed", sync=uid)

    async def _fetch_one(self, box: Mailbox, seq: int, msg: MessageInfo, req: F.FetchRequest) -> None:
        await self.send(self._fetch_line(box, seq, msg, req, req.needs_body, req.sets_seen))

    def _fetch_line(
        self,
        box: Mailbox,
        seq: int,
        msg: MessageInfo,
        req: F.FetchRequest,
        needs_body: bool,
        sets_seen: bool,
    ) -> bytes:
        """One `* N FETCH (...)` response line (with its literals)."""
        data = b""
        if needs_body:
            data = box.read(msg)
        set_seen = sets_seen and not box.readonly and "\\Seen" not in msg.flags
        if set_seen:
            box.set_flags(msg, set(msg.flags) | {"\\Seen"})
            self.known_flags[msg.uid] = flag_state(msg.flags, msg.recent)
        parts: list[bytes] = []
        items = list(req.items)
        # Implicit items come first (UID for UID FETCH, FLAGS when \Seen was just set),
        # then the requested ones in request order, body sections last: Dovecot's order.
        if req.implicit_uid:
            parts.append(b"UID %d" % msg.uid)
        if set_seen and "FLAGS" not in items:
            parts.append(b"FLAGS " + F.flag_list(msg.flags, msg.recent).encode())
        header, body = mime.split_header(data) if data else (b"", b"")
        for it in items:
            if it == "UID":
                if not req.implicit_uid:
                    parts.append(b"UID %d" % msg.uid)
            elif it == "FLAGS":
                parts.append(b"FLAGS " + F.flag_list(msg.flags, msg.recent).encode())
            elif it == "INTERNALDATE":
                parts.append(b'INTERNALDATE "' + F.internaldate(msg.internaldate).encode() + b'"')
            elif it == "RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % msg.size)
            elif it == "RFC822":
                parts.append(b"RFC822 " + F.literal(data))
                self.stats.body_count += 1
                self.stats.body_bytes += len(data)
            elif it == "RFC822.HEADER":
                parts.append(b"RFC822.HEADER " + F.literal(header))
                self.stats.hdr_count += 1
                self.stats.hdr_bytes += len(header)
            elif it == "RFC822.TEXT":
                parts.append(b"RFC822.TEXT " + F.literal(body))
                self.stats.body_count += 1
                self.stats.body_bytes += len(body)
            elif it == "ENVELOPE":
                parts.append(b"ENVELOPE " + F.envelope(header))
            elif it == "BODYSTRUCTURE":
                parts.append(b"BODYSTRUCTURE " + F.bodystructure(mime.parse(data), extended=True))
            elif it == "BODY":
                parts.append(b"BODY " + F.bodystructure(mime.parse(data), extended=False))
        for sec in req.sections:
            chunk = F.section_bytes(data, sec)
            parts.append(sec.response_name().encode() + b" " + F.literal(chunk))
            # the counters the logout line shows: data bytes, headers apart from the rest
            if sec.spec.startswith("HEADER"):
                self.stats.hdr_count += 1
                self.stats.hdr_bytes += len(chunk)
            else:
                self.stats.body_count += 1
                self.stats.body_bytes += len(chunk)
        return b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n"

    async def store(self, cmd: Command) -> Reply:
        seqset, uid, base, silent, flags = store_args(cmd)
        box = self._box()
        targets = self._select_msgs(seqset, uid)
        if box.readonly:
            return Reply("OK", "Store ignored with read-only mailbox")
        new_keywords = sorted(f for f in flags if not f.startswith("\\") and f not in self.keywords)
        if new_keywords and base != "-FLAGS" and targets:
            self.keywords += new_keywords  # a client learns new keywords from * FLAGS first
            await self._announce_flags(box)
        for seq, msg in targets:
            current = set(msg.flags)
            new = stored_flags(base, current, flags)
            if new == current:
                continue  # Dovecot reports only messages whose flags changed
            if "\\Deleted" in new and "\\Deleted" not in current:
                self.stats.deleted += 1
            box.set_flags(msg, set(new))
            self.known_flags[msg.uid] = flag_state(msg.flags, msg.recent)
            if not silent:
                uid_part = f"UID {msg.uid} " if uid else ""
                await self.line(f"* {seq} FETCH ({uid_part}FLAGS {F.flag_list(msg.flags, msg.recent)})")
        return Reply("OK", "Store completed", sync=uid)

    async def append(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) < 2:
            raise ParseError("Missing arguments")
        name = mailbox_name(args[0])
        rest = args[1:]
        flags: set[str] = set()
        if isinstance(rest[0], list):
            for v in rest[0]:
                if not isinstance(v, Atom):
                    raise ParseError("Invalid arguments")
                flags.add(normalize_flag(v.text))
            rest = rest[1:]
        date: float | None = None
        if len(rest) == 2 and isinstance(rest[0], Str) and not rest[0].literal:
            date = parse_date_time(rest[0].text)
            rest = rest[1:]
        if len(rest) != 1 or not isinstance(rest[0], Str) or not rest[0].literal:
            raise ParseError("Invalid arguments")
        data = rest[0].data
        selected = self.box is not None and self.box.name == ("INBOX" if name.upper() == "INBOX" else name)
        try:
            target = self.box if selected and self.box is not None else self._open_for_append(name)
        except MailboxNotFound as exc:
            return Reply("NO", f"[TRYCREATE] {exc}")
        except MailboxNameInvalid as exc:
            return Reply("NO", f"[CANNOT] {exc}")
        try:
            uid = target.append(data, flags, date)
            validity = target.uidvalidity
        finally:
            if target is not self.box:
                target.close()
        return Reply("OK", f"[APPENDUID {validity} {uid}] Append completed")

    def _open_for_append(self, name: str) -> Mailbox:
        storage = self._storage()
        return storage.open(name, readonly=bool(getattr(storage, "append_readonly", False)))

    async def copy(self, cmd: Command) -> Reply:
        args = cmd.args()
        if len(args) != 2 or not isinstance(args[0], Atom):
            raise ParseError("Invalid arguments")
        uid = cmd.name.startswith("UID ")
        move = cmd.name.endswith("MOVE")
        box = self._box()
        targets = self._select_msgs(args[0].text, uid)
        name = mailbox_name(args[1])
        try:
            dest = self._open_for_append(name)
        except MailboxNotFound as exc:
            return Reply("NO", f"[TRYCREATE] {exc}")
        except MailboxNameInvalid as exc:
            return Reply("NO", f"[CANNOT] {exc}")
        src_uids: list[int] = []
        dst_uids: list[int] = []
        try:
            for _seq, msg in targets:
                data = box.read(msg)
                dst_uids.append(dest.append(data, set(msg.flags) - {"\\Recent"}, msg.internaldate))
                src_uids.append(msg.uid)
            validity = dest.uidvalidity
        finally:
            dest.close()
        verb = "Move" if move else "Copy"
        if not src_uids:
            return Reply("OK", f"{verb} completed")
        code = f"[COPYUID {validity} {uid_set(src_uids)} {uid_set(dst_uids)}]"
        if not move:
            return Reply("OK", f"{code} Copy completed")
        if box.readonly:
            return Reply("NO", "[CANNOT] Can't expunge from a read-only mailbox")
        await self.line(f"* OK {code} Moved UIDs.")
        recent = self._recent_count(box)
        for seq in box.expunge(src_uids):
            await self.line(f"* {seq} EXPUNGE")
        await self._recent_changed(box, recent)
        self.stats.expunged += len(src_uids)
        self.known_flags = {m.uid: flag_state(m.flags, m.recent) for m in box.messages}
        return Reply("OK", "Move completed")

    async def search(self, cmd: Command) -> Reply:
        uid = cmd.name.startswith("UID ")
        args = cmd.args()
        if not args:
            raise ParseError("Missing search parameters")
        box = self._box()
        ctx = SearchContext(box)
        try:
            matcher = parse_search(args, ctx)
        except BadCharset:
            return Reply("NO", "[BADCHARSET] Unknown charset")
        found = [str(m.uid if uid else seq) for seq, m in enumerate(box.messages, 1) if matcher(seq, m)]
        await self.line("* SEARCH" + "".join(" " + f for f in found))
        # Dovecot makes a keyword a search names known to the mailbox, and says so.
        new = [k for k in dict.fromkeys(ctx.keywords) if k not in self.keywords and _valid_keyword(k)]
        if new:
            self.keywords += new
            await self._announce_flags(box)
        return Reply("OK", "Search completed", sync=uid)

    async def idle(self, cmd: Command, read_line: ReadLine) -> Reply:
        await self.line("+ idling")
        keepalive = max(float(self.ctx.settings.imap_idle_notify_interval), 1.0)
        last_output = loop_time = asyncio.get_running_loop().time()
        task = asyncio.ensure_future(read_line())
        try:
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=self.IDLE_POLL)
                if done:
                    break
                loop_time = asyncio.get_running_loop().time()
                wrote = False
                if self.box is not None:
                    try:
                        wrote = await self.sync_untagged()
                    except StorageError as exc:
                        self.ctx.log.error(self.prefix, str(exc))
                if wrote:
                    last_output = loop_time
                elif loop_time - last_output >= keepalive:
                    await self.line("* OK Still here")
                    last_output = loop_time
            data = task.result()
        finally:
            if not task.done():
                task.cancel()
        if data.strip().upper() == b"DONE":
            return Reply("OK", "Idle completed")
        return Reply("BAD", "Expected DONE.")

    # --- untagged updates -----------------------------------------------------------

    async def sync_untagged(self) -> bool:
        """Report what changed in the selected mailbox; True when anything was written."""
        box = self.box
        if box is None:
            return False
        wrote = False
        before = len(box.messages)
        changes = box.sync()
        for seq in changes.expunged_seqs:
            wrote = True
            await self.line(f"* {seq} EXPUNGE")
        after = len(box.messages)
        if self.count_changed(changes, before, after):
            wrote = True
            await self.line(f"* {after} EXISTS")
            await self.line(f"* {self._recent_count(box)} RECENT")
        seen: set[int] = set()
        for seq in changes.flag_changes:
            if 1 <= seq <= after and seq not in seen:
                seen.add(seq)
                m = box.messages[seq - 1]
                known = self.known_flags.get(m.uid)
                if known is not None and known == flag_state(m.flags, m.recent):
                    continue
                wrote = True
                await self.line(f"* {seq} FETCH (FLAGS {self.flag_list(m.flags, m.recent)})")
        self.known_flags = {m.uid: flag_state(m.flags, m.recent) for m in box.messages}
        return wrote

    # What a personality reports its own way (Courier's imapd: see courier/imap.py).
    def count_changed(self, changes: SyncChanges, before: int, after: int) -> bool:
        """EXISTS and RECENT are sent when messages came beyond what the EXPUNGEs explain."""
        return bool(changes.new_count) or after != before - len(changes.expunged_seqs)

    def flag_list(self, flags: AbstractSet[str], recent: bool) -> str:
        return F.flag_list(flags, recent)


__all__ = ["MailCommands", "Reply", "Stats", "Str"]


def store_args(cmd: Command) -> tuple[str, bool, str, bool, set[str]]:
    """STORE's arguments: (sequence set, UID STORE?, FLAGS/+FLAGS/-FLAGS, .SILENT?, the flags)."""
    args = cmd.args()
    if len(args) < 3 or not isinstance(args[0], Atom) or not isinstance(args[1], Atom):
        raise ParseError("Invalid arguments")
    item = args[1].upper()
    base = item.removesuffix(".SILENT")
    if base not in ("FLAGS", "+FLAGS", "-FLAGS"):
        raise ParseError("Invalid arguments")
    raw: list[Value] = list(args[2:])
    if len(raw) == 1 and isinstance(raw[0], list):
        raw = raw[0]
    flags: set[str] = set()
    for v in raw:
        if not isinstance(v, Atom):
            raise ParseError("Invalid arguments")
        flags.add(normalize_flag(v.text))
    return args[0].text, cmd.name.startswith("UID "), base, item.endswith(".SILENT"), flags


def stored_flags(base: str, current: set[str], flags: set[str]) -> set[str]:
    """A message's flags after STORE FLAGS / +FLAGS / -FLAGS."""
    if base == "FLAGS":
        return flags
    return current | flags if base == "+FLAGS" else current - flags


def _quick_renderer(req: F.FetchRequest) -> Callable[[int, MessageInfo], bytes] | None:
    """A line renderer for requests of UID, FLAGS and RFC822.SIZE only (no body, no \\Seen to set):
    the same bytes as _fetch_line, from one format string, without its general dispatch."""
    if req.sections or any(it not in ("UID", "FLAGS", "RFC822.SIZE") for it in req.items):
        return None
    order: list[str] = ["UID"] if req.implicit_uid else []
    order += [it for it in req.items if not (it == "UID" and req.implicit_uid)]
    fmt = (
        b"* %d FETCH ("
        + b" ".join(it.encode() + (b" %s" if it == "FLAGS" else b" %d") for it in order)
        + b")\r\n"
    )
    texts = _FLAG_TEXTS.get

    def render(seq: int, msg: MessageInfo) -> bytes:
        values: list[int | bytes] = [seq]
        for it in order:
            if it == "UID":
                values.append(msg.uid)
            elif it == "FLAGS":
                pair = texts(msg.flags) or _flag_texts(msg.flags)
                values.append(pair[msg.recent])
            else:
                values.append(msg.size)
        return fmt % tuple(values)

    return render


# FETCH's FLAGS item as bytes, without and with \Recent, per (shared) flag set.
_FLAG_TEXTS: dict[frozenset[str], tuple[bytes, bytes]] = {}


def _flag_texts(flags: frozenset[str]) -> tuple[bytes, bytes]:
    pair = (F.flag_list(flags, False).encode(), F.flag_list(flags, True).encode())
    if len(_FLAG_TEXTS) < 4096:
        _FLAG_TEXTS[flags] = pair
    return pair
