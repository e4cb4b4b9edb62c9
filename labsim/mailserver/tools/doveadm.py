"""doveadm for the lab: pw, auth, user, mailbox list|status, who, kick, log, reload, stop.

Output, messages and exit codes follow Dovecot 2.3's doveadm (EX_NOPERM 77
for a failed `auth test`, EX_NOUSER 67 for an unknown user, EX_TEMPFAIL 75
for fatals, EX_USAGE 64 for usage, EX_CONFIG 89 for a broken config).
"""

from __future__ import annotations

import getpass
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from labsim.mailserver.auth.model import AuthRequest
from labsim.mailserver.auth.passdb import Passdb
from labsim.mailserver.auth.request import PassdbAnswer, PassdbResult
from labsim.mailserver.auth.schemes import SCHEMES, UnknownScheme, hash_password, parse_scheme, split_stored
from labsim.mailserver.auth.schemes import verify_password_detail as _verify
from labsim.mailserver.auth.service import AuthService
from labsim.mailserver.auth.vars import expand, user_vars
from labsim.mailserver.config.errors import ConfigError
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog

EX_OK = 0
EX_USAGE = 64
EX_NOUSER = 67
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 89

DEFAULT_CONFIG = "/etc/dovecot/dovecot.conf"
STOP_WAIT = 5.0  # seconds `doveadm stop` waits for the master to exit

# doveadm prints the blank second line and the padded command names as is.
_USAGE_LINES = [
    "usage: doveadm [-Dv] [-f <formatter>] <command> [<args>]",
    " " * 15,
    "  auth         cache|login|lookup|test",
    "  config       [doveconf parameters]",
    "  help         [<cmd>]",
    "  kick         [-a <anvil socket path>] <user mask>[|]<ip/bits>",
    "  log          errors|find|reopen|test",
    "  mailbox      list|status",
    "  pw           [-l] [-p plaintext] [-r rounds] [-s scheme] [-t hash] [-u user] [-V]",
    "  reload       ",
    "  stop         ",
    "  user         [-a <userdb socket path>] [-x <auth info>] [-f field] [-e <value>] [-u] "
    "<user mask> [<user mask> [...]]",
    "  who          [-a <anvil socket path>] [-1] [<user mask>] [<ip/bits>]",
]
USAGE = "\n".join(_USAGE_LINES) + "\n"
USER_USAGE = "doveadm user " + _USAGE_LINES[-2].split(None, 1)[1] + "\n"
AUTH_USAGE = (
    "usage: doveadm [-Dv] [-f <formatter>] auth <command> [<args>]\n"
    "  cache        flush\n"
    "  login        [-a <auth-login socket path>] [-m <auth-master socket path>] [-x <auth info>] "
    "[-M <master user>] <user> [<password>]\n"
    "  lookup       [-a <userdb socket path>] [-x <auth info>] [-f field] <user> [<user> [...]]\n"
    "  test         [-a <auth socket path>] [-x <auth info>] [-M <master user>] <user> [<password>]\n"
)
AUTH_LOOKUP_USAGE = (
    "doveadm auth lookup [-a <userdb socket path>] [-x <auth info>] [-f field] <user> [<user> [...]]\n"
)
# The auth process's reason when no passdb can hand out credentials (PAM, checkpassword).
NO_CREDENTIALS = "Configured passdbs don't support credentials lookups"
AUTH_TEST_USAGE = (
    "doveadm auth test [-a <auth socket path>] [-A <sasl mech>] [-x <auth info>] "
    "[-M <master user>] <user> [<password>]\n"
)


class _Fail(Exception):
    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _usage() -> int:
    sys.stderr.write(USAGE)
    return EX_USAGE


def _fatal(message: str, code: int = EX_TEMPFAIL) -> _Fail:
    return _Fail(code, f"Fatal: {message}")


