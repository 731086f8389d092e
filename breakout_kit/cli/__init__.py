"""``breakout-kit``: the one-loop async command line.

``main()`` is ``asyncio.run(run())``. One event loop runs the IB connection, every watcher task, background ingests
and the command loop; nothing blocks it (see ``cli_prompt`` for how stdin is read).

Subcommands: none = the interactive command loop; ``demo`` = the headless main job (``breakout_kit.cli.demo``);
``bench ...`` = ``breakout_kit.bench.main.main(rest_of_argv)``, imported lazily and run outside our event loop (it must
be the first argument; everything after it is the benchmark's own). More async subcommands plug in through
``SUBCOMMANDS`` below.

Connection: ``--host/--port/--client-id`` else env ``IB_HOST``/``IB_PORT``/``IB_CLIENT_ID``. With no port anywhere, or
with ``--sim``, the embedded paper gateway starts in-process on a free loopback port. Its default speed is
``INTERACTIVE_SPEED`` = 60 simulated seconds per real second: a 1-minute bar completes every real second, so a
20-bar watcher is warm at once (it backfills) and the planted breakouts show up within about half a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from breakout_kit.cli.commands import COMMAND_WORDS, Console, error_line, one_line, report_fills
from breakout_kit.client.config import mask_account  # the connected line ends up in logs and pastes
from breakout_kit.connection import connect, embedded_gateway, uses_embedded

ConnectFn = Callable[..., Awaitable[Any]]

INTERACTIVE_SPEED = 60.0
SHUTDOWN_TIMEOUT = 5.0
BENCH = "bench"


def _demo_module():
    # cli.demo imports this module (the console, the connected line), so it is imported when first needed
    from breakout_kit.cli import demo

    return demo


# name -> (module loader, help). The module provides ``add_arguments(parser)`` and ``async def main(args) -> int``.
# `args` carries the common flags too (host, port, client_id, sim, seed, speed, start, debug, trading).
SUBCOMMANDS: dict[str, tuple[Callable[[], Any], str]] = {
    "demo": (_demo_module, ("headless demo: watchers, paper brackets, summary with P&L (embedded gateway; "
                            "--port / IB_PORT: your TWS, orders only with --trading)")),
}


def package_version() -> str:
    """The installed breakout_kit's version (``breakout-kit --version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("breakout_kit")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def _add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Flags valid before or after the subcommand. Subparsers use SUPPRESS so they don't override main's values."""
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    g = parser.add_argument_group("connection")
    g.add_argument("--host", default=d(None), help="TWS / IB Gateway host (env IB_HOST, default 127.0.0.1)")
    g.add_argument("--port", type=int, default=d(None),
                   help="TWS / IB Gateway port (env IB_PORT); none = embedded paper gateway")
    g.add_argument("--client-id", type=int, default=d(None), help="API client id (env IB_CLIENT_ID, default 1)")
    g.add_argument("--trading", action="store_true", default=d(False),
                   help="allow placing (paper) orders; without it every order is refused")
    s = parser.add_argument_group("embedded paper gateway")
    s.add_argument("--sim", action="store_true", default=d(False),
                   help="use the embedded paper gateway even if IB_PORT is set")
    s.add_argument("--seed", type=int, default=d(0), help="synthetic market seed (default 0)")
    s.add_argument("--speed", type=float, default=d(None),
                   help=f"simulated seconds per real second (default {INTERACTIVE_SPEED:g}; demo: faster)")
    s.add_argument("--start", type=_parse_start, default=d(None),
                   help="simulated start time, ISO 8601; no offset = New York (default: last weekday 09:30)")
    parser.add_argument("--debug", action="store_true", default=d(False),
                        help="full tracebacks and library logging on stderr")


