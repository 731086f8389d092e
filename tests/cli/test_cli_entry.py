"""Entry-point plumbing in-process: the lazy `bench` hand-off, flag parsing, embedded-vs-remote choice."""

from __future__ import annotations

import pytest

from breakout_kit import cli


def test_bench_hands_the_rest_of_argv_to_bench_main():
    seen = []
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", "--bars", "1000", "-q"], bench_main=lambda argv: seen.append(argv) or 3)
    assert exit_.value.code == 3 and seen == [["--bars", "1000", "-q"]]


def test_bench_accepts_an_async_main():
    async def amain(argv):
        return len(argv)
    assert cli.run_bench(["a", "b"], amain) == 2


def test_bench_after_flags_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--debug", "bench", "x"])
    assert exit_.value.code == 2 and "bench must come first" in capsys.readouterr().err


@pytest.mark.parametrize("argv,env,embedded", [
    ([], {}, True),
    (["--port", "4002"], {}, False),
    ([], {"IB_PORT": "4002"}, False),
    (["--sim"], {"IB_PORT": "4002"}, True),
])
def test_embedded_gateway_only_without_a_port(monkeypatch, argv, env, embedded):
    monkeypatch.delenv("IB_PORT", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert cli.wants_embedded(cli.build_parser().parse_args(argv)) is embedded


def test_common_flags_after_the_subcommand():
    args = cli.build_parser().parse_args(["demo", "--seed", "7", "--speed", "900", "--symbols", "AAPL"])
    assert (args.command, args.seed, args.speed, args.symbols) == ("demo", 7, 900.0, "AAPL")
    args = cli.build_parser().parse_args(["--seed", "5", "demo"])
    assert args.seed == 5


def test_connection_changes_are_one_line_each_and_unhook():
    from types import SimpleNamespace

    from breakout_kit.client.iblib import Event

    client = SimpleNamespace(state_event=Event("state"))
    lines: list[str] = []
    unhook = cli._report_connection_changes(client, lines.append)
    for state in ("connected", "reconnecting", "connecting", "reconnecting", "connected"):
        client.state_event.emit(state)
    assert lines == ["connection lost (reconnecting)", "connection restored"]
    unhook()
    client.state_event.emit("disconnected")  # our own shutdown: silent
    assert len(lines) == 2


def test_naive_start_is_new_york():
    args = cli.build_parser().parse_args(["--start", "2026-11-23T09:30"])
    assert args.start.utcoffset().total_seconds() == -5 * 3600


def test_kit_warnings_become_one_line_and_gateway_chatter_is_quiet():
    import logging

    lines: list[str] = []
    kit, gateway = logging.getLogger("breakout_kit"), logging.getLogger("breakout_kit.gateway")
    before = (kit.handlers[:], kit.propagate, kit.level, gateway.level)
    restore = cli.configure_logging(False, lines.append)
    try:
        logging.getLogger("breakout_kit.watch.watcher").warning("bracket not placed: %s", "AAPL: trading\nis disabled")
        logging.getLogger("breakout_kit.gateway").warning("client 7 dropped")
        logging.getLogger("breakout_kit.watch.watcher").info("live")
        assert lines == ["warning: bracket not placed: AAPL: trading is disabled"]
    finally:
        restore()
    # what the CLI changed is undone (other code in the same process keeps its logging: caplog, notebooks)
    assert (kit.handlers[:], kit.propagate, kit.level, gateway.level) == before