class Context:
    def __init__(self, root: LabRoot, config_path: str, settings: DovecotSettings | None) -> None:
        self.root = root
        self.config_path = config_path
        self._settings = settings

    def settings(self) -> DovecotSettings:
        if self._settings is not None:
            return self._settings
        from labsim.mailserver.config import dovecot

        warnings: list[str] = []
        try:
            self._settings = dovecot.load(self.root, self.config_path, warnings=warnings).settings()
        except ConfigError as exc:
            raise _Fail(EX_CONFIG, exc.fatal_line("doveconf")) from exc
        except NotImplementedError:
            # The loader is not there yet: Dovecot's built-in defaults.
            self._settings = DovecotSettings()
        finally:
            # doveadm reads its settings through doveconf, whose warnings it passes on.
            for warning in warnings:
                sys.stderr.write(f"doveconf: Warning: {warning}\n")
        return self._settings

    def auth(self) -> AuthService:
        settings = self.settings()
        log = DovecotLog(self.root, stderr=None)
        log.configure(settings.log_path, settings.info_log_path, settings.debug_log_path)
        service = AuthService(self.root, settings, log)
        service.start()
        return service


# --- pw -----------------------------------------------------------------------------


def _read_new_password() -> str:
    tty = sys.stdin.isatty()
    while True:
        if tty:
            first = getpass.getpass("Enter new password: ")
            second = getpass.getpass("Retype new password: ")
        else:
            first = sys.stdin.readline().rstrip("\r\n")
            second = sys.stdin.readline().rstrip("\r\n")
        if first == second:
            return first
        sys.stderr.write("Error: Passwords don't match!\n")


def cmd_pw(ctx: Context, args: list[str]) -> int:
    scheme = "CRYPT"
    password: str | None = None
    user = ""
    rounds: int | None = None
    test_hash: str | None = None
    reverse = False
    list_only = False
    it = iter(args)
    for a in it:
        if a in ("-s", "-p", "-u", "-r", "-t"):
            value = next(it, None)
            if value is None:
                raise _Fail(EX_USAGE, f"pw: option requires an argument -- '{a[1]}'")
            if a == "-s":
                scheme = value
            elif a == "-p":
                password = value
            elif a == "-u":
                user = value
            elif a == "-t":
                test_hash = value
            else:
                if not value.isdigit():
                    raise _fatal(f"Invalid number of rounds: {value}")
                rounds = int(value)
        elif a == "-V":
            reverse = True
        elif a == "-l":
            list_only = True
        elif a.startswith("-") and len(a) > 1:
            # getopt's words, as doveadm pw prints them
            raise _Fail(EX_USAGE, f"pw: invalid option -- '{a[1]}'")
        else:
            raise _Fail(EX_USAGE, f"Error: Extraneous arguments found: {a}")
    if list_only:
        print(" ".join(sorted(SCHEMES)) + " ")
        return EX_OK
    try:
        parse_scheme(scheme)
    except UnknownScheme as exc:
        raise _fatal(str(exc)) from exc
    if test_hash is not None:
        if password is None:
            password = (
                getpass.getpass("Enter password to verify: ")
                if sys.stdin.isatty()
                else sys.stdin.readline().rstrip("\r\n")
            )
        name, _ = split_stored(test_hash, scheme.upper())
        try:
            parse_scheme(name)
        except UnknownScheme as exc:
            raise _fatal(str(exc)) from exc
        ok, _problem = _verify(test_hash, password, user, scheme.upper())
        if not ok:
            raise _fatal("reverse password verification check failed: Password mismatch")
        print(f"{test_hash} (verified)")
        return EX_OK
    if password is None:
        password = _read_new_password()
    body = hash_password(scheme, password, user, rounds)
    shown = "{" + scheme.upper() + "}" + body
    if reverse:
        ok, _problem = _verify(shown, password, user)
        if not ok:
            raise _fatal("reverse password verification check failed: Password mismatch")
        print(f"{shown} (verified)")
    else:
        print(shown)
    return EX_OK


# --- auth test / user -------------------------------------------------------------------


def _auth_info(pairs: list[str]) -> AuthRequest:
    req = AuthRequest(service="doveadm", mech="PLAIN", rip="", lip="", secured=True)
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "service":
            req.service = value
        elif key == "rip":
            req.rip = value
        elif key == "lip":
            req.lip = value
        elif key == "session":
            req.session = value
        elif key == "secured":
            req.secured = value.lower() not in ("", "0", "no")
    return req


def _parse_auth_opts(args: list[str], allowed: str) -> tuple[list[str], list[str]]:
    """Split -a/-x/-f/-M... options from positional arguments."""
    info: list[str] = []
    rest: list[str] = []
    it = iter(args)
    for a in it:
        if a.startswith("-") and len(a) == 2 and a[1] in allowed:
            value = next(it, None)
            if value is None:
                raise _Fail(EX_USAGE)
            if a == "-x":
                info.append(value)
        elif a == "-u":
            continue
        else:
            rest.append(a)
    return info, rest


