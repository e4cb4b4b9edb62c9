"""The Courier personality's server: courier-imap, courier-imap-ssl, courier-pop, courier-pop-ssl.

Each daemon starts when its init-script switch says YES (IMAPDSTART,
IMAPDSSLSTART, POP3DSTART, POP3DSSLSTART) and listens on its PORT/SSLPORT.
A missing config file or a shell syntax error stops that daemon with the
words its init script would print; the others still start. All daemons run
in one asyncio loop and share one authlib (authdaemond) read from
/etc/courier/authdaemonrc. SIGHUP re-reads everything for new connections;
SIGTERM and SIGINT stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from labsim.mailserver.auth import authlib as authlib_mod
from labsim.mailserver.auth import unixdb
from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.courier import (
    CourierConfigError,
    CourierDaemon,
    MissingConfig,
    load_daemon,
    parse_ports,
    source,
)
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.connection import (
    ClientConn,
    ClientGone,
    ClientHandler,
    ServerContext,
    no_delay,
    tracked,
)
from labsim.mailserver.courier.auth import CourierAuth
from labsim.mailserver.courier.couriertls import CertificateReader
from labsim.mailserver.courier.daemon import CourierContext, courier_ip
from labsim.mailserver.courier.imap import GREETING as IMAP_GREETING
from labsim.mailserver.courier.imap import serve_courier_imap
from labsim.mailserver.courier.log import CourierLog
from labsim.mailserver.courier.pop3 import GREETING as POP3_GREETING
from labsim.mailserver.courier.pop3 import serve_courier_pop3
from labsim.mailserver.courier.smtp import serve_smtp
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.privileges import AsUser, AsUserProxy, RootLog, can_switch
from labsim.mailserver.storage.base import MailStorage

SERVICES = ("imapd", "imapd-ssl", "pop3d", "pop3d-ssl")
ESMTPD = "/etc/courier/esmtpd"
SERVICE_NAMES = {
    "courier-mta": "esmtpd",
    "courier-imap": "imapd",
    "courier-imap-ssl": "imapd-ssl",
    "courier-pop": "pop3d",
    "courier-pop-ssl": "pop3d-ssl",
}
EXIT_FATAL = 1
DEFAULT_PIDFILES = {
    "imapd": "/var/run/courier/imapd.pid",
    "imapd-ssl": "/var/run/courier/imapd-ssl.pid",
    "pop3d": "/var/run/courier/pop3d.pid",
    "pop3d-ssl": "/var/run/courier/pop3d-ssl.pid",
}


def settings_for(daemon: CourierDaemon, failure_delay: float) -> DovecotSettings:
    """The shared session code reads a few DovecotSettings fields; these are Courier's values."""
    return DovecotSettings(
        protocols=[daemon.protocol],
        ssl="yes",
        disable_plaintext_auth=False,
        auth_mechanisms=["plain", "login"],
        auth_failure_delay=failure_delay,
        mail_location=f"maildir:~/{daemon.maildirpath}",
        login_greeting=IMAP_GREETING if daemon.protocol == "imap" else POP3_GREETING,
        mail_max_userip_connections=0,  # MAXPERIP is couriertcpd's, applied per connection
        auth_username_format="",
    )


def courier_rules(storage: MailStorage) -> MailStorage:
    """Courier's \\Recent and APPEND rules on the shared Maildir storage."""
    if hasattr(storage, "courier_rules"):
        storage.courier_rules = True
    return storage


@dataclass
class Running:
    daemon: CourierDaemon
    ctx: ServerContext
    courier: CourierContext
    servers: list[asyncio.AbstractServer] = field(default_factory=list)


