"""`labsim-mailserver`: run the reference mail server in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

from labsim.mailserver.config import dovecot as dovecot_config
from labsim.mailserver.config.errors import ConfigError
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.master import EXIT_FATAL, Master
from labsim.mailserver.procname import set_process_name

GC_THRESHOLD = 100_000


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="labsim-mailserver",
        description="Reference POP3/IMAP server that reads a Dovecot configuration under a lab root.",
    )
    p.add_argument("--root", help="lab root (default: $LABSIM_ROOT, else /)")
    p.add_argument(
        "--port-base",
        type=int,
        default=0,
        metavar="N",
        help="listen on N+P for each configured port P (143 -> N+143)",
    )
    p.add_argument(
        "--config",
        default=dovecot_config.DEFAULT_CONFIG_PATH,
        metavar="PATH",
        help="main configuration file as the lab names it (default: %(default)s)",
    )
    p.add_argument("--foreground", "-F", action="store_true", help="run in the foreground (always the case)")
    p.add_argument("--personality", choices=("dovecot", "courier"), default="dovecot")
    return p


def _config_fatal(log: DovecotLog, exc: ConfigError) -> None:
    line = exc.fatal_line("doveconf")
    print(line, file=sys.stderr, flush=True)
    # The log gets the same words; stderr already has them.
    stderr, log.stderr = log.stderr, None
    try:
        log.fatal("doveconf", str(exc))
    finally:
        log.stderr = stderr


def tune_gc() -> None:
    """Sessions hold one small object per message, half a million of them with 50
    sessions on a 10,000-message mailbox; with Python's default thresholds the
    collector walks them so often that it costs more than serving them
    (`python -m bench --only concurrent` shows it). Collect young objects less often."""
    gc.freeze()  # what startup built lives as long as the process
    gc.set_threshold(GC_THRESHOLD, 50, 100)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.port_base < 0 or args.port_base > 65000:
        print(f"labsim-mailserver: invalid --port-base {args.port_base}", file=sys.stderr)
        return 2
    root = LabRoot.from_env(args.root)
    if not root.root.is_dir():
        print(f"labsim-mailserver: lab root {root.root} is not a directory", file=sys.stderr)
        return 2
    if args.personality == "courier":
        from labsim.mailserver.courier.server import run as run_courier

        set_process_name("couriertcpd")

        return run_courier(root, args.port_base)
    set_process_name("dovecot")
    log = DovecotLog(root)
    master = Master(root, log, config_path=args.config, port_base=args.port_base)
    try:
        config = master.load()
    except ConfigError as exc:
        _config_fatal(log, exc)
        return EXIT_FATAL
    except Exception as exc:  # a loader bug must still read as a fatal, not a traceback
        _config_fatal(log, ConfigError(f"Internal error: {type(exc).__name__}: {exc}"))
        return EXIT_FATAL
    try:
        tune_gc()
        return asyncio.run(master.serve(config))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