def cmd_auth_test(ctx: Context, args: list[str]) -> int:
    info, rest = _parse_auth_opts(args, "axM")
    if not rest or len(rest) > 2:
        sys.stderr.write(AUTH_TEST_USAGE)
        return EX_USAGE
    user = rest[0]
    if len(rest) == 2:
        password = rest[1]
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    service = ctx.auth()
    request = _auth_info(info)
    if service.broken is not None:
        raise _fatal("Couldn't connect to auth socket")
    name, ans = service.passdb_verify(user, password, request)
    shown = name or user
    if ans.result == PassdbResult.OK:
        print(f"passdb: {user} auth succeeded")
        print("extra fields:")
        print(f"  user={shown}")
        if shown != user:
            print(f"  original_user={user}")
        for key, value in ans.extra.items():
            print(f"  {key}={value}")
        return EX_OK
    delay = max(0.0, float(service.settings.auth_failure_delay))
    if delay and not ans.extra.get("nodelay"):
        time.sleep(delay)
    print(f"passdb: {user} auth failed")
    print("extra fields:")
    print(f"  user={shown}")
    return EX_NOPERM


def _getopt(command: str, args: list[str], spec: str) -> tuple[list[tuple[str, str]], list[str]]:
    """GNU getopt as doveadm runs it: options anywhere (it permutes), `--` ends them.

    `spec` is getopt's: a letter, then `:` when the option takes a value.
    """
    opts: list[tuple[str, str]] = []
    words: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            words += args[i:]
            break
        if a.startswith("--"):
            raise _Fail(EX_USAGE, f"{command}: unrecognized option '{a}'")
        if not a.startswith("-") or a == "-":
            words.append(a)
            continue
        j = 1
        while j < len(a):
            letter = a[j]
            at = spec.find(letter)
            if letter == ":" or at < 0:
                raise _Fail(EX_USAGE, f"{command}: invalid option -- '{letter}'")
            if spec[at + 1 : at + 2] != ":":
                opts.append((letter, ""))
                j += 1
                continue
            if j + 1 < len(a):
                opts.append((letter, a[j + 1 :]))
            elif i < len(args):
                opts.append((letter, args[i]))
                i += 1
            else:
                raise _Fail(EX_USAGE, f"{command}: option requires an argument -- '{letter}'")
            break
    return opts, words


# What doveadm printf()s goes through C stdio: line by line to a terminal, but held until exit
# when stdout is a pipe or file, so there it lands after stderr's Fatal and after what the
# formatter (doveadm_print) wrote. main() writes the held text out last.
_stdio_held: list[str] = []


def _printf(text: str) -> None:
    if sys.stdout.isatty():
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _stdio_held.append(text)


def _stdio_exit() -> None:
    held = "".join(_stdio_held)
    _stdio_held.clear()
    if held:
        sys.stdout.write(held)
        sys.stdout.flush()


