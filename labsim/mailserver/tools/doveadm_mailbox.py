"""`doveadm mailbox list|status` for the lab: a user's mailboxes, opened as the server opens them.

The user is resolved through the configured userdb (as `doveadm user` does), the mail location
is the userdb's `mail` field or mail_location, and as root on the lab's own root (the Docker lab)
the mail is read with the user's uid/gid, exactly as the server's mail processes read it.

Output is doveadm's "flow" formatter: `INBOX messages=3 unseen=1`. The storage keeps no
modseqs, mailbox GUIDs or save dates, so `all` shows the fields it has and asking for
highestmodseq, guid or firstsaved by name gets a one-line refusal.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable
from typing import cast

from labsim.mailserver.auth.model import AuthRequest, UserInfo
from labsim.mailserver.auth.userdb import mail_access_error
from labsim.mailserver.imap.args import list_pattern
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.privileges import AsUser, AsUserProxy, RootLog, can_switch
from labsim.mailserver.storage.base import MailboxInfo, MailboxNotFound, MailStorage, StorageError
from labsim.mailserver.storage.names import encode_mutf7, is_inbox
from labsim.mailserver.tools.doveadm import EX_NOUSER, EX_OK, EX_TEMPFAIL, EX_USAGE, Context, _Fail, _getopt

EX_NOTFOUND = 68  # doveadm's exit code for a mailbox that does not exist

USAGE = (
    "usage: doveadm [-Dv] [-f <formatter>] mailbox <command> [<args>]\n"
    "  list         [-u <user>|-A] [-S <socket_path>] [-7|-8] [-s] [<mailbox mask> [...]]\n"
    "  status       [-u <user>|-A] [-S <socket_path>] <fields> <mailbox> [...]\n"
)
STATUS_USAGE = "doveadm mailbox status [-u <user>|-A] [-S <socket_path>] <fields> <mailbox> [...]\n"
# doveadm's field order, whatever order they are asked in.
FIELDS = (
    "messages",
    "recent",
    "uidnext",
    "uidvalidity",
    "unseen",
    "highestmodseq",
    "vsize",
    "guid",
    "firstsaved",
)
NOT_KEPT = frozenset({"highestmodseq", "guid", "firstsaved"})
TOTAL_FIELDS = ("messages", "recent", "unseen", "vsize")


class _StderrLog(DovecotLog):
    """doveadm's own log: problems on stderr as `doveadm(alice): Error: ...`, nothing in the mail log."""

    def log(self, level: str, prefix: str, message: str) -> None:
        if level in ("Warning", "Error", "Fatal", "Panic"):
            sys.stdout.flush()
            sys.stderr.write(f"{prefix}: {level}: {message}\n")
            sys.stderr.flush()


def _options(command: str, args: list[str], flags: str, with_value: str) -> tuple[dict[str, str], list[str]]:
    """getopt_long as doveadm's mail commands parse (options may follow arguments; `--` ends them)."""
    opts, rest = _getopt(command, args, flags + "".join(f"{c}:" for c in with_value))
    return dict(opts), rest


def _user_name(opts: dict[str, str]) -> str:
    if "A" in opts:
        raise _Fail(EX_USAGE, "Fatal: -A (every user) is not available in the lab: name one user with -u")
    user = opts.get("u") or os.environ.get("USER", "")
    if not user:
        raise _Fail(EX_USAGE, "Fatal: USER environment is missing and -u option not used")
    return user


def open_user_storage(ctx: Context, user: str) -> MailStorage:
    """The user's storage as the server's mail process opens it; _Fail with doveadm's words if not."""
    prefix = f"doveadm({user})"
    service = ctx.auth()
    if service.broken is not None:
        raise _Fail(EX_TEMPFAIL, f"{prefix}: Error: User lookup failed: Couldn't connect to auth socket")
    request = AuthRequest(service="doveadm", mech="PLAIN", rip="", lip="", secured=True)
    name, _problem = service.translate_user(user)
    ans = service.userdb_lookup(name, request, verified=False) if name is not None else None
    if ans is None or not ans.found:
        if ans is not None and ans.failed:
            raise _Fail(EX_TEMPFAIL, f"{prefix}: Error: User lookup failed: Internal error occurred")
        raise _Fail(EX_NOUSER, f"{prefix}: Error: User doesn't exist")
    assert name is not None
    info = service.userinfo(name, ans.fields)
    settings = ctx.settings()
    problem = mail_access_error(settings, info.uid, info.gid)
    if problem is not None:
        raise _Fail(EX_TEMPFAIL, f"{prefix}: Error: {problem}")
    log = _StderrLog(ctx.root, stderr=None)
    try:
        return _open(ctx.root, settings_location(info, settings.mail_location), info, log, ctx, prefix)
    except StorageError as exc:
        raise _Fail(EX_TEMPFAIL, f"{prefix}: Error: {exc}") from exc


