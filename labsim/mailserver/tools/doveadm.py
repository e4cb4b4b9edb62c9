"""doveadm for the lab: pw, auth, user, mailbox list|status, who, kick, reload, stop.

Output, messages and exit codes follow Dovecot 2.3's doveadm (EX_NOPERM 77
for a failed `auth test`, EX_NOUSER 67 for an unknown user, EX_TEMPFAIL 75
for fatals, EX_USAGE 64 for usage, EX_CONFIG 89 for a broken config).
"""

from __future__ import annotations

import getpass
import os
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


def cmd_user(ctx: Context, args: list[str]) -> int:
    field_only: str | None = None
    filtered: list[str] = []
    it = iter(args)
    for a in it:
        if a == "-f":
            field_only = next(it, None)
            if field_only is None:
                return _usage()
        else:
            filtered.append(a)
    info, users = _parse_auth_opts(filtered, "axe")
    if not users:
        sys.stderr.write(USER_USAGE)  # a command's own usage line, as doveadm prints it
        return EX_USAGE
    service = ctx.auth()
    if service.broken is not None:
        raise _fatal("Couldn't connect to auth socket")
    request = _auth_info(info)
    code = EX_OK
    for user in users:
        name, _problem = service.translate_user(user)
        if field_only is None:
            print("field\tvalue")
        ans = service.userdb_lookup(name, request, verified=False) if name is not None else None
        if ans is None or not ans.found:
            sys.stdout.flush()
            sys.stderr.write(f"\nuserdb lookup: user {user} doesn't exist\n")
            code = EX_NOUSER
            continue
        if field_only is not None:
            if field_only in ans.fields:
                print(ans.fields[field_only])
            continue
        for key, value in ans.fields.items():
            print(f"{key}\t{value}")
    return code


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
        return command(ctx, args[1:])
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
