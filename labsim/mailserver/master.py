"""The master: one asyncio process that opens the listeners and runs sessions.

Dovecot's master forks login and mail processes; here every client is a task
in one event loop, but what a learner sees (log lines, exit codes, reload and
stop behaviour) follows Dovecot 2.3.19.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import functools
import importlib
import os
import resource
import signal
import socket
import threading
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from labsim.mailserver.anvil import Anvil
from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.auth.service import AuthService
from labsim.mailserver.config import dovecot as dovecot_config
from labsim.mailserver.config.errors import ConfigError
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.connection import (
    MAX_LINE,
    ClientConn,
    ClientGone,
    ClientHandler,
    ServerContext,
    tracked,
)
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.privileges import AsUser, AsUserProxy, RootLog, can_switch
from labsim.mailserver.storage.base import MailStorage
from labsim.mailserver.tls import setup as tls_setup

VERSION = "2.3.19.1 (9b53102964)"
EXIT_FATAL = 89  # Dovecot's exit code for a fatal error
MAX_CONNECTIONS = 1000  # Dovecot's default client_limit
STOP_GRACE = 1.0  # seconds running sessions get to finish on SIGTERM

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
Serve = Callable[[ServerContext, ClientConn], Awaitable[None]]


class StartupFatal(Exception):
    """Stop before serving; the lines were already logged."""


@dataclass(frozen=True)
class ListenKey:
    protocol: str
    name: str
    address: str  # as configured: "*", "::", "127.0.0.1"
    port: int  # the real port, base included
    ssl: bool


def new_session_id() -> str:
    """16 base64 characters, the shape of Dovecot's session=<...> ids."""
    return base64.b64encode(os.urandom(12)).decode()


HANDLED_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def _signal_code(code: int) -> str:
    return {0: "kill", -1: "sigqueue", -6: "tkill", 0x80: "kernel"}.get(code, f"unknown {code}")


def _serve_for(protocol: str) -> Serve | None:
    if protocol == "pop3":
        from labsim.mailserver.pop3 import serve_pop3

        return serve_pop3
    if protocol == "imap":
        # IMAP lives in its own package; until it is there, IMAP listeners stay closed.
        try:
            module = importlib.import_module("labsim.mailserver.imap.session")
        except ImportError:
            return None
        serve = getattr(module, "serve_imap", None)
        return cast(Serve, serve) if callable(serve) else None
    return None


class _Unresolvable(Exception):
    """A listen address that is no IP and no name the resolver knows: Dovecot stops at once."""


def _bind_address(address: str, sandboxed: bool) -> str:
    """The host address for a `listen` entry.

    A sandboxed server (port base set: the local backend) serves the learner
    on this machine only, so the wildcards mean loopback there; inside a
    container (no network) they keep their meaning.
    """
    if address == "*":
        return "127.0.0.1" if sandboxed else "0.0.0.0"
    if address == "::":
        return "::1" if sandboxed else "::"
    return address.strip("[]")