def _parse_start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad --start {text!r} (ISO 8601, e.g. 2026-11-23T09:30:00-05:00)")
    if value.tzinfo is None:  # like the gateway's own --start: a naive time is New York time
        from zoneinfo import ZoneInfo

        value = value.replace(tzinfo=ZoneInfo("America/New_York"))
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree: common flags, then optional subcommand from SUBCOMMANDS."""
    parser = argparse.ArgumentParser(
        prog="breakout-kit",
        description="Watch IB market data for breakouts. Without a subcommand: the interactive command loop "
                    "(type help). Reads commands from stdin when it is not a terminal.")
    _add_common(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"breakout-kit {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for name, (load, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        _add_common(p, suppress=True)
        load().add_arguments(p)
    # Listed for --help only: main() hands `bench ...` to breakout_kit.bench.main before argparse sees it.
    bench = sub.add_parser(BENCH, help="benchmarks (breakout_kit.bench.main; must be the first argument)",
                           add_help=False)
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    sub.metavar = "{" + ",".join([*SUBCOMMANDS, BENCH]) + "}"
    return parser


class OneLineLogHandler(logging.Handler):
    """breakout_kit's own warnings (e.g. a watcher's bracket that was refused) as one ``warning: ...`` line on
    stdout, so they reach the user above the prompt like every other message (no timestamps, no tracebacks)."""

    def __init__(self, out: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.out(f"{record.levelname.lower()}: {one_line(record.getMessage())}")
        except Exception:  # noqa: BLE001  (logging must never break the loop)
            self.handleError(record)


def configure_logging(debug: bool, out: Callable[[str], None] | None = None) -> Callable[[], None]:
    """Without --debug: library chatter stays off the console (the CLI reports every failure of a command itself
    as one ``error:`` line) and breakout_kit's warnings become one line each. With --debug: everything, with
    timestamps, on stderr. Returns a function that puts every touched logger back as it was (``run()`` calls it
    on the way out, so a program that embeds the CLI keeps its own logging)."""
    from breakout_kit.client.ib_client import LIBRARY as NAME

    names = ("", NAME, "asyncio", "breakout_kit", "breakout_kit.gateway", "breakout_kit.client.ib_client")
    saved = [(lg, lg.level, lg.propagate, lg.handlers[:]) for lg in map(logging.getLogger, names)]

    def restore() -> None:
        for lg, level, propagate, handlers in saved:
            lg.setLevel(level)
            lg.propagate = propagate
            lg.handlers[:] = handlers

    if debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        logging.getLogger(NAME).setLevel(logging.INFO)
        logging.getLogger("asyncio").setLevel(logging.WARNING)
        return restore
    logging.getLogger(NAME).setLevel(logging.CRITICAL)  # API errors surface as exceptions we report
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    kit = logging.getLogger("breakout_kit")
    kit.setLevel(logging.WARNING)
    kit.propagate = False
    kit.handlers[:] = [OneLineLogHandler(out or printer())]
    # The in-process gateway is the "server": its own notices are not the user's business. IBClient's connection
    # warnings are reported by the CLI's "connection lost/restored" lines instead.
    logging.getLogger("breakout_kit.gateway").setLevel(logging.ERROR)
    logging.getLogger("breakout_kit.client.ib_client").setLevel(logging.ERROR)
    return restore


def wants_embedded(args: argparse.Namespace) -> bool:
    """Embedded gateway when --sim, or when no port is given by flag or IB_PORT."""
    return uses_embedded(args.port, embedded=True if args.sim else None)


def gw_speed(args: argparse.Namespace, default_speed: float) -> float:
    """The embedded gateway's clock speed: --speed, else the subcommand's default."""
    speed = args.speed if args.speed is not None else default_speed
    if not (speed > 0 and speed < float("inf")):
        raise ValueError(f"--speed must be a positive number, got {speed:g}")
    return speed


def connect_args(args: argparse.Namespace, default_speed: float, say: Callable[[str], None], *,
                 trading: bool | None = None) -> dict[str, Any]:
    """``connect()``'s keyword arguments from the common flags (the one TWS-or-embedded path, connection.py)."""
    embedded = wants_embedded(args)
    kwargs: dict[str, Any] = {"host": args.host, "port": args.port, "client_id": args.client_id,
                                  "trading": args.trading if trading is None else trading,
                                  "embedded": True if args.sim else None, "say": say}
    if embedded:
        kwargs.update(speed=gw_speed(args, default_speed), seed=args.seed, start=args.start)
    return kwargs


