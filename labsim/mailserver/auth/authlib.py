"""A courier-authlib model: the modules of `authmodulelist`, tried in order.

authdaemond asks each module in turn. A module that does not know the user,
or whose password check fails, passes the request on to the next one; the
first module that accepts answers with the account's details (the `authinfo`
that authtest prints). authpam runs the PAM stack of the service
(`imap`, `pop3`, or `login` for authtest) with the lab's PAM engine;
authshadow and authpwd check crypt(3) hashes in /etc/shadow and /etc/passwd;
authuserdb reads the databases makeuserdb compiles from /etc/courier/userdb.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

from labsim.mailserver.auth import pam
from labsim.mailserver.auth.crypt import crypt
from labsim.mailserver.auth.unixdb import getpwnam, getspnam, read_passwd
from labsim.mailserver.labroot import LabRoot

USERDB = "/etc/courier/userdb"
USERDB_DAT = "/etc/courier/userdb.dat"
USERDBSHADOW_DAT = "/etc/courier/userdbshadow.dat"
KNOWN_MODULES = ("authpam", "authshadow", "authpwd", "authuserdb")
# Modules real authlib ships that the lab has no backend for (a learner may name them).
UNAVAILABLE_MODULES = ("authldap", "authmysql", "authpgsql", "authsqlite", "authcustom", "authpipe")

LogFn = Callable[[str], None]


@dataclass
class AuthInfo:
    """What a module answers for an account: the fields authtest prints."""

    address: str
    module: str
    home: str
    gid: int
    sysusername: str | None = None
    uid: int | None = None  # set when there is no system user name (authuserdb)
    maildir: str | None = None
    quota: str | None = None
    passwd: str | None = None
    clearpasswd: str | None = None
    options: str | None = None
    fullname: str | None = ""

    def resolved_uid(self, root: LabRoot) -> int:
        if self.uid is not None:
            return self.uid
        pw = getpwnam(root, self.sysusername or self.address)
        return pw.uid if pw is not None else -1


def check_password(password: str, stored: str) -> bool:
    """courier-authlib's checks: crypt(3) strings, {MD5}, {SHA}, {SHA256} and {MD5RAW}."""
    if not stored or stored[0] in "!*":
        return False
    pw = password.encode("utf-8")
    upper = stored.upper()
    digests: dict[str, Callable[[bytes], bytes]] = {
        "{MD5}": lambda b: hashlib.md5(b).digest(),
        "{SHA}": lambda b: hashlib.sha1(b).digest(),
        "{SHA256}": lambda b: hashlib.sha256(b).digest(),
    }
    for prefix, fn in digests.items():
        if upper.startswith(prefix):
            want = base64.b64encode(fn(pw)).decode("ascii")
            return hmac.compare_digest(want, stored[len(prefix) :])
    if upper.startswith("{MD5RAW}"):
        return hmac.compare_digest(hashlib.md5(pw).hexdigest(), stored[8:].lower())
    got = crypt(pw, stored)
    return got is not None and hmac.compare_digest(got, stored)


# --- userdb --------------------------------------------------------------------------

PASSWORD_FIELD_SUFFIX = "pw"


def parse_userdb_fields(text: str) -> dict[str, str]:
    """`uid=1000|gid=1000|home=/home/a` -> fields; a name without `=` has an empty value."""
    out: dict[str, str] = {}
    for item in text.split("|"):
        if not item:
            continue
        key, _, value = item.partition("=")
        out[key] = value
    return out


def is_password_field(name: str) -> bool:
    return name.endswith(PASSWORD_FIELD_SUFFIX)