class Master:
    def __init__(
        self,
        root: LabRoot,
        log: DovecotLog,
        config_path: str = dovecot_config.DEFAULT_CONFIG_PATH,
        port_base: int = 0,
        auth_factory: Callable[[LabRoot, DovecotSettings, DovecotLog], AuthService] = AuthService,
        drop_privileges: bool | None = None,
    ) -> None:
        self.root = root
        # As root on the host root (the Docker lab), mail is accessed as the user, as Dovecot does.
        self.drop_privileges = (
            can_switch() and root.is_host_root if drop_privileges is None else drop_privileges
        )
        if self.drop_privileges:
            # Import storage code now: as the user, Python's own files may be out of reach.
            for name in ("location", "maildir", "mbox"):
                with contextlib.suppress(ImportError):
                    importlib.import_module(f"labsim.mailserver.storage.{name}")
        self.auth_factory = auth_factory
        self.log = log
        self.config_path = config_path
        self.port_base = port_base
        self.config: dovecot_config.DovecotConfig | None = None
        self.settings = DovecotSettings()
        self.contexts: dict[str, ServerContext] = {}
        self.servers: dict[ListenKey, asyncio.Server] = {}
        self.sessions: set[asyncio.Task[None]] = set()
        self.pid_file: Path | None = None
        self.hostname = socket.gethostname().split(".")[0] or "localhost"
        self._stopping: asyncio.Event | None = None
        self._limit_warned = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Future[None]] = set()
        self.ready = threading.Event()  # set once contexts exist and listeners accept
        self.anvil = Anvil(log)  # the sessions `doveadm who|kick` ask about, on <base_dir>/anvil

    # --- configuration

    def load(self) -> dovecot_config.DovecotConfig:
        return dovecot_config.load(self.root, self.config_path)

    def apply(self, config: dovecot_config.DovecotConfig) -> None:
        """Make `config` the one new connections get (running sessions keep theirs)."""
        settings = config.settings()
        self.log.configure(settings.log_path, settings.info_log_path, settings.debug_log_path)
        auth = self.auth_factory(self.root, settings, self.log)
        try:
            auth.start()  # logs its own fatal and sets .broken when it cannot serve
        except Exception as exc:  # an auth process that dies must not take the master down
            auth.broken = str(exc) or type(exc).__name__
            self.log.fatal("auth", auth.broken)
            # Like Dovecot's master: the ports stay open, logins get "Auth process broken".
            self.log.error("master", "service(auth): command startup failed, throttling for 2.000 secs")
        contexts: dict[str, ServerContext] = {}
        for proto in settings.protocols:
            psettings = config.settings(proto)
            tls = tls_setup(psettings)
            contexts[proto] = ServerContext(
                protocol=proto,
                settings=psettings,
                root=self.root,
                log=self.log,
                auth=auth,
                tls_context=tls.context,
                open_storage=self._storage_opener(proto, psettings),
                tls_enabled=tls.enabled,
                tls_required=tls.required,
                tls_error=tls.error,
                hostname=self.hostname,
                mail_pid=os.getpid(),
                anvil=self.anvil,
            )
            old = self.contexts.get(proto)
            if old is not None:
                contexts[proto].userip_sessions = old.userip_sessions  # counts span reloads
        self.config = config
        self.settings = settings
        self.contexts = contexts

    def _storage_opener(self, proto: str, settings: DovecotSettings) -> Callable[[UserInfo], MailStorage]:
        def opener(user: UserInfo) -> MailStorage:
            from labsim.mailserver.storage.location import open_storage

            location = user.mail or settings.mail_location
            prefix = f"{proto}({user.user})"
            if not (self.drop_privileges and user.uid > 0 and user.gid >= 0):
                return open_storage(self.root, location, user, self.log, settings, prefix)
            as_user = AsUser.for_user(self.root, settings, user)
            with as_user:
                storage = open_storage(self.root, location, user, RootLog(self.log), settings, prefix)
            return cast(MailStorage, AsUserProxy(storage, as_user))

        return opener

    def wanted_listeners(self, settings: DovecotSettings) -> list[ListenKey]:
        keys: list[ListenKey] = []
        ssl_off = settings.ssl.strip().lower() == "no"
        for proto, listener in settings.listeners():
            if _serve_for(proto) is None:
                continue
            if listener.ssl and ssl_off:
                continue  # Dovecot silently leaves SSL listeners closed with ssl = no
            addresses = listener.address.replace(",", " ").split() if listener.address else settings.listen
            for address in addresses:
                keys.append(
                    ListenKey(proto, listener.name, address, self.port_base + listener.port, listener.ssl)
                )
        return keys

    # --- listeners

    def _open_socket(self, key: ListenKey) -> socket.socket | None:
        """A listening socket; None when the address family is not available (IPv6)."""
        host = _bind_address(key.address, sandboxed=self.port_base != 0)
        try:
            infos = socket.getaddrinfo(host, key.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise _Unresolvable(exc.strerror or str(exc)) from exc
        family, _, _, _, sockaddr = infos[0]
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                return None
            raise
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
        except OSError as exc:
            sock.close()
            if family == socket.AF_INET6 and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                return None  # no IPv6 on this host: Dovecot carries on without it
            if exc.errno != errno.EADDRINUSE:  # Dovecot's net_listen() says so, except for "in use"
                self.log.error(
                    "master", f"bind({key.address}, {key.port}) failed: {os.strerror(exc.errno or 0)}"
                )
            raise
        try:
            sock.listen(100)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    @staticmethod
    def _listen_what(key: ListenKey) -> str:
        return f"service({key.protocol}-login): listen({key.address}, {key.port})"

    async def open_listeners(self, keys: list[ListenKey], fatal: bool, start: bool = True) -> None:
        failed = False
        for key in keys:
            if key in self.servers:
                continue
            if not 0 < key.port < 65536:
                self.log.error(
                    "master",
                    f"service({key.protocol}-login): listen({key.address}, {key.port}) failed: Invalid port",
                )
                failed = True
                continue
            try:
                sock = self._open_socket(key)
            except _Unresolvable as exc:
                self.log.fatal(
                    "master", f"service({key.protocol}-login) Can't resolve address {key.address}: {exc}"
                )
                raise StartupFatal() from exc
            except OSError as exc:
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                self.log.error(
                    "master",
                    f"service({key.protocol}-login): listen({key.address}, {key.port}) failed: {reason}",
                )
                failed = True
                continue
            if sock is None:
                continue
            self.servers[key] = await asyncio.start_server(
                self._client_cb(key), sock=sock, limit=MAX_LINE, start_serving=start
            )
        if failed and fatal:
            self.log.fatal("master", "Failed to start listeners")
            raise StartupFatal()

    async def close_listeners(self, keys: list[ListenKey]) -> None:
        for key in keys:
            server = self.servers.pop(key, None)
            if server is not None:
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 0.5)

    def _client_cb(self, key: ListenKey) -> ClientHandler:
        return tracked(self.sessions, functools.partial(self._client, key))

    async def _client(
        self, key: ListenKey, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        ctx = self.contexts.get(key.protocol)
        serve = _serve_for(key.protocol)
        if ctx is None or serve is None or len(self.sessions) > MAX_CONNECTIONS:
            if ctx is not None and not self._limit_warned:
                self._limit_warned = True
                self.log.warning(
                    "master",
                    f"service({key.protocol}-login): client_limit ({MAX_CONNECTIONS}) reached, "
                    "client connections are being dropped",
                )
            writer.close()
            return
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)

        def plain_ip(ip: str) -> str:
            return ip[7:] if ip.startswith("::ffff:") else ip

        conn = ClientConn(
            reader=reader,
            writer=writer,
            rip=plain_ip(str(peer[0])),
            rport=int(peer[1]),
            lip=plain_ip(str(local[0])),
            lport=int(local[1]),
            session_id=new_session_id(),
        )
        prefix = f"{key.protocol}-login"
        try:
            if key.ssl:
                if ctx.tls_context is None:
                    self.log.error(
                        prefix, f"Failed to initialize SSL server context: {ctx.tls_error}: {conn.log_tail()}"
                    )
                    await conn.close()
                    return
                try:
                    await conn.start_tls(ctx.tls_context)
                except ClientGone as exc:
                    detail = f"TLS handshaking: {exc}" if str(exc) else "TLS handshaking"
                    self.log.info(
                        prefix, f"Disconnected: {detail} (no auth attempts in 0 secs): {conn.log_tail()}"
                    )
                    await conn.close()
                    return
            await serve(ctx, conn)
        except asyncio.CancelledError:
            await conn.close()
            raise
        except ClientGone:
            await conn.close()
        except Exception as exc:  # a bug in a session must not stop the server or show a traceback
            where = ""
            tb = traceback.extract_tb(exc.__traceback__)
            if tb:  # where it broke, for whoever fixes it; never a traceback to the client
                where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})"
            self.log.error(prefix, f"Internal error: {type(exc).__name__}: {exc}{where}: {conn.log_tail()}")
            await conn.close()

    # --- pid file

    def _pid_path(self) -> Path:
        return self.root.path(self.settings.base_dir.rstrip("/") + "/master.pid")

    def check_pid_file(self) -> None:
        path = self._pid_path()
        try:
            pid = int(path.read_text().strip() or "0")
        except (OSError, ValueError):
            return
        if pid <= 0 or pid == os.getpid():
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if any(word in cmdline for word in (b"mailserver", b"dovecot", b"labsim")):
            lab = self.root.lab_path(path)
            self.log.fatal("master", f"Dovecot is already running with PID {pid} (read from {lab})")
            raise StartupFatal()

    def write_pid_file(self) -> None:
        path = self._pid_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Whole or not at all: doveadm reload, run the moment it appears, must read the pid.
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(f"{os.getpid()}\n")
            os.replace(tmp, path)
            self.pid_file = path
        except OSError as exc:
            self.log.error("master", f"open({self.root.lab_path(path)}) failed: {exc.strerror}")

    def remove_pid_file(self) -> None:
        if self.pid_file is not None:
            with contextlib.suppress(OSError):
                if self.pid_file.read_text().strip() == str(os.getpid()):
                    self.pid_file.unlink()

    # --- signals

    def _start_signal_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """sigwaitinfo() in a thread gives the sender's pid/uid for Dovecot's log line."""
        wanted = set(HANDLED_SIGNALS)

        def wait() -> None:
            while True:
                info = signal.sigwaitinfo(wanted)
                try:
                    loop.call_soon_threadsafe(
                        self._on_signal, info.si_signo, info.si_pid, info.si_uid, info.si_code
                    )
                except RuntimeError:
                    return  # the loop is gone

        threading.Thread(target=wait, name="signals", daemon=True).start()

    def _on_signal(self, signo: int, pid: int, uid: int, code: int) -> None:
        if signo == signal.SIGHUP:
            task = asyncio.ensure_future(self.reload())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        self.log.warning(
            "master", f"Killed with signal {signo} (by pid={pid} uid={uid} code={_signal_code(code)})"
        )
        if self._stopping is not None:
            self._stopping.set()

    async def reload(self) -> None:
        self.log.warning("master", "SIGHUP received - reloading configuration")
        try:
            config = self.load()
        except ConfigError as exc:
            self.log.error("master", f"Error reading configuration: {exc}")
            return
        try:
            old_keys = set(self.servers)
            self.apply(config)
            wanted = self.wanted_listeners(self.settings)
            await self.close_listeners([k for k in old_keys if k not in wanted])
            await self.open_listeners(wanted, fatal=False)
        except Exception as exc:  # keep serving with whatever is still open
            self.log.error("master", f"Reloading configuration failed: {type(exc).__name__}: {exc}")
            return
        if self.pid_file is not None:
            # The pid file's time says when the running configuration was read: the checkers
            # compare it with the files' to tell a learner who forgot to reload.
            with contextlib.suppress(OSError):
                os.utime(self.pid_file)

    # --- run

    async def serve(self, config: dovecot_config.DovecotConfig, handle_signals: bool = True) -> int:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if handle_signals:
            # Blocked before any thread exists (getaddrinfo's executor starts one while the
            # listeners open): threads inherit the mask, so no thread but the signal
            # thread ever takes SIGINT/SIGTERM, and none turns into a KeyboardInterrupt.
            signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        settings = config.settings()
        self.settings = settings
        self.log.configure(settings.log_path, settings.info_log_path, settings.debug_log_path)
        try:
            self.check_pid_file()
            # Bound and listening now (so a busy port is fatal before anything else),
            # accepting only once the contexts exist.
            await self.open_listeners(self.wanted_listeners(settings), fatal=True, start=False)
        except StartupFatal:
            await self.close_listeners(list(self.servers))
            return EXIT_FATAL
        self.write_pid_file()
        anvil_path = self.settings.base_dir.rstrip("/") + "/anvil"
        await self.anvil.listen(self.root.path(anvil_path), anvil_path)
        if handle_signals:
            self._start_signal_thread(self._loop)
        cores = "" if resource.getrlimit(resource.RLIMIT_CORE)[0] != 0 else " (core dumps disabled)"
        protocols = ", ".join(p for p in settings.protocols if p != "none")
        what = f"for {protocols}" if protocols else "without any protocols"
        self.log.info("master", f"Dovecot v{VERSION} starting up {what}{cores}")
        self.apply(config)
        for server in self.servers.values():
            await server.start_serving()
        self.ready.set()
        await self._stopping.wait()
        await self.close_listeners(list(self.servers))
        await self.anvil.close()
        if self.sessions:
            _, pending = await asyncio.wait(list(self.sessions), timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=STOP_GRACE)
        self.remove_pid_file()
        return 0

    def stop(self) -> None:
        """Ask a running master to stop (for in-process use and tests)."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
