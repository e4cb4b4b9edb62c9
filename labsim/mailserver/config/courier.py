"""Courier's configuration files: shell variable assignments, sourced by /bin/sh.

/etc/courier/imapd, imapd-ssl, pop3d, pop3d-ssl and authdaemonrc are read by
the init scripts with `.`, so what counts is what dash makes of them: quotes,
`#` comments, backslash continuation and `$VAR`/`${VAR}` expansion of the
variables set earlier (Debian's `IMAP_CAPABILITY_TLS="$IMAP_CAPABILITY
AUTH=PLAIN"`). This module understands the assignment subset of the shell
those files use, and reports anything else with dash's own `file: line:`
wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labsim.mailserver.labroot import LabRoot

ETC = "/etc/courier"
NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
NAME_CHARS = NAME_START | set("0123456789")
# Characters that end an unquoted word (dash's metacharacters).
_WORD_END = set(" \t\n;&|<>()")


class CourierConfigError(Exception):
    """A file /bin/sh refuses, in dash's words: the shell (the init script), the line, the file.

    `/usr/sbin/imapd: 12: /etc/courier/imapd: Syntax error: Unterminated quoted string`
    """

    def __init__(self, path: str, line: int, message: str, argv0: str = "sh") -> None:
        super().__init__(f"{argv0}: {line}: {path}: {message}")
        self.path = path
        self.line = line
        self.message = message
        self.argv0 = argv0


@dataclass
class ShellVars:
    """What sourcing one or more files leaves behind."""

    values: dict[str, str] = field(default_factory=dict)
    where: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (lab path, line)
    # Lines dash runs as commands (`FOO = bar`, a stray word): it prints
    # `argv0: line: file: word: not found` and carries on, and so do we.
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def copy(self) -> ShellVars:
        return ShellVars(dict(self.values), dict(self.where), list(self.warnings))


class _Reader:
    def __init__(self, text: str, path: str, env: ShellVars, argv0: str = "sh") -> None:
        self.argv0 = argv0
        self.text = text
        self.n = len(text)
        self.i = 0
        self.line = 1
        self.path = path
        self.env = env

    def error(self, message: str, line: int | None = None) -> CourierConfigError:
        return CourierConfigError(self.path, self.line if line is None else line, message, self.argv0)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < self.n else ""

    def advance(self) -> str:
        ch = self.text[self.i]
        self.i += 1
        if ch == "\n":
            self.line += 1
        return ch

    def skip_blanks(self) -> None:
        while self.i < self.n:
            ch = self.peek()
            if ch in " \t":
                self.advance()
            elif ch == "\\" and self.peek(1) == "\n":
                self.advance()
                self.advance()
            else:
                return

    def skip_comment(self) -> None:
        while self.i < self.n and self.peek() != "\n":
            self.advance()

    # --- expansion ----------------------------------------------------------------

    def expand_var(self) -> str:
        """After a `$`: the value of $NAME / ${NAME}; `$` alone stays literal."""
        ch = self.peek()
        if ch == "{":
            start_line = self.line
            self.advance()
            name = ""
            while self.i < self.n and self.peek() != "}":
                name += self.advance()
            if self.i >= self.n:
                raise self.error("Syntax error: Missing '}'", start_line)
            self.advance()
            if not name or name[0] not in NAME_START or any(c not in NAME_CHARS for c in name):
                raise self.error(f"${{{name}}}: Bad substitution")
            return self.env.get(name)
        if ch == "(":
            raise self.error("Syntax error: command substitution $(...) is not supported here")
        if ch and ch in NAME_START:
            name = ""
            while self.i < self.n:
                if self.peek() == "\\" and self.peek(1) == "\n":
                    # dash removes backslash-newline before it reads the name
                    self.advance()
                    self.advance()
                elif self.peek() in NAME_CHARS:
                    name += self.advance()
                else:
                    break
            return self.env.get(name)
        return "$"

    # --- words --------------------------------------------------------------------

    def word(self) -> str:
        """One shell word, quotes removed and variables expanded."""
        out: list[str] = []
        while self.i < self.n:
            ch = self.peek()
            if ch in _WORD_END:
                break
            if ch == "\\":
                self.advance()
                if self.i >= self.n:
                    break
                nxt = self.advance()
                if nxt != "\n":  # backslash-newline joins lines
                    out.append(nxt)
            elif ch == "'":
                start = self.line
                self.advance()
                while True:
                    if self.i >= self.n:
                        raise self.error("Syntax error: Unterminated quoted string", max(start, self.line))
                    c = self.advance()
                    if c == "'":
                        break
                    out.append(c)
            elif ch == '"':
                self.advance()
                self._double_quoted(out)
            elif ch == "`":
                raise self.error("Syntax error: command substitution `...` is not supported here")
            elif ch == "$":
                self.advance()
                out.append(self.expand_var())
            else:
                out.append(self.advance())
        return "".join(out)

    def _double_quoted(self, out: list[str]) -> None:
        while True:
            if self.i >= self.n:
                raise self.error("Syntax error: Unterminated quoted string")
            c = self.advance()
            if c == '"':
                return
            if c == "\\":
                if self.i >= self.n:
                    continue
                nxt = self.peek()
                if nxt in '$`"\\':
                    out.append(self.advance())
                elif nxt == "\n":
                    self.advance()
                else:
                    out.append("\\")
            elif c == "$":
                out.append(self.expand_var())
            elif c == "`":
                raise self.error("Syntax error: command substitution `...` is not supported here")
            else:
                out.append(c)


def _assignment_name(text: str, i: int) -> str | None:
    """The NAME of a `NAME=` starting at i, or None when the word is no assignment."""
    if i >= len(text) or text[i] not in NAME_START:
        return None
    j = i
    while j < len(text) and text[j] in NAME_CHARS:
        j += 1
    if j < len(text) and text[j] == "=":
        return text[i:j]
    return None


def parse_shell(text: str, path: str, env: ShellVars | None = None, argv0: str = "sh") -> ShellVars:
    """Source `text` (named `path` in errors) on top of `env`; returns the new state.

    Raises CourierConfigError where dash would stop with a syntax error. Commands other
    than assignments and `export` are not run: dash would look them up and say `not found`.
    Assignments in a pipeline or a background command happen in a subshell, so they are
    undone. Assignments succeed and other commands fail (`not found`), which is what
    decides the commands after `&&` and `||`.
    """
    state = env.copy() if env is not None else ShellVars()
    r = _Reader(text, path, state, argv0)
    at_start = True  # nothing in this command yet: operators here are syntax errors
    prefix = True  # only assignments so far: NAME=value still assigns
    export_next = False
    subshell = False  # inside a pipeline: nothing assigned survives
    undo: list[tuple[str, str | None, tuple[str, int] | None]] = []
    cmd_start = 0  # undo entries from here belong to the current simple command
    skip = False  # the command is on the untaken side of && or ||
    ok = True  # exit status of the last command that ran, as success or failure
    cur_ok = True

    def rollback(since: int = 0) -> None:
        for name, old, where in reversed(undo[since:]):
            if old is None:
                state.values.pop(name, None)
                state.where.pop(name, None)
            else:
                state.values[name] = old
                if where is not None:
                    state.where[name] = where
        del undo[since:]

    def end_element(discard: bool) -> None:
        nonlocal at_start, prefix, export_next, subshell, cmd_start
        if discard or subshell:
            rollback()
        undo.clear()
        at_start, prefix, export_next, subshell, cmd_start = True, True, False, False, 0

    while r.i < r.n:
        r.skip_blanks()
        if r.i >= r.n:
            break
        ch = r.peek()
        if ch == "#":
            r.skip_comment()
            continue
        if ch == "\n":
            r.advance()
            if not skip:
                ok = cur_ok
            skip, cur_ok = False, True
            end_element(False)
            continue
        two = r.text[r.i : r.i + 2]
        op = two if two in ("&&", "||", ";;") else ch
        if op in (";", "&", "|", "&&", "||", ";;", "(", ")") and (at_start or op in ("(", ")", ";;")):
            raise r.error(f'Syntax error: "{op}" unexpected')
        if op in (";", "&&", "||", "&"):
            r.i += len(op)
            if not skip:
                ok = cur_ok
            cur_ok = True
            if op == "&&":
                skip = not ok
            elif op == "||":
                skip = ok
            else:
                skip = False
            end_element(op == "&")
            continue
        if op == "|":
            r.advance()
            cur_ok = True
            subshell = True
            at_start = prefix = True
            cmd_start = len(undo)
            continue
        if ch in "<>":
            while r.i < r.n and r.peek() in "<>&":
                r.advance()
            r.skip_blanks()
            if r.i >= r.n or r.peek() in "\n;&|()<>":
                raise r.error("Syntax error: redirection unexpected")
            r.word()
            continue
        line = r.line
        name = _assignment_name(r.text, r.i) if prefix or export_next else None
        if name is not None:
            r.i += len(name) + 1
            at_start = False
            value = r.word()
            if skip:
                continue
            undo.append((name, state.values.get(name), state.where.get(name)))
            state.values[name] = value
            state.where[name] = (path, line)
            continue
        word = r.word()
        at_start = False
        if prefix and word == "export":
            export_next = True
            prefix = False
            continue
        if export_next:
            continue  # `export A B`: the names are set already
        if prefix and word:
            # `A=1 cmd`: the assignments only went into cmd's environment.
            rollback(cmd_start)
            if not skip:
                cur_ok = False
                state.warnings.append(f"{argv0}: {line}: {path}: {word}: not found")
        prefix = False
    end_element(False)
    return state


class MissingConfig(Exception):
    """A file an init script needs is not there."""

    def __init__(self, lab_path: str) -> None:
        super().__init__(f"{lab_path} does not exist, forgot make install-configure?")
        self.lab_path = lab_path


def source(
    root: LabRoot,
    lab_path: str,
    env: ShellVars | None = None,
    argv0: str = "sh",
    read_from: str | None = None,
) -> ShellVars:
    """Source one file under the lab root; MissingConfig when it is absent. `read_from` reads
    another file (a copy of it) while messages still name `lab_path`."""
    host = root.path(read_from or lab_path)
    try:
        data = host.read_bytes()
    except FileNotFoundError as exc:
        raise MissingConfig(lab_path) from exc
    except IsADirectoryError as exc:
        raise CourierConfigError(lab_path, 0, "Is a directory", argv0) from exc
    except OSError as exc:
        raise CourierConfigError(lab_path, 0, f"cannot open {lab_path}: {exc.strerror}", argv0) from exc
    return parse_shell(data.decode("utf-8", "replace"), lab_path, env, argv0)


# --- typed settings -----------------------------------------------------------------


def _yes(value: str) -> bool:
    return value.strip().upper() == "YES"


def _int(vars_: ShellVars, name: str, default: int) -> int:
    text = vars_.get(name).strip()
    return int(text) if text.isdigit() else default


@dataclass
class CourierDaemon:
    """One of courier-imap, courier-imap-ssl, courier-pop, courier-pop-ssl as its init script sees it."""

    service: str  # "imapd", "imapd-ssl", "pop3d", "pop3d-ssl"
    protocol: str  # "imap" or "pop3"
    ssl: bool  # implicit TLS on every port
    start: bool  # IMAPDSTART / IMAPDSSLSTART / POP3DSTART / POP3DSSLSTART
    address: str  # "0" is every address
    ports: list[tuple[str, int]]  # (address, port); address "" means ADDRESS
    maxdaemons: int
    maxperip: int
    starttls: bool  # IMAPDSTARTTLS / POP3_STARTTLS (plain daemons)
    tls_required: bool  # IMAP_TLS_REQUIRED / POP3_TLS_REQUIRED
    capability: str  # IMAP_CAPABILITY (or the pop3 AUTH list)
    capability_tls: str  # IMAP_CAPABILITY_TLS / POP3AUTH_TLS
    tls_certfile: str
    tls_protocol: str
    maildirpath: str
    vars: ShellVars

    @property
    def name(self) -> str:
        return {
            "imapd": "courier-imap",
            "imapd-ssl": "courier-imap-ssl",
            "pop3d": "courier-pop",
            "pop3d-ssl": "courier-pop-ssl",
        }[self.service]


def parse_ports(text: str, default: int) -> list[tuple[str, int]]:
    """PORT / SSLPORT: `143`, or `127.0.0.1.143,::1.143` (ADDRESS.PORT pairs, comma separated)."""
    out: list[tuple[str, int]] = []
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        addr, dot, port = item.rpartition(".")
        if not dot:
            addr, port = "", item
        if port.isdigit() and 0 < int(port) < 65536:
            out.append((addr, int(port)))
    return out or ([("", default)] if not text.strip() else [])


# The scripts that source the files: dash names them ($0) first in its messages. Debian's
# /etc/init.d/courier-imap runs `$DAEMON start` with DAEMON=/usr/sbin/imapd (a link to
# /usr/lib/courier/imapd), and that script does `. /etc/courier/imapd`; checked with dash 0.5.12.
INIT_SCRIPTS = {
    "imapd": "/usr/sbin/imapd",
    "imapd-ssl": "/usr/sbin/imapd-ssl",
    "pop3d": "/usr/sbin/pop3d",
    "pop3d-ssl": "/usr/sbin/pop3d-ssl",
}

_ORDER = {
    # What each init script sources, in order: the later file wins.
    "imapd": ("imapd-ssl", "imapd"),
    "imapd-ssl": ("imapd", "imapd-ssl"),
    "pop3d": ("pop3d-ssl", "pop3d"),
    "pop3d-ssl": ("pop3d", "pop3d-ssl"),
}


def load_daemon(root: LabRoot, service: str, etc: str = ETC) -> CourierDaemon:
    """Raises MissingConfig or CourierConfigError as the init script would stop."""
    base = service.removesuffix("-ssl")
    for name in (base, f"{base}-ssl"):
        # The init scripts check for both files, the plain one first, before sourcing either.
        if not root.path(f"{etc}/{name}").exists():
            raise MissingConfig(f"{etc}/{name}")
    env = ShellVars()
    for name in _ORDER[service]:
        env = source(root, f"{etc}/{name}", env, INIT_SCRIPTS[service])
    v = env
    imap = service.startswith("imapd")
    ssl = service.endswith("-ssl")
    if imap:
        start = _yes(v.get("IMAPDSSLSTART" if ssl else "IMAPDSTART"))
        starttls = _yes(v.get("IMAPDSTARTTLS"))
        tls_required = v.get("IMAP_TLS_REQUIRED").strip() == "1"
        capability = v.get("IMAP_CAPABILITY")
        capability_tls = v.get("IMAP_CAPABILITY_TLS") or capability
        default_port = 993 if ssl else 143
    else:
        start = _yes(v.get("POP3DSSLSTART" if ssl else "POP3DSTART"))
        starttls = _yes(v.get("POP3_STARTTLS"))
        tls_required = v.get("POP3_TLS_REQUIRED").strip() == "1"
        capability = v.get("POP3AUTH")
        capability_tls = v.get("POP3AUTH_TLS") or capability
        default_port = 995 if ssl else 110
    port_text = v.get("SSLPORT" if ssl else "PORT")
    return CourierDaemon(
        service=service,
        protocol="imap" if imap else "pop3",
        ssl=ssl,
        start=start,
        address=v.get("SSLADDRESS" if ssl and "SSLADDRESS" in v.values else "ADDRESS", "0") or "0",
        ports=parse_ports(port_text, default_port),
        maxdaemons=_int(v, "MAXDAEMONS", 40),
        maxperip=_int(v, "MAXPERIP", 4),
        starttls=starttls,
        tls_required=tls_required,
        capability=capability,
        capability_tls=capability_tls,
        tls_certfile=v.get("TLS_CERTFILE"),
        # The plain daemons use TLS_STARTTLS_PROTOCOL for STARTTLS when it is set.
        tls_protocol=(not ssl and v.get("TLS_STARTTLS_PROTOCOL")) or v.get("TLS_PROTOCOL"),
        maildirpath=v.get("MAILDIRPATH") or "Maildir",
        vars=v,
    )


@dataclass
class AuthdaemonSettings:
    modules: list[str]
    debug_login: int
    default_options: str
    vars: ShellVars


def load_authdaemonrc(root: LabRoot, etc: str = ETC, read_from: str | None = None) -> AuthdaemonSettings:
    v = source(root, f"{etc}/authdaemonrc", argv0="/usr/sbin/authdaemond", read_from=read_from)
    debug = v.get("DEBUG_LOGIN").strip()
    return AuthdaemonSettings(
        modules=v.get("authmodulelist").split(),
        debug_login=int(debug) if debug.isdigit() else 0,
        default_options=v.get("DEFAULTOPTIONS"),
        vars=v,
    )