EXIT_SIGINT = 128 + signal.SIGINT    # 130, as a shell reports a program ended by Ctrl-C
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143


def install_stop_signals(stop: asyncio.Event, received: list[int] | None = None,
                         on_sigint: Callable[[], bool] | None = None) -> Callable[[], None]:
    """SIGINT and SIGTERM set ``stop`` (the clean-shutdown path) and are appended to ``received`` (for the exit
    code). ``on_sigint`` may take a SIGINT itself (return True), e.g. to interrupt the running command.
    Returns a function that removes the handlers."""
    loop = asyncio.get_running_loop()
    installed = []

    def handler(sig: int) -> None:
        if sig == signal.SIGINT and on_sigint is not None and on_sigint():
            return
        if received is not None:
            received.append(int(sig))
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, handler, sig)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    return remove


def signal_exit_code(received: list[int]) -> int:
    """128 + the first signal received (130 for SIGINT, 143 for SIGTERM), or 0."""
    return 128 + received[0] if received else 0


def printer() -> Callable[[str], None]:
    """Print one chunk of text and flush (scripted sessions read our stdout line by line)."""
    def out(text: str) -> None:
        if text:
            print(text, flush=True)
    return out


class CommandLoop:
    """Read a line, execute it, print the reply; until quit, end of input or Ctrl-C.

    ``run()`` returns the exit code: 0 for ``quit`` / end of input, 130 for Ctrl-C at an empty prompt. The first
    such Ctrl-C only warns when watchers, ingests or orders are working (``Console.leave_warning``); a second one
    in a row leaves. ``interrupt()`` (SIGINT in a terminal) cancels the running command, as in a shell, or counts
    as Ctrl-C at the prompt.
    """

    def __init__(self, session: Console, reader) -> None:
        self.session, self.reader = session, reader
        self._waiting: asyncio.Task | None = None     # the read or the command interrupt() may cancel
        self._reading = False                         # _waiting is the prompt's read (not a command)

    async def run(self) -> int:
        from breakout_kit.cli.prompt import INTERRUPT

        warned = False
        while True:
            line = await self._read()
            if line is None:
                return 0
            if line is INTERRUPT:
                warning = "" if warned else await self.session.leave_warning()
                if not warning:
                    self.session.out("bye")
                    return EXIT_SIGINT
                self.session.out(warning)
                warned = True
                continue
            warned = False
            task = await self._interruptible(self.session.execute(line))
            if task.cancelled():
                self.session.out("interrupted")
                continue
            reply = task.result()
            self.session.out(reply.text)
            if reply.quit:
                return 0

    async def _read(self) -> str | None:
        """The next line; ``INTERRUPT`` when ``interrupt()`` cancelled the wait for it."""
        from breakout_kit.cli.prompt import INTERRUPT

        self._reading = True
        try:
            task = await self._interruptible(self.reader.readline())
        finally:
            self._reading = False
        return INTERRUPT if task.cancelled() else task.result()

    async def _interruptible(self, aw) -> asyncio.Task:
        """Run ``aw`` as the task ``interrupt()`` cancels; return it once done (cancelled or with its result)."""
        task = self._waiting = asyncio.ensure_future(aw)
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._waiting = None
        return task

    def interrupt(self) -> bool:
        """SIGINT in a terminal: cancel the running command, or treat it as Ctrl-C at the prompt when waiting for
        input (it arrives as a signal, not a key, between prompts). True when taken.

        While a prompt is reading, the reader decides (``TerminalReader.interrupt``): cancelling the read would
        throw away what the user typed after the Ctrl-C, which the prompt may already hold."""
        task = self._waiting
        if task is None or task.done():
            return False
        if self._reading and self.reader.interrupt():
            return True
        task.cancel()
        return True