def load_userdb_dat(root: LabRoot) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(userdb.dat, userdbshadow.dat) as makeuserdb wrote them; empty when absent or unreadable."""

    def one(path: str) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(root.path(path).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(k): {str(a): str(b) for a, b in v.items()} for k, v in data.items() if isinstance(v, dict)
        }

    return one(USERDB_DAT), one(USERDBSHADOW_DAT)


# --- the modules -----------------------------------------------------------------------


class Authlib:
    def __init__(
        self,
        root: LabRoot,
        modules: list[str],
        log: LogFn | None = None,
        debug: int = 0,
        down: bool = False,
    ) -> None:
        self.root = root
        self.modules = modules
        self.down = down  # courier-authdaemon is stopped: nothing answers on its socket
        self.debug = debug
        self._log = log or (lambda msg: None)
        self._userdb_seen: tuple[int, int, int] | None = None

    def log(self, message: str) -> None:
        self._log(message)

    def dprint(self, message: str, level: int = 1) -> None:
        """authlib's DPRINTF: with DEBUG_LOGIN=1 (2 adds passwords), authdaemond's stderr."""
        if self.debug >= level:
            self.log(f"authdaemond: {message}")

    def dprint_authinfo(
        self, prefix: str, info: AuthInfo, clearpasswd: str | None, passwd: str | None
    ) -> None:
        """courier_authdebug_authinfo(): the account a module found, `<null>` for what it has not."""

        def v(value: str | None) -> str:
            return "<null>" if value is None else value

        uid = "<null>" if info.uid is None else str(info.uid)
        self.dprint(
            f"{prefix}sysusername={v(info.sysusername)}, sysuserid={uid}, sysgroupid={info.gid}, "
            f"homedir={v(info.home)}, address={v(info.address)}, fullname={v(info.fullname)}, "
            f"maildir={v(info.maildir)}, quota={v(info.quota)}, options={v(info.options)}"
        )
        self.dprint(f"{prefix}clearpasswd={v(clearpasswd)}, passwd={v(passwd)}", level=2)

    def problems(self) -> list[str]:
        """Lines authdaemond logs at start about authmodulelist."""
        out: list[str] = []
        if self.down:
            return out
        if not self.modules:
            out.append("authdaemond: no authentication modules are configured (authmodulelist is empty)")
        for m in self.modules:
            if m not in KNOWN_MODULES:
                out.append(f"authdaemond: unable to load module {m}: not installed in this lab")
        return out

    # -- pre-authentication (authtest without a password, authenumerate) ------------

    def _pre_system(self, module: str, user: str) -> AuthInfo | None:
        pw = getpwnam(self.root, user)
        if pw is None:
            self.dprint(f"{module}: username '{user}' not found in password file")
            return None
        stored = pw.passwd
        if module != "authpwd":
            sp = getspnam(self.root, user)
            if sp is not None:
                stored = sp.hash
        info = AuthInfo(
            address=user,
            module=module,
            home=pw.home,
            gid=pw.gid,
            sysusername=user,
            passwd=stored,
            fullname=pw.gecos,
        )
        # authpam shows the passwd file's field ("x"); the shadow hash comes with the answer.
        self.dprint_authinfo(f"{module}: ", info, None, pw.passwd if module == "authpam" else stored)
        return info

    def _userdb_opened(self) -> None:
        """authuserdb logs opening userdb.dat when it (re)opens it: first use, or a new file."""
        try:
            st = self.root.path(USERDB_DAT).stat()
        except OSError:
            return
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen != self._userdb_seen:
            self._userdb_seen = seen
            self.dprint(f"userdb: opened {USERDB_DAT}")

    def _pre_userdb(self, user: str, service: str, needpass: bool) -> AuthInfo | None:
        users, shadow = load_userdb_dat(self.root)
        self._userdb_opened()
        self.dprint(f"userdb: looking up '{user}'")
        fields = users.get(user)
        if fields is None:
            self.dprint("userdb: entry not found")
            return None
        uid_text, gid_text = fields.get("uid", ""), fields.get("gid", "")
        if not uid_text.isdigit() or not gid_text.isdigit():
            self.log(f"authdaemond: userdb: invalid uid/gid for {user}")
            return None
        shown = ", ".join(
            f"{k}={fields.get(k, '<unset>')}"
            for k in ("home", "uid", "gid", "shell", "mail", "quota", "gecos", "options")
        )
        self.dprint(f"userdb: {shown}")
        passwd = None
        if needpass:
            pws = shadow.get(user, {})
            for field in (f"{service}pw", "systempw"):
                if pws.get(field):
                    passwd = pws[field]
                    self.dprint(f"found {field} in userdbshadow")
                    break
        info = AuthInfo(
            address=user,
            module="authuserdb",
            home=fields.get("home", ""),
            gid=int(gid_text),
            uid=int(uid_text),
            maildir=fields.get("mail") or None,
            quota=fields.get("quota") or None,
            passwd=passwd,
            options=fields.get("options") or None,
            fullname=fields.get("gecos"),
        )
        self.dprint_authinfo("authuserdb: ", info, None, passwd)
        return info

    def _pre(self, module: str, user: str, service: str, needpass: bool) -> AuthInfo | None:
        if module in ("authpam", "authshadow", "authpwd"):
            return self._pre_system(module, user)
        if module == "authuserdb":
            return self._pre_userdb(user, service, needpass)
        return None

    def lookup(self, service: str, user: str) -> AuthInfo | None:
        """The first module that knows `user` (authtest with no password)."""
        self.dprint(f"received userid lookup request: {user}")
        for module in self.modules:
            if module not in KNOWN_MODULES:
                continue
            self.dprint(f"{module}: trying this module")
            # authtest shows the stored hash of a lookup too (userdbshadow.dat's for authuserdb).
            info = self._pre(module, user, service, needpass=True)
            if info is not None:
                self.dprint_authinfo("Authenticated: ", info, None, info.passwd)
                return info
            self.dprint(f"{module}: REJECT - try next module")
        self.dprint("FAIL, all modules rejected")
        return None

    # -- authentication --------------------------------------------------------------

    def _try(self, module: str, service: str, user: str, password: str, rhost: str) -> AuthInfo | None:
        info = self._pre(module, user, service, needpass=module == "authuserdb")
        if info is None:
            return None
        if module == "authpam":
            self.dprint(f"pam_service={service}, pam_username={user}")
            outcome = pam.authenticate(
                self.root,
                service,
                user,
                password,
                rhost,
                log=lambda level, msg: self.log(f"authdaemond: {msg}"),
            )
            if not outcome.ok:
                self.dprint(f"{outcome.call} failed, result {outcome.code}")
                return None
            self.dprint("dopam successful")
        else:
            if info.passwd is None:
                self.dprint(f"{module}: no password available for '{user}'")
                return None
            if not check_password(password, info.passwd):
                if self.debug >= 2:
                    self.dprint(
                        f"supplied password '{password}' does not match encrypted password '{info.passwd}'", 2
                    )
                else:
                    self.dprint("supplied password does not match encrypted password")
                return None
            self.dprint("password matches successfully")
        info.clearpasswd = password
        return info

    def authenticate(self, service: str, user: str, password: str, rhost: str = "") -> AuthInfo | None:
        """The first module that accepts `user` with `password`, or None."""
        self.dprint(f"received auth request, service={service}, authtype=login")
        for module in self.modules:
            if module not in KNOWN_MODULES:
                continue
            self.dprint(f"{module}: trying this module")
            info = self._try(module, service, user, password, rhost)
            if info is not None:
                self.dprint_authinfo("Authenticated: ", info, password, info.passwd)
                return info
            self.dprint(f"{module}: REJECT - try next module")
        self.dprint("FAIL, all modules rejected")
        return None

    def enumerate(self) -> list[tuple[str, int, int, str, str]]:
        """(name, uid, gid, home, maildir) for every account the modules can list (authenumerate)."""
        out: list[tuple[str, int, int, str, str]] = []
        seen: set[str] = set()
        for module in self.modules:
            if module in ("authpam", "authshadow", "authpwd"):
                for pw in read_passwd(self.root):
                    if pw.name not in seen:
                        seen.add(pw.name)
                        out.append((pw.name, pw.uid, pw.gid, pw.home, ""))
            elif module == "authuserdb":
                users, _ = load_userdb_dat(self.root)
                for name, f in sorted(users.items()):
                    if name not in seen and f.get("uid", "").isdigit() and f.get("gid", "").isdigit():
                        seen.add(name)
                        out.append((name, int(f["uid"]), int(f["gid"]), f.get("home", ""), f.get("mail", "")))
        return out


def from_config(root: LabRoot, log: LogFn | None = None) -> Authlib:
    """An Authlib for the authdaemonrc the lab's authdaemond runs with (see courier/authdaemon.py;
    a missing file means authdaemond has no modules)."""
    from labsim.mailserver.config.courier import CourierConfigError, MissingConfig, load_authdaemonrc
    from labsim.mailserver.courier import authdaemon

    if not authdaemon.running(root):
        return Authlib(root, [], log, down=True)
    try:
        conf = load_authdaemonrc(root, read_from=authdaemon.loaded_path(root))
    except MissingConfig:
        return Authlib(root, [], log)
    except CourierConfigError as exc:
        if log is not None:
            log(f"authdaemond: {exc}")
        return Authlib(root, [], log)
    return Authlib(root, conf.modules, log, conf.debug_login)


def format_authtest(info: AuthInfo) -> str:
    """authtest's report of a successful lookup or login."""

    def ptr(v: str | None) -> str:
        return v if v else "(none)"

    if info.sysusername:
        who = f" (system username: {info.sysusername})"
    elif info.uid is not None:
        who = f" (uid {info.uid}, gid {info.gid})"
    else:
        who = " (*** UID/GID initialization error***)"
    return (
        "Authentication succeeded.\n\n"
        f"     Authenticated: {ptr(info.address)} {who}\n"
        f"    Home Directory: {ptr(info.home)}\n"
        f"           Maildir: {ptr(info.maildir)}\n"
        f"             Quota: {ptr(info.quota)}\n"
        f"Encrypted Password: {ptr(info.passwd)}\n"
        f"Cleartext Password: {ptr(info.clearpasswd)}\n"
        f"           Options: {ptr(info.options)}\n"
    )
