"""passdb drivers: pam, passwd-file, shadow, passwd, static; sql only as its start-up fatal."""

from __future__ import annotations

import time

from labsim.mailserver.auth import pam, pam_codes, unixdb
from labsim.mailserver.auth.crypt import crypt_verify
from labsim.mailserver.auth.request import AuthLogger, Lookup, PassdbAnswer, PassdbResult
from labsim.mailserver.auth.schemes import (
    UnknownScheme,
    parse_scheme,
    split_stored,
    stored_scheme,
    verify_password_detail,
)
from labsim.mailserver.auth.sqldb import sql_init_fatal
from labsim.mailserver.auth.vars import expand
from labsim.mailserver.config.model import AuthDb
from labsim.mailserver.labroot import LabRoot

R = PassdbResult


def parse_args(args: str) -> tuple[dict[str, str], list[str]]:
    """`scheme=X username_format=%u /etc/dovecot/users` -> ({...}, ["/etc/dovecot/users"])."""
    opts: dict[str, str] = {}
    words: list[str] = []
    for tok in args.split():
        key, eq, value = tok.partition("=")
        if eq and key and not tok.startswith("/"):
            opts[key.lower()] = value
        else:
            words.append(tok)
    return opts, words


def parse_fields(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """Extra fields `a=b userdb_mail=x` -> (passdb fields, userdb fields)."""
    passdb: dict[str, str] = {}
    userdb: dict[str, str] = {}
    for tok in text.split():
        key, eq, value = tok.partition("=")
        if not key:
            continue
        if not eq:
            value = "y"  # a bare `nopassword` means yes
        if key.startswith("userdb_"):
            userdb[key[7:]] = value
        else:
            passdb[key] = value
    return passdb, userdb


class PassdbInitError(ValueError):
    """A passdb whose args the auth process refuses at start (the message is the fatal)."""


class Passdb:
    driver = ""
    blocking = False  # runs in an auth-worker in Dovecot (affects log prefixes)
    credentials_lookup = True  # can hand out a stored password (CRAM-MD5, APOP)

    def __init__(self, db: AuthDb, root: LabRoot, log: AuthLogger) -> None:
        self.db = db
        self.root = root
        self.log = log
        self.opts, self.words = parse_args(db.args)
        self.default_scheme = self.opts.get("scheme", "CRYPT").upper()

    def verify_plain(self, lookup: Lookup, password: str) -> PassdbAnswer:
        raise NotImplementedError

    def lookup_credentials(self, lookup: Lookup) -> PassdbAnswer:
        """The stored password in `credentials` ("{SCHEME}..." form)."""
        return PassdbAnswer(R.INTERNAL_FAILURE)

    def user_exists(self, lookup: Lookup) -> bool | None:
        """For deny passdbs and userdb checks; None when the driver cannot tell."""
        ans = self.lookup_credentials(lookup)
        if ans.result == R.OK:
            return True
        if ans.result == R.USER_UNKNOWN:
            return False
        return None

    def _check(self, lookup: Lookup, stored: str, password: str, answer: PassdbAnswer) -> PassdbAnswer:
        """Compare a stored password with the one given, logging as Dovecot does."""
        if answer.extra.get("nopassword", "").lower() in ("y", "yes") and not stored:
            return answer
        ok, problem = verify_password_detail(stored, password, lookup.user, self.default_scheme)
        if problem is not None:
            self.log.error(f"{lookup.log_name(self.driver)}: {problem}")
            return PassdbAnswer(R.INTERNAL_FAILURE)
        if not ok:
            self.log.mismatch(self.driver, lookup, password, self.blocking)
            return PassdbAnswer(R.PASSWORD_MISMATCH)
        return answer


# --- passwd-file -----------------------------------------------------------------


class PasswdFileEntry:
    def __init__(self, fields: list[str]) -> None:
        f = fields + [""] * (7 - len(fields))
        self.user = f[0]
        self.password = f[1]
        self.uid = f[2]
        self.gid = f[3]
        self.gecos = f[4]
        self.home = f[5]
        self.shell = f[6]
        self.extra = ":".join(fields[7:]) if len(fields) > 7 else ""


def read_passwd_file(root: LabRoot, path: str, log: AuthLogger) -> dict[str, PasswdFileEntry] | None:
    """None when the file cannot be read (logged)."""
    try:
        data = root.path(path).read_bytes()
    except FileNotFoundError:
        log.error(f"passwd-file {path}: open({path}) failed: No such file or directory")
        return None
    except PermissionError:
        log.error(f"passwd-file {path}: open({path}) failed: Permission denied")
        return None
    except OSError as exc:
        log.error(f"passwd-file {path}: open({path}) failed: {exc.strerror}")
        return None
    users: dict[str, PasswdFileEntry] = {}
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(":")
        entry = PasswdFileEntry(fields)
        if not entry.user or entry.user in users:
            continue
        bad = False
        for what, value, resolve in (
            ("UID", entry.uid, unixdb.resolve_uid),
            ("GID", entry.gid, unixdb.resolve_gid),
        ):
            if value == "":
                continue
            num = resolve(root, value)
            if num is None or num == 0:
                log.error(f"passwd-file {path}:User {entry.user} has invalid {what} '{value}'")
                bad = True
                break
        if not bad:
            users[entry.user] = entry
    return users


class PasswdFilePassdb(Passdb):
    driver = "passwd-file"

    def path(self, lookup: Lookup) -> str:
        return expand(self.words[-1], lookup.vars()) if self.words else ""

    def _entry(self, lookup: Lookup) -> tuple[PassdbResult, PasswdFileEntry | None]:
        path = self.path(lookup)
        if not path:
            self.log.error("passwd-file: no passwd file given in args")
            return R.INTERNAL_FAILURE, None
        users = read_passwd_file(self.root, path, self.log)
        if users is None:
            return R.INTERNAL_FAILURE, None
        fmt = self.opts.get("username_format", "%u")
        name = expand(fmt, lookup.vars())
        self.log.dbg(self.driver, lookup, f"lookup: user={name} file={path}")
        entry = users.get(name)
        if entry is None:
            self.log.info(self.driver, lookup, "unknown user")
            return R.USER_UNKNOWN, None
        return R.OK, entry

    def _answer(self, entry: PasswdFileEntry) -> PassdbAnswer:
        extra, userdb = parse_fields(entry.extra)
        return PassdbAnswer(R.OK, extra=extra, userdb_fields=userdb)

    def verify_plain(self, lookup: Lookup, password: str) -> PassdbAnswer:
        result, entry = self._entry(lookup)
        if entry is None:
            return PassdbAnswer(result)
        return self._check(lookup, entry.password, password, self._answer(entry))

    def lookup_credentials(self, lookup: Lookup) -> PassdbAnswer:
        result, entry = self._entry(lookup)
        if entry is None:
            return PassdbAnswer(result)
        ans = self._answer(entry)
        scheme, body = split_stored(entry.password, self.default_scheme)
        ans.credentials = "{" + scheme + "}" + body
        return ans


# --- shadow and passwd -------------------------------------------------------------


def _valid_crypt_field(value: str) -> bool:
    return value != "" and value[0] not in "*!"


class ShadowPassdb(Passdb):
    driver = "shadow"
    blocking = True

    def _stored(self, lookup: Lookup) -> tuple[PassdbResult, str]:
        sp = unixdb.getspnam(self.root, lookup.user)
        if sp is None:
            self.log.info(self.driver, lookup, "unknown user", worker=True)
            return R.USER_UNKNOWN, ""
        if not _valid_crypt_field(sp.hash):
            self.log.info(self.driver, lookup, "invalid password field", worker=True)
            return R.USER_DISABLED, ""
        today = int(time.time() // 86400)
        if sp.expire is not None and sp.expire >= 0 and today > sp.expire:
            self.log.info(self.driver, lookup, "account expired", worker=True)
            return R.USER_DISABLED, ""
        return R.OK, sp.hash

    def verify_plain(self, lookup: Lookup, password: str) -> PassdbAnswer:
        result, stored = self._stored(lookup)
        if result != R.OK:
            return PassdbAnswer(result)
        if crypt_verify(password.encode("utf-8", "surrogateescape"), stored):
            return PassdbAnswer(R.OK)
        self.log.mismatch(self.driver, lookup, password, worker=True)
        return PassdbAnswer(R.PASSWORD_MISMATCH)

    def lookup_credentials(self, lookup: Lookup) -> PassdbAnswer:
        result, stored = self._stored(lookup)
        if result != R.OK:
            return PassdbAnswer(result)
        return PassdbAnswer(R.OK, credentials="{CRYPT}" + stored)


class PasswdPassdb(ShadowPassdb):
    driver = "passwd"

    def _stored(self, lookup: Lookup) -> tuple[PassdbResult, str]:
        pw = unixdb.getpwnam(self.root, lookup.user)
        if pw is None:
            self.log.info(self.driver, lookup, "unknown user", worker=True)
            return R.USER_UNKNOWN, ""
        if not _valid_crypt_field(pw.passwd) or pw.passwd == "x":
            self.log.info(self.driver, lookup, "invalid password field", worker=True)
            return R.USER_DISABLED, ""
        return R.OK, pw.passwd


# --- static ----------------------------------------------------------------------


class StaticPassdb(Passdb):
    driver = "static"

    def _fields(self, lookup: Lookup) -> tuple[str, PassdbAnswer]:
        extra, userdb = parse_fields(expand(self.db.args, lookup.vars()))
        password = extra.pop("password", "")
        return password, PassdbAnswer(R.OK, extra=extra, userdb_fields=userdb)

    def verify_plain(self, lookup: Lookup, password: str) -> PassdbAnswer:
        stored, ans = self._fields(lookup)
        if not stored and ans.extra.get("nopassword", "").lower() in ("y", "yes"):
            return ans
        if not stored:
            self.log.info(self.driver, lookup, "No password returned (and no nopassword)")
            return PassdbAnswer(R.PASSWORD_MISMATCH)
        # A static password without a scheme is plaintext.
        if not stored.startswith("{"):
            stored = "{PLAIN}" + stored
        return self._check(lookup, stored, password, ans)

    def lookup_credentials(self, lookup: Lookup) -> PassdbAnswer:
        stored, ans = self._fields(lookup)
        ans.credentials = stored if stored.startswith("{") else "{PLAIN}" + stored
        return ans


# --- pam -------------------------------------------------------------------------


class PamPassdb(Passdb):
    driver = "pam"
    blocking = True
    credentials_lookup = False

    def __init__(self, db: AuthDb, root: LabRoot, log: AuthLogger) -> None:
        super().__init__(db, root, log)
        # Dovecot reads the args in order: known flags anywhere, and any other
        # word only as the last one, where it names the PAM service.
        self.session = self.setcred = self.show_msg = False
        self.service_template = "dovecot"
        words = db.args.split()
        for i, word in enumerate(words):
            if word == "session=yes":
                self.session = True
            elif word == "setcred=yes":
                self.setcred = True
            elif word == "failure_show_msg=yes":
                self.show_msg = True
            elif word.startswith(("cache_key=", "max_requests=")) or word == "blocking=yes":
                pass
            elif i == len(words) - 1:
                self.service_template = "%Ls" if word == "*" else word
            else:
                raise PassdbInitError(f"pam: Unknown setting: {word}")

    def service_name(self, lookup: Lookup) -> str:
        return expand(self.service_template, lookup.vars())

    def verify_plain(self, lookup: Lookup, password: str) -> PassdbAnswer:
        service = self.service_name(lookup)

        def pam_log(level: str, message: str) -> None:
            prefix, _ = self.log.worker_prefix()
            self.log.sink(level, prefix, message)

        outcome = pam.authenticate(
            self.root,
            service,
            lookup.user,
            password,
            lookup.rip,
            setcred=self.setcred,
            session=self.session,
            log=pam_log,
        )
        if outcome.ok:
            return PassdbAnswer(R.OK)
        code = outcome.code
        msg = outcome.message
        if outcome.call == "pam_authenticate" and code == pam_codes.PAM_USER_UNKNOWN:
            self.log.info(self.driver, lookup, "unknown user", worker=True)
        elif outcome.call == "pam_authenticate" and code == pam_codes.PAM_AUTH_ERR:
            self.log.info(
                self.driver, lookup, f"pam_authenticate() failed: {msg} (Password mismatch?)", worker=True
            )
        else:
            self.log.info(self.driver, lookup, f"{outcome.call}() failed: {msg}", worker=True)
        if code == pam_codes.PAM_USER_UNKNOWN:
            result = R.USER_UNKNOWN
        elif code in (pam_codes.PAM_NEW_AUTHTOK_REQD, pam_codes.PAM_ACCT_EXPIRED):
            result = R.PASS_EXPIRED
        else:
            result = R.PASSWORD_MISMATCH
        return PassdbAnswer(result, client_message=msg if self.show_msg else None)

    def user_exists(self, lookup: Lookup) -> bool | None:
        return None


class SqlPassdb(Passdb):
    """Never usable in the lab (no SQL driver plugin): its start is the auth process's fatal."""

    driver = "sql"

    def __init__(self, db: AuthDb, root: LabRoot, log: AuthLogger) -> None:
        super().__init__(db, root, log)
        raise PassdbInitError(sql_init_fatal(root, db.args))


DRIVERS: dict[str, type[Passdb]] = {
    "pam": PamPassdb,
    "sql": SqlPassdb,
    "passwd-file": PasswdFilePassdb,
    "shadow": ShadowPassdb,
    "passwd": PasswdPassdb,
    "static": StaticPassdb,
}


def create(db: AuthDb, root: LabRoot, log: AuthLogger) -> Passdb:
    """Raises KeyError for a driver we do not know (the service reports it)."""
    return DRIVERS[db.driver.lower()](db, root, log)


def credentials_match_scheme(credentials: str, wanted: str) -> tuple[bool, str]:
    """(usable, scheme held) for a credential lookup wanting `wanted` (e.g. CRAM-MD5)."""
    scheme = stored_scheme(credentials) or split_stored(credentials)[0].upper()
    try:
        base = parse_scheme(scheme)[0].name
    except UnknownScheme:
        return False, scheme
    return base in ("PLAIN", wanted), base