async def command_loop(session: Console, reader) -> int:
    """``CommandLoop(session, reader).run()``."""
    return await CommandLoop(session, reader).run()


async def interactive(args: argparse.Namespace, *, connect_fn: ConnectFn = connect,
                      **session_kwargs: Any) -> int:
    """The default subcommand: connect, run the command loop and watchers until quit/EOF/signal, clean up.

    ``connect_fn`` and ``session_kwargs`` (``Console``'s factories) let tests run the real loop with fakes."""
    from breakout_kit.cli.prompt import make_reader, output_context, stdin_is_tty

    tty = stdin_is_tty()
    out = printer()
    stop = asyncio.Event()
    received: list[int] = []
    loop: CommandLoop | None = None
    # In a terminal, Ctrl-C while a command runs (the prompt is not reading, so it arrives as SIGINT) interrupts
    # that command, as in a shell; piped, SIGINT always ends the program.
    remove_signals = install_stop_signals(stop, received,
                                          on_sigint=lambda: tty and loop is not None and loop.interrupt())
    try:
        with output_context(tty):
            async with contextlib.AsyncExitStack() as stack:
                words = list(COMMAND_WORDS)
                connecting = asyncio.ensure_future(connect_fn(**connect_args(args, INTERACTIVE_SPEED, out)))
                stop_wait = asyncio.ensure_future(stop.wait())
                await asyncio.wait({connecting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if not connecting.done():  # Ctrl-C while connecting (connect() stops a gateway it started)
                    connecting.cancel()
                    stop_wait.cancel()
                    await asyncio.gather(connecting, stop_wait, return_exceptions=True)
                    return signal_exit_code(received)
                stop_wait.cancel()
                await asyncio.gather(stop_wait, return_exceptions=True)
                client = connecting.result()  # ConnectError -> one line below
                stack.push_async_callback(_bounded, client.disconnect())
                gw = embedded_gateway(client)
                if gw is not None:
                    words += list(gw.symbols())
                out(await connected_line(client, args.trading) + ("; type help" if tty else ""))
                stack.callback(_report_connection_changes(client, out))  # unhooked before our own disconnect
                stack.callback(report_fills(client, out))
                if gw is not None:
                    session_kwargs.setdefault("universe", lambda: [i.key for i in gw.universe if i.sec_type == "STK"])
                session = Console(client, out=out, trading=args.trading, debug=args.debug, **session_kwargs)
                stack.push_async_callback(session.aclose, SHUTDOWN_TIMEOUT)
                reader = make_reader(words, tty)
                stack.callback(reader.close)
                loop = CommandLoop(session, reader)
                code = await _until_done_or_stopped(loop.run(), stop)
                if received:
                    out("bye")
        return signal_exit_code(received) or code or 0
    except Exception as exc:  # noqa: BLE001  (UI boundary: one error line, traceback only with --debug)
        if args.debug:
            traceback.print_exc()
        print(error_line(exc), file=sys.stderr, flush=True)
        return 1
    finally:
        remove_signals()


def _report_connection_changes(client, out: Callable[[str], None]) -> Callable[[], None]:
    """One line when the connection drops or comes back (IBClient reconnects by itself; watchers resubscribe).

    Returns a function that unhooks it."""
    event = getattr(client, "state_event", None)
    if event is None:
        return lambda: None
    last = {"state": "connected"}

    def on_state(state: str, *_: Any) -> None:
        if state == last["state"] or state in ("closed", "connecting"):
            return
        if state == "connected":
            out("connection restored")
        elif state in ("reconnecting", "disconnected"):
            out(f"connection lost ({state})")
        last["state"] = state
    event += on_state
    return lambda: event.disconnect(on_state)


async def connected_line(client, trading: bool) -> str:
    """``connected to HOST:PORT as client N, account DU***4567 (paper), MODE; server version V, TWS time T New York``.

    The one place the time zone is named: every other time on screen is New York time too."""
    from breakout_kit.cli.format import DISPLAY_TZ

    account = (mask_account(client.account) + (" (paper)" if client.paper else " (LIVE)")
               if client.account else "?")
    mode = "trading enabled" if trading else "read-only (start with --trading to place orders)"
    where = f"{client.settings.host}:{client.settings.port}"  # flags, else env, else defaults
    line = f"connected to {where} as client {client.settings.client_id}, account {account}, {mode}"
    about = []
    version = getattr(client, "server_version", 0)
    if version:
        about.append(f"server version {version}")
    server_time = getattr(client, "server_time", None)
    if server_time is not None:
        with contextlib.suppress(Exception):  # the time is a courtesy: never fail the start for it
            t = await asyncio.wait_for(server_time(), 5.0)
            about.append(f"TWS time {t.astimezone(DISPLAY_TZ):%Y-%m-%d %H:%M:%S} New York (all times are New York "
                         f"time)")
    return line + ("; " + ", ".join(about) if about else "")


async def _until_done_or_stopped(coro, stop: asyncio.Event) -> Any:
    """Run ``coro`` as a task next to the stop signal; whichever ends first wins and the other is cancelled.
    Returns ``coro``'s result when it finished first, else None."""
    main = asyncio.ensure_future(coro)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (main, stopper):
            t.cancel()
        await asyncio.gather(main, stopper, return_exceptions=True)
    if main.done() and not main.cancelled():
        if main.exception() is not None:
            raise main.exception()
        return main.result()
    return None


async def _bounded(aw, timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """Await a shutdown step but never hang on it."""
    with contextlib.suppress(asyncio.TimeoutError, ConnectionError, OSError):
        await asyncio.wait_for(aw, timeout)


async def run(argv: list[str] | None = None, **inject: Any) -> int:
    """The CLI as a coroutine: parse flags, dispatch to the subcommand, return the exit code.

    ``inject`` (tests only): ``connect_fn`` and ``Console`` factories handed to the interactive loop."""
    args = build_parser().parse_args(argv)
    restore_logging = configure_logging(args.debug, printer())
    try:
        return await _dispatch(args, inject)
    finally:
        restore_logging()


async def _dispatch(args: argparse.Namespace, inject: dict[str, Any]) -> int:
    if args.command == BENCH:  # flags before `bench`: its main() runs its own loop, so it can't run in ours
        print("error: bench must come first: breakout-kit bench [ARGS...]", file=sys.stderr, flush=True)
        return 2
    if args.command:
        module = SUBCOMMANDS[args.command][0]()
        try:
            return await module.main(args)
        except Exception as exc:  # noqa: BLE001  (UI boundary: one error line, traceback only with --debug)
            if args.debug:
                traceback.print_exc()
            print(error_line(exc), file=sys.stderr, flush=True)
            return 1
    return await interactive(args, **inject)


def run_bench(argv: list[str], bench_main: Callable[[list[str]], Any] | None = None) -> int:
    """``breakout-kit bench ARGS``: ``breakout_kit.bench.main.main(argv)``'s exit code (imported only then).

    Runs outside any event loop (the benchmark may start its own). ``bench_main`` replaces it (tests).
    """
    if bench_main is None:
        # bench sits above cli in the layers (it measures the CLI's pieces): a lazy import, the one sanctioned
        # upward edge (architecture.md), so nothing of bench loads for the command loop
        from breakout_kit.bench.main import main as bench_main
    result = bench_main(list(argv))
    if inspect.isawaitable(result):  # tolerate an async main(argv)
        result = asyncio.run(result)
    return int(result or 0)


def main(argv: list[str] | None = None, *, bench_main: Callable[[list[str]], Any] | None = None) -> int:
    """Console-script entry: ``asyncio.run(run())``; exits with its code. ``bench ...`` goes to ``run_bench``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [BENCH]:
        raise SystemExit(run_bench(argv[1:], bench_main))
    try:
        code = asyncio.run(run(argv))
    except KeyboardInterrupt:  # only before our handlers are installed (during start-up)
        code = EXIT_SIGINT
    sys.stdout.flush()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