def _user_mask(mask: str) -> re.Pattern[str]:
    """Dovecot's wildcard_match_icase(): `*` any run, `?` one character, case ignored."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in mask)
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)


def cmd_user(ctx: Context, args: list[str]) -> int:
    opts, users = _getopt("user", args, "a:x:f:e:u")
    field_only = next((v for k, v in reversed(opts) if k == "f"), None)
    expand_value = next((v for k, v in reversed(opts) if k == "e"), None)
    userdb_only = any(k == "u" for k, _ in opts)
    info = [v for k, v in opts if k == "x"]
    if not users:
        sys.stderr.write(USER_USAGE)  # a command's own usage line, as doveadm prints it
        return EX_USAGE
    if expand_value is not None and userdb_only:
        raise _Fail(EX_USAGE, "Error: -e can't be used with -u")
    if expand_value is not None and field_only is not None:
        raise _Fail(EX_USAGE, "Error: -e can't be used with -f")
    service = ctx.auth()
    if service.broken is not None:
        raise _fatal("Couldn't connect to auth socket")
    if any("*" in u or "?" in u for u in users):
        # One wildcard among the arguments makes them all masks: the userdbs list their users.
        return _list_users(service, users)
    request = _auth_info(info)
    if userdb_only:
        return _userdb_only(service, users, request, field_only)
    return _user_lookups(ctx, service, users, request, field_only, expand_value)


def _list_users(service: AuthService, masks: list[str]) -> int:
    # The auth process gets one mask as the request's user ("*" for several); doveadm filters.
    names, ok = service.iterate_users(masks[0] if len(masks) == 1 else "*")
    patterns = [_user_mask(m) for m in masks]
    for name in names:
        if any(p.fullmatch(name) for p in patterns):
            _printf(name + "\n")
    if not ok:
        sys.stderr.write("Error: auth-master: userdb list: User listing returned failure\n")
        raise _fatal("user listing failed")
    return EX_OK


def _userdb_only(service: AuthService, users: list[str], request: AuthRequest, field_only: str | None) -> int:
    """`doveadm user -u`: the auth process's USER reply, as `auth lookup` shows a PASS reply."""
    code = EX_OK
    for n, user in enumerate(users):
        if n:
            _printf("\n")
        name, _problem = service.translate_user(user)
        ans = service.userdb_lookup(name, request, verified=False) if name is not None else None
        if ans is not None and ans.failed and not ans.found:
            sys.stderr.write(f"Error: auth-master: userdb lookup({user}): Auth USER lookup failed\n")
            sys.stderr.write(f"Error: userdb lookup failed for {user}\n")
            sys.stderr.flush()
            code = EX_TEMPFAIL
            continue
        if ans is None or not ans.found:
            _printf(f"userdb lookup: user {user} doesn't exist\n")
            code = EX_NOUSER
            continue
        fields = {"user": name or user, **ans.fields}
        if field_only is not None:
            if field_only in fields:
                _printf(fields[field_only] + "\n")
            continue
        _printf(f"userdb: {user}\n")
        for key, value in fields.items():
            _printf(f"  {key:<10}: {value}\n")
    return code


def _user_lookups(
    ctx: Context,
    service: AuthService,
    users: list[str],
    request: AuthRequest,
    field_only: str | None,
    expand_value: str | None,
) -> int:
    """`doveadm user` without -u: what a mail process gets (the userdb's answer plus mail_location).

    The table goes through doveadm's formatter, which writes it out when the command ends; the
    blank lines between users, the not-found lines and -f/-e values are printf()s (see _printf).
    """
    table = field_only is None and expand_value is None
    rows: list[str] = ["field\tvalue"] if table else []
    code = EX_OK
    for n, user in enumerate(users):
        if n:
            _printf("\n")
        name, _problem = service.translate_user(user)
        ans = service.userdb_lookup(name, request, verified=False) if name is not None else None
        if name is not None and ans is not None and field_only is not None and ans.failed and not ans.found:
            sys.stderr.write(
                f"doveadm({user})<{os.getpid()}><>: Error: auth-master: userdb lookup({user}): "
                "Auth USER lookup failed\n"
            )
            code = EX_TEMPFAIL
            continue
        if name is None or ans is None or not ans.found:
            missing = f"\nuserdb lookup: user {user} doesn't exist\n"
            if table:
                _printf(missing)
            else:
                sys.stderr.write(missing)
            code = EX_NOUSER
            continue
        fields = _mail_user_fields(ctx, user, name, ans.fields)
        if expand_value is not None:
            values = user_vars(name, home=fields["home"], service=request.service)
            _printf(expand(expand_value, values) + "\n")
        elif field_only is not None:
            if field_only in fields:
                _printf(fields[field_only] + "\n")
        else:
            rows += [f"{key}\t{value}" for key, value in fields.items()]
    sys.stdout.write("".join(line + "\n" for line in rows))
    return code


def _mail_user_fields(ctx: Context, user: str, name: str, userdb: dict[str, str]) -> dict[str, str]:
    """The fields doveadm prints for a mail user, in its order: user (when translated), uid, gid,
    home, mail (the userdb's or mail_location), then the userdb's other fields."""
    fields: dict[str, str] = {"user": name} if name != user else {}
    fields["uid"] = userdb.get("uid", "")
    fields["gid"] = userdb.get("gid", "")
    fields["home"] = userdb.get("home", "")
    fields["mail"] = userdb.get("mail", ctx.settings().mail_location)
    for key, value in userdb.items():
        if key not in ("uid", "gid", "home", "mail") and key:
            fields[key] = value
    return fields


