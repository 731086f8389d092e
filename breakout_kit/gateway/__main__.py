"""``python -m breakout_kit.gateway``: run the paper gateway until Ctrl-C / SIGTERM.

The first stdout line is ``paper gateway listening on HOST:PORT`` (with the real port when ``--port 0``).
``--faults SEED:COUNT[:KIND,...]`` runs a seeded fault plan (faults.FaultPlan) against whoever connects, one
``fault ...`` line per step on stdout; ``--fault-gap MIN:MAX`` sets the real seconds between steps and
``--fault-outage MIN:MAX`` how long each outage lasts (e.g. ``--faults 1:1:nightly_restart --fault-outage 60:180``).
``--state FILE`` keeps account, positions, orders, executions and the clock across restarts (state.py); an existing
file decides seed, start, account and cash (giving different ones is an error).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .faults import FaultPlan
from .server import PaperGateway, is_loopback
from .sim.state import read as read_state


def _mask(account: str) -> str:
    # the banner is a log line too: show only enough of the account to tell accounts apart
    return account[:2] + "***" + account[-4:] if len(account) > 6 else "***"


def _gap(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition(":")
    try:
        gap = (float(lo), float(hi or lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX real seconds like 0.5:2, got {text!r}") from None
    if not 0 <= gap[0] <= gap[1] < 3600:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX < 3600 seconds, got {text!r}")
    return gap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m breakout_kit.gateway",
                                description="Embedded paper gateway speaking the TWS socket protocol.")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (loopback unless --allow-remote)")
    p.add_argument("--port", type=int, default=7497, help="port (0 picks a free one); default 7497")
    p.add_argument("--seed", type=int, default=None, help="market seed (same seed + start = same prices; default 0)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--start", default=None,
                   help="simulated start, ISO (naive = New York); default: latest weekday 09:30 New York")
    p.add_argument("--pacing", choices=("strict", "off"), default="strict", help="historical pacing rules")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow binding a non-loopback interface (needs --trusted-ips): whoever connects can trade")
    p.add_argument("--trusted-ips", metavar="ADDR[,ADDR...]", default=None,
                   help="with --allow-remote: the addresses or networks (e.g. 192.168.1.0/24) that may connect, "
                        "like TWS's Trusted IPs; loopback is always trusted")
    p.add_argument("--max-message-rate", type=int, default=50, metavar="N",
                   help="requests per second one client may send, as TWS (50; beyond: error 100 and a hang-up); "
                        "0 = unlimited, for benchmarks that drive an unthrottled client")
    p.add_argument("--account", default=None, help="account id (DU... = paper; default DU1234567)")
    p.add_argument("--cash", type=float, default=None, help="starting cash in USD (default 1,000,000)")
    p.add_argument("--state", metavar="FILE", default=None,
                   help="keep account, positions, orders, executions and the clock in FILE across restarts")
    p.add_argument("--readonly-api", action="store_true",
                   help="behave like TWS with 'Read-Only API' ticked: every order is refused with error 321")
    p.add_argument("--faults", metavar="SEED:COUNT[:KINDS]", default=None,
                   help="inject COUNT seeded faults (drops, refusals, restarts, 1100/1101/1102) while serving; "
                        "KINDS: comma-separated fault kinds, e.g. nightly_restart")
    p.add_argument("--fault-gap", metavar="MIN:MAX", type=_gap, default=(1.0, 5.0),
                   help="real seconds between injected faults (default 1:5)")
    p.add_argument("--fault-outage", metavar="MIN:MAX", type=_gap, default=(0.05, 0.3),
                   help="real seconds each outage lasts (refusal, restart, 1100; default 0.05:0.3)")
    p.add_argument("--log-level", default="WARNING", help="logging level (DEBUG, INFO, ...)")
    return p.parse_args(argv)


def _check_state(args: argparse.Namespace) -> None:
    """An existing state file decides seed, start, account and cash: refuse flags that say otherwise."""
    saved = read_state(args.state) if args.state else None
    if saved is None:
        return
    for flag, given, kept in (("--seed", args.seed, saved["seed"]), ("--account", args.account, saved["accounts"][0]),
                              ("--cash", args.cash, saved["portfolio"]["initial_cash"])):
        if given is not None and given != kept:
            raise ValueError(f"{flag} {given} differs from the state file {args.state} ({kept}): drop {flag} or "
                             f"use another --state file")
    if args.start is not None:
        raise ValueError(f"--start: the state file {args.state} continues its own clock; drop --start or use "
                         "another --state file")


def _check_remote(args: argparse.Namespace) -> None:
    """Listening beyond loopback is opt-in twice, as in TWS: --allow-remote and an allow-list (--trusted-ips)."""
    if not is_loopback(args.host) and not args.allow_remote:
        raise ValueError(f"refusing to listen on non-loopback host {args.host}: anyone who reaches the port could "
                         "trade and read the account; pass --allow-remote --trusted-ips ADDR[,ADDR...] to allow it")
    if args.allow_remote and not args.trusted_ips:
        raise ValueError("--allow-remote needs --trusted-ips ADDR[,ADDR...]: the addresses or networks that may "
                         "connect (loopback is always trusted)")
    if args.trusted_ips and not args.allow_remote:
        raise ValueError("--trusted-ips only matters with --allow-remote (without it only loopback can connect)")


async def serve(args: argparse.Namespace) -> None:
    plan = (FaultPlan.parse(args.faults, gap=args.fault_gap, outage=args.fault_outage) if args.faults else None)
    _check_remote(args)
    _check_state(args)
    gw = PaperGateway(host=args.host, port=args.port, seed=0 if args.seed is None else args.seed, speed=args.speed,
                      start=args.start, pacing=args.pacing, allow_remote=args.allow_remote,
                      account=args.account or "DU1234567", cash=1_000_000.0 if args.cash is None else args.cash,
                      readonly_api=args.readonly_api, state=args.state, trusted_ips=args.trusted_ips,
                      max_message_rate=args.max_message_rate or None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with gw:
        print(f"paper gateway listening on {gw.host}:{gw.port}", flush=True)
        if gw.allow_remote:
            print(f"WARNING: listening on {gw.host} beyond loopback. Connections from "
                  f"{', '.join(map(str, gw.trusted_ips))} (and loopback) can place and cancel orders for every "
                  "client and read the account; others are refused and logged.", file=sys.stderr, flush=True)
        print(f"seed={gw.seed} speed={gw.clock.speed:g} start={gw.clock.start.isoformat()} "
              f"pacing={args.pacing} account={_mask(gw.account)} cash={gw.orders.portfolio.initial_cash:,.0f}"
              + (" read-only API" if args.readonly_api else ""), flush=True)
        if gw.state is not None:
            print(f"state {gw.state.path}: clock {gw.now().isoformat()}, {len(gw.orders)} orders "
                  f"({len(gw.orders.open_orders())} open), {len(gw.orders.executions)} executions", flush=True)
        if plan is not None:
            print(f"faults: {plan!r}", flush=True)
            gw.faults.script(plan, lambda i, line: print(f"fault {i + 1}/{len(plan)}: {line}", flush=True))
        await stop.wait()
    print("paper gateway stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except (ValueError, TypeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