def settings_location(info: UserInfo, mail_location: str) -> str:
    return info.mail or mail_location


def _open(
    root: LabRoot, location: str, info: UserInfo, log: DovecotLog, ctx: Context, prefix: str
) -> MailStorage:
    from labsim.mailserver.storage.location import open_storage

    settings = ctx.settings()
    if not (can_switch() and root.is_host_root and info.uid > 0 and info.gid >= 0):
        return open_storage(root, location, info, log, settings, prefix)
    # As the user, Python's own files may be out of reach: import the storage code first.
    for module in ("maildir", "mbox"):
        with contextlib.suppress(ImportError):
            importlib.import_module(f"labsim.mailserver.storage.{module}")
    as_user = AsUser.for_user(root, settings, info)
    with as_user:
        storage = open_storage(root, location, info, RootLog(log), settings, prefix)
    return cast(MailStorage, AsUserProxy(storage, as_user))


def _matching(boxes: list[MailboxInfo], masks: list[str], sep: str) -> list[MailboxInfo]:
    if not masks:
        return boxes
    patterns = [list_pattern("INBOX" if is_inbox(m) else m, sep) for m in masks]
    return [b for b in boxes if any(p.match(b.name) for p in patterns)]


def cmd_list(ctx: Context, args: list[str]) -> int:
    opts, masks = _options("list", args, "A78s", "uS")
    storage = open_user_storage(ctx, _user_name(opts))
    try:
        boxes = storage.list_subscribed() if "s" in opts else storage.list()
    except StorageError as exc:
        raise _Fail(EX_TEMPFAIL, f"doveadm({_user_name(opts)}): Error: {exc}") from exc
    for box in _matching(boxes, masks, storage.separator):
        print(encode_mutf7(box.name) if "7" in opts else box.name)
    return EX_OK


def _fields(text: str, total: bool) -> list[str]:
    wanted: set[str] = set()
    for word in text.split():
        if word == "all":
            wanted.update(TOTAL_FIELDS if total else (f for f in FIELDS if f not in NOT_KEPT))
        elif word not in FIELDS:
            raise _Fail(EX_USAGE, f"Fatal: Unknown status field: {word}")
        elif word in NOT_KEPT:
            raise _Fail(EX_USAGE, f"Fatal: Status field {word} is not kept by the lab's mail storage")
        else:
            wanted.add(word)
    if not wanted:
        raise _Fail(EX_USAGE, "Fatal: No status fields")
    return [f for f in FIELDS if f in wanted]


def _values(storage: MailStorage, name: str) -> dict[str, int]:
    box = storage.open(name, readonly=True)
    try:
        st = box.status()
        vsize = sum(m.size for m in box.messages)
    finally:
        box.close()
    return {
        "messages": st.messages,
        "recent": st.recent,
        "uidnext": st.uidnext,
        "uidvalidity": st.uidvalidity,
        "unseen": st.unseen,
        "vsize": vsize,
    }


def cmd_status(ctx: Context, args: list[str]) -> int:
    opts, rest = _options("status", args, "At", "uS")
    if len(rest) < 2:
        sys.stderr.write(STATUS_USAGE)
        return EX_USAGE
    total = "t" in opts
    fields = _fields(rest[0], total)
    masks = rest[1:]
    user = _user_name(opts)
    storage = open_user_storage(ctx, user)
    single = len(masks) == 1 and not any(ch in masks[0] for ch in "*%")
    try:
        names = (
            ["INBOX" if is_inbox(masks[0]) else masks[0]]
            if single
            else [b.name for b in _matching(storage.list(), masks, storage.separator) if b.selectable]
        )
    except StorageError as exc:
        raise _Fail(EX_TEMPFAIL, f"doveadm({user}): Error: {exc}") from exc
    sums = dict.fromkeys(fields, 0)
    for name in names:
        try:
            values = _values(storage, name)
        except MailboxNotFound as exc:
            raise _Fail(
                EX_NOTFOUND, f"doveadm({user}): Error: Mailbox {name}: Failed to lookup mailbox status: {exc}"
            ) from exc
        except StorageError as exc:
            raise _Fail(EX_TEMPFAIL, f"doveadm({user}): Error: Mailbox {name}: {exc}") from exc
        if total:
            for f in fields:
                sums[f] += values[f]
            continue
        print(" ".join([name] + [f"{f}={values[f]}" for f in fields]))
    if total:
        print(" ".join(f"{f}={sums[f]}" for f in fields))
    return EX_OK


SUBCOMMANDS: dict[str, Callable[[Context, list[str]], int]] = {"list": cmd_list, "status": cmd_status}


def run(ctx: Context, args: list[str]) -> int:
    command = SUBCOMMANDS.get(args[0]) if args else None
    if command is None:
        sys.stderr.write(USAGE)
        return EX_USAGE
    return command(ctx, args[1:])