class CourierServer:
    def __init__(
        self,
        root: LabRoot,
        log: CourierLog,
        port_base: int = 0,
        services: list[str] | None = None,
        failure_delay: float = 2.0,
    ) -> None:
        self.root = root
        self.log = log
        self.port_base = port_base
        self.services = services or [*SERVICES, "esmtpd"]
        self.smtp_servers: list[asyncio.AbstractServer] = []
        self.per_service: dict[str, int] = {}
        self.per_ip: dict[tuple[str, str], int] = {}
        # As root on the host root (the Docker lab), mail is accessed as the user.
        self.drop_privileges = can_switch() and root.is_host_root
        if self.drop_privileges:
            # Import storage code now: as the user, Python's own files may be out of reach.
            for name in ("location", "maildir"):
                with contextlib.suppress(ImportError):
                    importlib.import_module(f"labsim.mailserver.storage.{name}")
        self.failure_delay = failure_delay
        self.running: dict[str, Running] = {}
        self.sessions: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.listening = False  # set once every configured listener is open (tests and tools wait on it)

    # --- configuration

    def load(self) -> tuple[list[CourierDaemon], list[str]]:
        """Daemons to run, and the lines each refusing init script prints."""
        daemons: list[CourierDaemon] = []
        problems: list[str] = []
        warned: set[str] = set()
        for service in self.services:
            if service == "esmtpd":
                continue
            try:
                d = load_daemon(self.root, service)
            except MissingConfig as exc:
                if service in ("imapd", "pop3d") or self.root.path(f"/etc/courier/{service}").exists():
                    problems.append(str(exc))
                continue
            except CourierConfigError as exc:
                problems.append(str(exc))
                continue
            for w in d.vars.warnings:
                if w not in warned:
                    warned.add(w)
                    self.log.warning("courier", w)
            if d.start:
                daemons.append(d)
        return daemons, problems

    def _context(self, d: CourierDaemon, auth: CourierAuth, old: Running | None) -> Running:
        # couriertls reads the certificate per connection, so nothing is read (or logged) here;
        # a reload keeps the reader (and its context) while the file and settings stay the same.
        tls: CertificateReader | None = None
        if d.ssl or d.starttls:
            kept = old.courier.tls if old is not None else None
            if kept is not None and (kept.certfile, kept.protocol) == (d.tls_certfile, d.tls_protocol):
                tls = kept
            else:
                tls = CertificateReader(self.root, d.tls_certfile, d.tls_protocol)
        ctx = ServerContext(
            protocol=d.protocol,
            settings=settings_for(d, self.failure_delay),
            root=self.root,
            log=self.log,
            auth=auth,
            tls_context=None,  # the sessions ask CourierContext.tls at STARTTLS/STLS
            open_storage=self._opener(d),
            tls_enabled=tls is not None,
            tls_required=d.tls_required,
            hostname=socket.gethostname(),
            mail_pid=os.getpid(),
        )
        return Running(d, ctx, CourierContext(d, tls))

    def _opener(self, d: CourierDaemon) -> Callable[[UserInfo], MailStorage]:
        def opener(user: UserInfo) -> MailStorage:
            from labsim.mailserver.storage.location import open_storage

            location = user.mail or f"maildir:{user.home.rstrip('/')}/{d.maildirpath}"
            settings = settings_for(d, 0)
            if not (self.drop_privileges and user.uid > 0 and user.gid >= 0):
                storage = open_storage(self.root, location, user, self.log, settings, d.service)
                return courier_rules(storage)
            # imapd and pop3d run as the account authlib returned, so Maildir permissions count.
            pw = unixdb.getpwuid(self.root, user.uid)
            groups = [g.gid for g in unixdb.user_groups(self.root, pw.name)] if pw is not None else []
            as_user = AsUser(user.uid, user.gid, groups)
            with as_user:
                storage = open_storage(self.root, location, user, RootLog(self.log), settings, d.service)
            return cast(MailStorage, AsUserProxy(courier_rules(storage), as_user))

        return opener

    def _authlib(self) -> CourierAuth:
        lib = authlib_mod.from_config(self.root, log=self.log.raw)
        auth = CourierAuth(self.root, DovecotSettings(auth_failure_delay=self.failure_delay), self.log, lib)
        auth.start()
        return auth

    def apply(self, daemons: list[CourierDaemon]) -> None:
        auth = self._authlib()
        for d in daemons:
            auth_d = CourierAuth(self.root, auth.settings, self.log, auth.authlib, d.maildirpath, d.service)
            auth_d.started = True
            old = self.running.get(d.service)
            new = self._context(d, auth_d, old)
            if old is not None:
                new.servers = old.servers
                new.ctx.userip_sessions = old.ctx.userip_sessions
            self.running[d.service] = new

    # --- listeners

    def _bind(self, address: str) -> str:
        if address in ("", "0", "*"):
            return "127.0.0.1" if self.port_base else "0.0.0.0"
        return address.strip("[]")

    async def open(self, services: list[str] | None = None) -> list[str]:
        problems: list[str] = []
        for service, run in self.running.items():
            if services is not None and service not in services:
                continue
            d = run.daemon
            for addr, port in d.ports:
                host = self._bind(addr or d.address)
                real = self.port_base + port
                try:
                    server = await asyncio.start_server(
                        self._client_cb(service), host, real, reuse_address=True
                    )
                except OSError as exc:
                    problems.append(f"{d.service}: bind {host}:{real}: {exc.strerror or exc}")
                    continue
                run.servers.append(server)
            self._write_pid(d)
            self.log.info(d.service, f"{d.name} started, listening on port(s) " +
                          ",".join(str(self.port_base + p) for _, p in d.ports))  # fmt: skip
        return problems

    def _smtp_ports(self) -> list[tuple[str, int]] | None:
        """ESMTPDSTART=YES in /etc/courier/esmtpd: its (address, port)s; else None."""
        if "esmtpd" not in self.services or not self.root.path(ESMTPD).exists():
            return None
        try:
            v = source(self.root, ESMTPD)
        except (MissingConfig, CourierConfigError) as exc:
            self.log.error("courier", str(exc))
            return None
        if v.get("ESMTPDSTART").strip().upper() != "YES":
            return None
        port_text = v.get("PORT", "25").replace("smtp", "25")
        return [(a or v.get("ADDRESS", "0"), p) for a, p in parse_ports(port_text, 25)]

    def _smtp_wanted(self) -> bool:
        return self._smtp_ports() is not None

    async def open_smtp(self) -> list[str]:
        problems: list[str] = []
        for addr, port in self._smtp_ports() or []:
            host, real = self._bind(addr), self.port_base + port
            try:
                server = await asyncio.start_server(self._smtp_cb, host, real, reuse_address=True)
            except OSError as exc:
                problems.append(f"esmtpd: bind {host}:{real}: {exc.strerror or exc}")
                continue
            self.smtp_servers.append(server)
            self.log.info("courieresmtpd", f"started, listening on port {real}")
        return problems

    async def _smtp_cb(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.sessions.add(task)
        no_delay(writer)
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        conn = ClientConn(reader, writer, str(peer[0]).removeprefix("::ffff:"), int(peer[1]),
                          str(local[0]).removeprefix("::ffff:"), int(local[1]))  # fmt: skip
        try:
            await serve_smtp(self.root, self.log, conn)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # never a traceback to the client
            self.log.error("courieresmtpd", f"Internal error: {type(exc).__name__}: {exc}")
        finally:
            await conn.close()
            if task is not None:
                self.sessions.discard(task)

    def _write_pid(self, d: CourierDaemon) -> None:
        pidfile = d.vars.get("PIDFILE") or DEFAULT_PIDFILES[d.service]
        if d.ssl:
            pidfile = d.vars.get("SSLPIDFILE") or DEFAULT_PIDFILES[d.service]
        with contextlib.suppress(OSError):
            host = self.root.path(pidfile)
            host.parent.mkdir(parents=True, exist_ok=True)
            host.write_text(f"{os.getpid()}\n")

    def _remove_pids(self) -> None:
        for run in self.running.values():
            d = run.daemon
            pidfile = (d.vars.get("SSLPIDFILE") if d.ssl else d.vars.get("PIDFILE")) or DEFAULT_PIDFILES[
                d.service
            ]
            with contextlib.suppress(OSError):
                self.root.path(pidfile).unlink()

    def _client_cb(self, service: str) -> ClientHandler:
        return tracked(self.sessions, functools.partial(self._client, service))

    async def _client(self, service: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        run = self.running.get(service)
        if run is None:
            writer.close()
            return
        d = run.daemon
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)

        def plain(ip: str) -> str:
            return ip[7:] if ip.startswith("::ffff:") else ip

        conn = ClientConn(
            reader, writer, plain(str(peer[0])), int(peer[1]), plain(str(local[0])), int(local[1])
        )
        conn.session_id = os.urandom(6).hex()
        no_delay(writer)
        # couriertcpd's limits, applied before the daemon sees the client: it just hangs up.
        per_ip = (service, conn.rip)
        # couriertcpd's stderr goes through courierlogger -name=imapd (pop3d, ...): that is its tag.
        if d.maxdaemons and self.per_service.get(service, 0) >= d.maxdaemons:
            self.log.warning(d.service, f"Maximum number of connections ({d.maxdaemons}) reached")
            await conn.close()
            return
        if d.maxperip and self.per_ip.get(per_ip, 0) >= d.maxperip:
            self.log.warning(d.service, f"Maximum connection limit reached for {courier_ip(conn.rip)}")
            await conn.close()
            return
        self.per_service[service] = self.per_service.get(service, 0) + 1
        self.per_ip[per_ip] = self.per_ip.get(per_ip, 0) + 1
        try:
            if d.ssl:
                # couriertcpd starts couriertls for each connection: the certificate as it is now.
                attempt = run.courier.tls.current() if run.courier.tls is not None else None
                if attempt is None or attempt.context is None:
                    for line in attempt.errors if attempt is not None else []:
                        self.log.error(d.service, f"ip=[{courier_ip(conn.rip)}], {line}")
                    await conn.close()
                    return
                try:
                    await conn.start_tls(attempt.context)
                except ClientGone as exc:
                    self.log.info(d.service, f"couriertls: accept: {exc or 'handshake failed'}")
                    await conn.close()
                    return
            if d.protocol == "imap":
                await serve_courier_imap(run.ctx, conn, run.courier)
            else:
                await serve_courier_pop3(run.ctx, conn, run.courier)
        except ClientGone:
            pass
        except Exception as exc:  # a session bug must not stop the server or reach the client
            self.log.error(d.service, f"Internal error: {type(exc).__name__}: {exc}")
        finally:
            await conn.close()
            self.per_service[service] -= 1
            self.per_ip[per_ip] -= 1
            if self.per_ip[per_ip] <= 0:
                del self.per_ip[per_ip]

    # --- life cycle

    async def reload(self) -> None:
        daemons, problems = self.load()
        for p in problems:
            self.log.error("courier", p)
        wanted = {d.service for d in daemons}
        for service in list(self.running):
            if service not in wanted:
                for s in self.running.pop(service).servers:
                    s.close()
        fresh = [d.service for d in daemons if d.service not in self.running]
        self.apply(daemons)
        # Daemons newly switched on get their listeners; running ones keep theirs.
        if fresh:
            for p in await self.open(fresh):
                self.log.error("courier", p)

    def stop(self) -> None:
        self._stop.set()

    async def serve(self, handle_signals: bool = True) -> int:
        daemons, problems = self.load()
        for p in problems:
            self.log.error("courier", p)
        if not daemons:
            if not problems:  # after a refusal above, that refusal is the reason
                self.log.error(
                    "courier", "no Courier daemon is configured to start (IMAPDSTART, POP3DSTART, ...)"
                )
            return EXIT_FATAL
        self.apply(daemons)
        for p in await self.open():
            self.log.error("courier", p)
        if "esmtpd" in self.services:
            for p in await self.open_smtp():
                self.log.error("courier", p)
        if not any(run.servers for run in self.running.values()) and not self.smtp_servers:
            return EXIT_FATAL
        self.listening = True
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, self.stop)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        try:
            await self._stop.wait()
        finally:
            for run in self.running.values():
                for s in run.servers:
                    s.close()
            for s in self.smtp_servers:
                s.close()
            tasks = list(self.sessions)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2)
            self._remove_pids()
            for run in self.running.values():
                self.log.info(run.daemon.service, f"{run.daemon.name} stopped")
        return 0


def run(root: LabRoot, port_base: int = 0, services: list[str] | None = None) -> int:
    """`labsim-mailserver --personality courier`: serve until SIGTERM."""
    log = CourierLog(root)
    wanted = [SERVICE_NAMES.get(s, s) for s in services] if services else None
    known = (*SERVICES, "esmtpd")
    if wanted and any(s not in known for s in wanted):
        bad = next(s for s in wanted if s not in known)
        log.error("courier", f"unknown Courier service: {bad}")
        return 2
    server = CourierServer(root, log, port_base, wanted)
    try:
        return asyncio.run(server.serve())
    except KeyboardInterrupt:
        return 0
