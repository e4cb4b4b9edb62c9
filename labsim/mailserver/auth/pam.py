"""A Linux-PAM engine over /etc/pam.d under the lab root.

It reads the service file the way libpam does (falling back to `other`),
honours `include`, `substack` and `@include`, and walks each stack with
libpam's control-flag semantics: a module's return value is mapped to an
action (ok, done, bad, die, ignore, reset, or a jump), and the running
"impression" decides the stack's result. Modules are emulated in Python;
one that is not installed makes its line fail with PAM_MODULE_UNKNOWN.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labsim.mailserver.auth.pam_codes import (
    MUST_FAIL,
    PAM_ABORT,
    PAM_IGNORE,
    PAM_MODULE_UNKNOWN,
    PAM_NEW_AUTHTOK_REQD,
    PAM_SUCCESS,
    PAM_SYSTEM_ERR,
    RETURN_NAMES,
    RETURN_VALUES,
    TYPES,
    strerror,
)
from labsim.mailserver.auth.pam_modules import MODULES, PamContext
from labsim.mailserver.labroot import LabRoot

# Actions: >0 is "jump over N lines".
IGNORE, OK, DONE, BAD, DIE, RESET, UNDEF = 0, -1, -2, -3, -4, -5, -6
_ACTION_NAMES = {"ignore": IGNORE, "ok": OK, "done": DONE, "bad": BAD, "die": DIE, "reset": RESET}


def _keyword_actions(word: str) -> list[int] | None:
    w = word.lower()
    acts: list[int]
    if w == "required":
        acts = [BAD] * RETURN_VALUES
        acts[PAM_SUCCESS] = acts[PAM_NEW_AUTHTOK_REQD] = OK
        acts[PAM_IGNORE] = IGNORE
    elif w == "requisite":
        acts = [DIE] * RETURN_VALUES
        acts[PAM_SUCCESS] = acts[PAM_NEW_AUTHTOK_REQD] = OK
        acts[PAM_IGNORE] = IGNORE
    elif w == "sufficient":
        acts = [IGNORE] * RETURN_VALUES
        acts[PAM_SUCCESS] = acts[PAM_NEW_AUTHTOK_REQD] = DONE
    elif w == "optional":
        acts = [IGNORE] * RETURN_VALUES
        acts[PAM_SUCCESS] = acts[PAM_NEW_AUTHTOK_REQD] = OK
    else:
        return None
    return acts


def parse_bracket_control(text: str) -> list[int] | None:
    """`[success=1 default=ignore]` -> action table; None when malformed."""
    inner = text.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        return None
    acts = [UNDEF] * RETURN_VALUES
    default = BAD  # libpam: anything not named and no default= is a failure
    for item in inner[1:-1].split():
        name, eq, action = item.partition("=")
        if not eq:
            return None
        name = name.lower()
        action = action.lower()
        if action in _ACTION_NAMES:
            act = _ACTION_NAMES[action]
        elif action.isdigit() and int(action) > 0:
            act = int(action)
        else:
            return None
        if name == "default":
            default = act
        elif name in RETURN_NAMES:
            acts[RETURN_NAMES.index(name)] = act
        else:
            return None
    return [default if a == UNDEF else a for a in acts]


MODULE_DIRS = (
    "/lib/x86_64-linux-gnu/security/",
    "/usr/lib/x86_64-linux-gnu/security/",
    "/lib/security/",
    "/usr/lib/security/",
    "/lib64/security/",
    "/usr/lib64/security/",
)
DEFAULT_MODULE_DIR = MODULE_DIRS[0]

# Modules Debian 12 installs (libpam-modules, libpam-modules-bin, libpam-systemd, libpam-cap).
INSTALLED = {
    "pam_access", "pam_cap", "pam_debug", "pam_deny", "pam_echo", "pam_env", "pam_exec", "pam_faildelay",
    "pam_faillock", "pam_filter", "pam_ftp", "pam_group", "pam_issue", "pam_keyinit", "pam_lastlog",
    "pam_limits", "pam_listfile", "pam_localuser", "pam_loginuid", "pam_mail", "pam_mkhomedir",
    "pam_motd", "pam_namespace", "pam_nologin", "pam_permit", "pam_pwhistory", "pam_rhosts",
    "pam_rootok", "pam_securetty", "pam_selinux", "pam_sepermit", "pam_setquota", "pam_shells",
    "pam_stress", "pam_succeed_if", "pam_systemd", "pam_time", "pam_timestamp", "pam_tty_audit",
    "pam_umask", "pam_unix", "pam_userdb", "pam_usertype", "pam_warn", "pam_wheel", "pam_xauth",
}  # fmt: skip


@dataclass
class Handler:
    kind: str  # "module", "substack", "mustfail"
    actions: list[int]
    module: str = ""  # full path as libpam would dlopen it
    args: list[str] = field(default_factory=list)
    children: list[Handler] = field(default_factory=list)
    source: tuple[str, int] = ("", 0)

    @property
    def module_name(self) -> str:
        base = self.module.rsplit("/", 1)[-1]
        return base[:-3] if base.endswith(".so") else base


LogFn = Callable[[str, str], None]  # (level, message)


def _split_line(line: str) -> list[str]:
    """Whitespace tokens, keeping `[...]` groups (with spaces) whole."""
    tokens: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] == "[":
            j = line.find("]", i)
            if j < 0:
                tokens.append(line[i:])
                break
            tokens.append(line[i : j + 1])
            i = j + 1
            continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        tokens.append(line[i:j])
        i = j
    return tokens


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not pending:
            start = no
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        if full.strip():
            out.append((start, full))
    if pending.strip():
        out.append((start, pending))
    return out


MAX_DEPTH = 16


class PamConfig:
    """Stacks for one service, as libpam loads them."""

    def __init__(self, root: LabRoot, service: str, log: LogFn | None = None) -> None:
        self.root = root
        self.service = service
        self.log = log or (lambda level, msg: None)
        self.found = True
        self._faulty_logged: set[str] = set()

    def _read(self, name: str) -> str | None:
        lab = name if name.startswith("/") else f"/etc/pam.d/{name}"
        try:
            return self.root.path(lab).read_bytes().decode("utf-8", "replace")
        except (OSError, ValueError):
            return None

    def stack(self, ptype: str) -> list[Handler] | None:
        """Handlers for `ptype`; None when neither the service nor `other` can be read.

        libpam reads both files: a type the service file does not mention
        is taken from `other`.
        """
        own = self._read(self.service)
        other = self._read("other") if self.service != "other" else None
        if own is None and other is None:
            self.found = False
            return None
        handlers = self._parse(own, self.service, ptype, 0) if own is not None else []
        if not handlers and other is not None:
            handlers = self._parse(other, "other", ptype, 0)
        return handlers

    def _mustfail(self, source: tuple[str, int]) -> Handler:
        return Handler("mustfail", _keyword_actions("required") or [], source=source)

    def _parse(self, text: str, fname: str, ptype: str, depth: int) -> list[Handler]:
        handlers: list[Handler] = []
        for lineno, line in _logical_lines(text):
            src = (fname, lineno)
            toks = _split_line(line)
            if not toks:
                continue
            if toks[0] == "@include":
                if len(toks) < 2 or depth >= MAX_DEPTH:
                    handlers.append(self._mustfail(src))
                    continue
                sub = self._read(toks[1])
                if sub is None:
                    self.log(
                        "Error", f"PAM ({self.service}) unable to open config file: /etc/pam.d/{toks[1]}"
                    )
                    handlers.append(self._mustfail(src))
                    continue
                handlers.extend(self._parse(sub, toks[1], ptype, depth + 1))
                continue
            tname = toks[0]
            silent = tname.startswith("-")
            if silent:
                tname = tname[1:]
            if tname.lower() not in TYPES:
                if ptype == "auth":
                    self.log("Error", f"PAM ({self.service}) illegal module type: {toks[0]}")
                    # libpam files the line under the most sensitive type, auth, as failing.
                    handlers.append(self._mustfail(src))
                continue
            if tname.lower() != ptype:
                continue
            if len(toks) < 3:
                handlers.append(self._mustfail(src))
                continue
            control = toks[1]
            if control.lower() in ("include", "substack"):
                if depth >= MAX_DEPTH:
                    handlers.append(self._mustfail(src))
                    continue
                sub = self._read(toks[2])
                if sub is None:
                    self.log(
                        "Error", f"PAM ({self.service}) unable to open config file: /etc/pam.d/{toks[2]}"
                    )
                    handlers.append(self._mustfail(src))
                    continue
                children = self._parse(sub, toks[2], ptype, depth + 1)
                if control.lower() == "include":
                    handlers.extend(children)
                else:
                    # A substack behaves like one `requisite`-free module line whose
                    # result is the sub-stack's; its done/die end only the sub-stack.
                    acts = [BAD] * RETURN_VALUES
                    acts[PAM_SUCCESS] = OK
                    acts[PAM_IGNORE] = IGNORE
                    handlers.append(Handler("substack", acts, children=children, source=src))
                continue
            actions = _keyword_actions(control)
            if actions is None:
                actions = parse_bracket_control(control)
            if actions is None:
                self.log("Error", f"PAM ({self.service}) no control flag supplied")
                handlers.append(self._mustfail(src))
                continue
            modpath = toks[2]
            full = modpath if modpath.startswith("/") else DEFAULT_MODULE_DIR + modpath
            h = Handler("module", actions, module=full, args=toks[3:], source=src)
            if not self._installed(full) and not silent and full not in self._faulty_logged:
                self._faulty_logged.add(full)
                self.log(
                    "Error",
                    f"PAM unable to dlopen({full}): {full}: cannot open shared object file: "
                    "No such file or directory",
                )
                self.log("Error", f"PAM adding faulty module: {full}")
            handlers.append(h)
        return handlers

    @staticmethod
    def _installed(full: str) -> bool:
        directory, _, base = full.rpartition("/")
        if directory + "/" not in MODULE_DIRS or not base.endswith(".so"):
            return False
        return base[:-3] in INSTALLED


# --- modules -------------------------------------------------------------------


def _call(h: Handler, ptype: str, ctx: PamContext) -> int:
    if h.kind == "mustfail":
        return MUST_FAIL
    if not PamConfig._installed(h.module):
        return PAM_MODULE_UNKNOWN
    funcs = MODULES.get(h.module_name)
    if funcs is None:
        # Installed but not emulated: harmless on the paths Dovecot takes.
        return PAM_IGNORE if ptype == "auth" else PAM_SUCCESS
    fn = funcs.get(ptype)
    if fn is None:
        return PAM_MODULE_UNKNOWN
    try:
        return fn(ctx, h.args)
    except (OSError, ValueError):
        return PAM_SYSTEM_ERR


_UNDEF_IMP, _POSITIVE, _NEGATIVE = 0, 1, -1


def _walk(
    handlers: list[Handler], ptype: str, ctx: PamContext, imp: int, status: int
) -> tuple[int, int, bool]:
    """Run a stack; returns (impression, status, ended by done/die)."""
    i = 0
    while i < len(handlers):
        h = handlers[i]
        if h.kind == "substack":
            _, retval, _ = _walk(h.children, ptype, ctx, imp, status)
        else:
            retval = _call(h, ptype, ctx)
        if not 0 <= retval < RETURN_VALUES:
            retval = PAM_SYSTEM_ERR
        action = h.actions[retval]
        if action == RESET:
            imp, status = _UNDEF_IMP, MUST_FAIL
        elif action in (OK, DONE):
            if (imp == _UNDEF_IMP or (imp == _POSITIVE and status == PAM_SUCCESS)) and retval != PAM_IGNORE:
                imp, status = _POSITIVE, retval
            if imp != _NEGATIVE and action == DONE:
                return imp, status, True
        elif action in (BAD, DIE):
            if imp != _NEGATIVE:
                imp = _NEGATIVE
                status = MUST_FAIL if retval == PAM_SUCCESS else retval
            if action == DIE:
                return imp, status, True
        elif action > 0:
            i += action
        i += 1
    return imp, status, False


def run_stack(handlers: list[Handler], ptype: str, ctx: PamContext) -> int:
    imp, status, _ = _walk(handlers, ptype, ctx, _UNDEF_IMP, MUST_FAIL)
    if status == PAM_SUCCESS and imp != _POSITIVE:
        status = MUST_FAIL
    return status


@dataclass
class PamOutcome:
    code: int
    call: str  # the libpam call that failed: "pam_authenticate", "pam_acct_mgmt", ...

    @property
    def ok(self) -> bool:
        return self.code == PAM_SUCCESS

    @property
    def message(self) -> str:
        return strerror(self.code)


def authenticate(
    root: LabRoot,
    service: str,
    user: str,
    password: str,
    rhost: str = "",
    *,
    setcred: bool = False,
    session: bool = False,
    log: LogFn | None = None,
    now: float | None = None,
) -> PamOutcome:
    """What Dovecot's pam passdb does: authenticate, then account, then optionally setcred/session."""
    conf = PamConfig(root, service, log)
    ctx = PamContext(root, service, user, password, rhost, now if now is not None else time.time())
    steps = [("auth", "pam_authenticate"), ("account", "pam_acct_mgmt")]
    if setcred:
        steps.append(("auth", "pam_setcred"))
    if session:
        steps.append(("session", "pam_open_session"))
    for ptype, call in steps:
        stack = conf.stack(ptype)
        if stack is None:
            return PamOutcome(PAM_ABORT, call)
        # setcred runs the auth stack's credential half; the emulated modules have nothing to set.
        code = PAM_SUCCESS if call == "pam_setcred" else run_stack(stack, ptype, ctx)
        if code != PAM_SUCCESS:
            return PamOutcome(code, call)
    return PamOutcome(PAM_SUCCESS, "")
