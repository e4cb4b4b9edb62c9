"""The PAM modules the lab emulates: pam_unix against /etc/shadow, pam_permit,
pam_deny, pam_nologin, pam_succeed_if, pam_shells, pam_rootok, pam_warn."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labsim.mailserver.auth import unixdb
from labsim.mailserver.auth.crypt import crypt_verify
from labsim.mailserver.auth.pam_codes import (
    PAM_ACCT_EXPIRED,
    PAM_AUTH_ERR,
    PAM_AUTHINFO_UNAVAIL,
    PAM_AUTHTOK_ERR,
    PAM_IGNORE,
    PAM_NEW_AUTHTOK_REQD,
    PAM_SERVICE_ERR,
    PAM_SESSION_ERR,
    PAM_SUCCESS,
    PAM_USER_UNKNOWN,
    TYPES,
)
from labsim.mailserver.labroot import LabRoot


@dataclass
class PamContext:
    root: LabRoot
    service: str
    user: str
    password: str
    rhost: str = ""
    now: float = field(default_factory=time.time)


ModuleFn = Callable[[PamContext, list[str]], int]


def _today(ctx: PamContext) -> int:
    return int(ctx.now // 86400)


def _unix_auth(ctx: PamContext, args: list[str]) -> int:
    pw = unixdb.getpwnam(ctx.root, ctx.user)
    if pw is None:
        return PAM_USER_UNKNOWN
    stored = pw.passwd
    if stored in ("x", "*NP*"):
        sp = unixdb.getspnam(ctx.root, ctx.user)
        if sp is None:
            return PAM_AUTHINFO_UNAVAIL
        stored = sp.hash
    if stored == "":
        return PAM_SUCCESS if "nullok" in args else PAM_AUTH_ERR
    if crypt_verify(ctx.password.encode("utf-8", "surrogateescape"), stored):
        return PAM_SUCCESS
    return PAM_AUTH_ERR


def _unix_account(ctx: PamContext, args: list[str]) -> int:
    if unixdb.getpwnam(ctx.root, ctx.user) is None:
        return PAM_USER_UNKNOWN
    sp = unixdb.getspnam(ctx.root, ctx.user)
    if sp is None:
        return PAM_SUCCESS
    today = _today(ctx)
    if sp.expire is not None and sp.expire >= 0 and today >= sp.expire:
        return PAM_ACCT_EXPIRED
    if sp.lastchg == 0:
        return PAM_NEW_AUTHTOK_REQD
    if sp.lastchg is None or today < sp.lastchg:
        return PAM_SUCCESS
    age = today - sp.lastchg
    if sp.max is not None and sp.max >= 0:
        if sp.inactive is not None and sp.inactive >= 0 and age > sp.max + sp.inactive:
            return PAM_ACCT_EXPIRED
        if age > sp.max:
            return PAM_NEW_AUTHTOK_REQD
    return PAM_SUCCESS


def _nologin(ctx: PamContext, args: list[str]) -> int:
    path = "/etc/nologin"
    for a in args:
        if a.startswith("file="):
            path = a[5:]
    if not ctx.root.path(path).exists():
        return PAM_SUCCESS if "successok" in args else PAM_IGNORE
    pw = unixdb.getpwnam(ctx.root, ctx.user)
    if pw is not None and pw.uid == 0:
        return PAM_SUCCESS
    return PAM_AUTH_ERR


def _shells(ctx: PamContext, args: list[str]) -> int:
    pw = unixdb.getpwnam(ctx.root, ctx.user)
    if pw is None:
        return PAM_AUTH_ERR
    try:
        shells = ctx.root.path("/etc/shells").read_text("utf-8", "replace").split()
    except OSError:
        return PAM_AUTH_ERR
    return PAM_SUCCESS if pw.shell in shells else PAM_AUTH_ERR


def _succeed_if(ctx: PamContext, args: list[str]) -> int:
    words = [
        a for a in args if a not in ("quiet", "quiet_fail", "quiet_success", "debug", "use_uid", "audit")
    ]
    pw = unixdb.getpwnam(ctx.root, ctx.user)
    i = 0
    while i < len(words):
        if len(words) - i < 3:
            return PAM_SERVICE_ERR
        left, op, right = words[i], words[i + 1], words[i + 2]
        i += 3
        if left == "user":
            value: str | None = ctx.user
        elif left == "service":
            value = ctx.service
        elif left == "rhost":
            value = ctx.rhost
        elif left in ("uid", "gid", "home", "shell"):
            if pw is None:
                return PAM_USER_UNKNOWN
            value = str({"uid": pw.uid, "gid": pw.gid, "home": pw.home, "shell": pw.shell}[left])
        else:
            return PAM_SERVICE_ERR
        ok = _compare(ctx, value or "", op, right)
        if ok is None:
            return PAM_SERVICE_ERR
        if not ok:
            return PAM_AUTH_ERR
    return PAM_SUCCESS


def _compare(ctx: PamContext, value: str, op: str, right: str) -> bool | None:
    import fnmatch
    import re

    numeric = {
        "<": int.__lt__,
        "<=": int.__le__,
        ">": int.__gt__,
        ">=": int.__ge__,
        "eq": int.__eq__,
        "ne": int.__ne__,
    }
    if op in numeric:
        try:
            return bool(numeric[op](int(value), int(right)))
        except ValueError:
            return None
    if op == "=":
        return fnmatch.fnmatchcase(value, right)
    if op == "!=":
        return not fnmatch.fnmatchcase(value, right)
    if op in ("=~", "!~"):
        try:
            hit = re.search(right, value) is not None
        except re.error:
            return None
        return hit if op == "=~" else not hit
    if op in ("in", "notin"):
        hit = value in right.split(":")
        return hit if op == "in" else not hit
    if op in ("ingroup", "notingroup"):
        groups = {g.name for g in unixdb.user_groups(ctx.root, value)}
        hit = right in groups
        return hit if op == "ingroup" else not hit
    return None


def _const(code: int) -> ModuleFn:
    return lambda ctx, args: code


# (module, type) -> function; a type missing for an emulated module behaves as an
# installed module that does not implement that call (libpam: PAM_MODULE_UNKNOWN).
MODULES: dict[str, dict[str, ModuleFn]] = {
    "pam_unix": {"auth": _unix_auth, "account": _unix_account, "session": _const(PAM_SUCCESS),
                 "password": _const(PAM_IGNORE)},
    "pam_permit": {t: _const(PAM_SUCCESS) for t in TYPES},
    "pam_deny": {"auth": _const(PAM_AUTH_ERR), "account": _const(PAM_AUTH_ERR),
                 "session": _const(PAM_SESSION_ERR), "password": _const(PAM_AUTHTOK_ERR)},
    "pam_nologin": {"auth": _nologin, "account": _nologin},
    "pam_succeed_if": {t: _succeed_if for t in TYPES},
    "pam_shells": {"auth": _shells, "account": _shells},
    # The Dovecot auth worker runs as root, so pam_rootok says yes.
    "pam_rootok": {"auth": _const(PAM_SUCCESS), "account": _const(PAM_SUCCESS)},
    "pam_warn": {t: _const(PAM_IGNORE) for t in TYPES},
}  # fmt: skip