def cmd_auth_lookup(ctx: Context, args: list[str]) -> int:
    """A passdb lookup without authentication, as the auth process answers doveadm's PASS request."""
    field_only: str | None = None
    info: list[str] = []
    users: list[str] = []
    it = iter(args)
    for a in it:
        if a in ("-a", "-x", "-f"):
            value = next(it, None)
            if value is None:
                raise _Fail(EX_USAGE, f"lookup: option requires an argument -- '{a[1]}'")
            if a == "-x":
                info.append(value)
            elif a == "-f":
                field_only = value
        else:
            users.append(a)
    if not users:
        sys.stderr.write(AUTH_LOOKUP_USAGE)
        return EX_USAGE
    service = ctx.auth()
    if service.broken is not None:
        raise _fatal("Couldn't connect to auth socket")
    request = _auth_info(info)
    code = EX_OK
    for n, user in enumerate(users):
        if n:
            print()
        result, fields = _passdb_lookup(service, user, request)
        if result == PassdbResult.OK:
            if field_only is None:
                print(f"passdb: {user}")
                for key, value in fields.items():
                    print(f"  {key:<10}: {value}")
            elif field_only in fields:
                print(fields[field_only])
        elif result in (PassdbResult.USER_UNKNOWN, PassdbResult.USER_DISABLED, PassdbResult.PASS_EXPIRED):
            sys.stdout.flush()
            stream = sys.stdout if field_only is None else sys.stderr
            stream.write(f"passdb lookup: user {user} doesn't exist\n")
            stream.flush()
            code = EX_NOUSER
        else:
            sys.stdout.flush()
            if result == PassdbResult.SCHEME_NOT_AVAILABLE:
                sys.stderr.write(f"Error: passdb lookup failed for {user}: {NO_CREDENTIALS}\n")
            else:
                sys.stderr.write(f"Error: auth-master: passdb lookup({user}): Auth PASS lookup failed\n")
                sys.stderr.write(f"Error: passdb lookup failed for {user}\n")
            code = EX_TEMPFAIL
    return code


def _passdb_lookup(
    service: AuthService, user: str, request: AuthRequest
) -> tuple[PassdbResult, dict[str, str]]:
    """(result, the reply's fields: user= and the passdb's extra fields)."""
    name, _problem = service.translate_user(user)
    if name is None:
        return PassdbResult.USER_UNKNOWN, {}
    lookup = service._lookup(name, request)
    lookup.original_user = user

    def run(db: Passdb) -> PassdbAnswer:
        if not db.credentials_lookup:
            return PassdbAnswer(PassdbResult.SCHEME_NOT_AVAILABLE)
        return db.lookup_credentials(lookup)

    ans = service._chain(lookup, run)
    return ans.result, {"user": name, **ans.extra}


def cmd_auth_cache(ctx: Context, args: list[str]) -> int:
    if not args or args[0] != "flush":
        sys.stderr.write(AUTH_USAGE)
        return EX_USAGE
    # The lab's auth keeps no cache (auth_cache_size = 0): nothing to flush, as the real one says.
    if _master_pid(ctx) is None:
        socket_path = f"{_base_dir(ctx)}/auth-master"
        problem = f"connect({socket_path}) failed: No such file or directory"
        sys.stderr.write(f"Error: auth-master: auth cache flush: {problem}\n")
        sys.stderr.flush()
    print("0 cache entries flushed")
    return EX_OK


def cmd_auth(ctx: Context, args: list[str]) -> int:
    sub, rest = (args[0], args[1:]) if args else ("", [])
    if sub in ("test", "login"):
        return cmd_auth_test(ctx, rest)
    if sub == "lookup":
        return cmd_auth_lookup(ctx, rest)
    if sub == "cache":
        return cmd_auth_cache(ctx, rest)
    sys.stderr.write(AUTH_USAGE)
    return EX_USAGE


# --- reload / stop --------------------------------------------------------------------------


def _base_dir(ctx: Context) -> str:
    return ctx.settings().base_dir.rstrip("/") or "/run/dovecot"


def _master_pid(ctx: Context) -> int | None:
    try:
        pid = int(ctx.root.path(f"{_base_dir(ctx)}/master.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _signal_master(ctx: Context, sig: signal.Signals) -> int:
    pid = _master_pid(ctx)
    if pid is None:
        raise _fatal(f"Dovecot is not running (read from {_base_dir(ctx)}/master.pid)")
    try:
        os.kill(pid, sig)
    except OSError as exc:
        raise _fatal(f"kill({pid}, {int(sig)}) failed: {exc.strerror}") from exc
    if sig == signal.SIGTERM:
        # Like doveadm stop, return once the master is gone (what runs next may start a new one).
        from labsim.mailserver.tools.service import _alive

        deadline = time.monotonic() + STOP_WAIT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    return EX_OK


def _no_arguments(command: str, args: list[str]) -> None:
    """A command without options or arguments, checked as doveadm's getopt_long does (it permutes)."""
    words: list[str] = []
    for i, a in enumerate(args):
        if a == "--":
            words += args[i + 1 :]
            break
        if a.startswith("--"):
            raise _Fail(EX_USAGE, f"{command}: unrecognized option '{a}'")
        if a.startswith("-") and len(a) > 1:
            raise _Fail(EX_USAGE, f"{command}: invalid option -- '{a[1]}'")
        words.append(a)
    if words:
        raise _Fail(EX_USAGE, f"Error: Extraneous arguments found: {' '.join(words)}")


def cmd_reload(ctx: Context, args: list[str]) -> int:
    _no_arguments("reload", args)
    return _signal_master(ctx, signal.SIGHUP)


def cmd_stop(ctx: Context, args: list[str]) -> int:
    _no_arguments("stop", args)
    return _signal_master(ctx, signal.SIGTERM)


def cmd_mailbox(ctx: Context, args: list[str]) -> int:
    from labsim.mailserver.tools import doveadm_mailbox

    return doveadm_mailbox.run(ctx, args)


def cmd_who(ctx: Context, args: list[str]) -> int:
    from labsim.mailserver.tools import doveadm_who

    return doveadm_who.cmd_who(ctx, args)


def cmd_log(ctx: Context, args: list[str]) -> int:
    from labsim.mailserver.tools import doveadm_log

    return doveadm_log.run(ctx, args)


def cmd_kick(ctx: Context, args: list[str]) -> int:
    from labsim.mailserver.tools import doveadm_who

    return doveadm_who.cmd_kick(ctx, args)


COMMANDS: dict[str, Callable[[Context, list[str]], int]] = {
    "pw": cmd_pw,
    "auth": cmd_auth,
    "user": cmd_user,
    "reload": cmd_reload,
    "stop": cmd_stop,
    "mailbox": cmd_mailbox,
    "who": cmd_who,
    "kick": cmd_kick,
    "log": cmd_log,
}


def _config_lab_path(root: LabRoot, path: str) -> str:
    if path.startswith("/"):
        return path
    try:
        return root.lab_path(Path.cwd() / path)
    except ValueError:
        return "/" + path


def main(argv: list[str] | None = None, *, settings: DovecotSettings | None = None) -> int:
    """`settings` lets callers (tests) skip loading dovecot.conf."""
    args = list(sys.argv[1:] if argv is None else argv)
    root = LabRoot.from_env()
    config = DEFAULT_CONFIG
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-c", "-f", "-o", "-i"):
            if not args:
                return _usage()
            value = args.pop(0)
            if opt == "-c":
                config = _config_lab_path(root, value)
        elif opt in ("-D", "-v", "-Dv", "-vD"):
            continue
        elif opt == "--":
            break
        else:
            return _usage()
    if not args:
        return _usage()
    command = COMMANDS.get(args[0])
    if command is None:
        return _usage()
    ctx = Context(root, config, settings)
    try:
        return _run(command, ctx, args[1:])
    finally:
        _stdio_exit()


def _run(command: Callable[[Context, list[str]], int], ctx: Context, args: list[str]) -> int:
    try:
        return command(ctx, args)
    except _Fail as exc:
        sys.stdout.flush()
        if exc.message:
            sys.stderr.write(exc.message + "\n")
        elif exc.code == EX_USAGE:
            sys.stderr.write(USAGE)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except EOFError:
        return EX_TEMPFAIL


if __name__ == "__main__":
    # Through the package's module, so the commands in other modules raise the _Fail main() catches.
    from labsim.mailserver.tools import doveadm as _package_module

    sys.exit(_package_module.main())
