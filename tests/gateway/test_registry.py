"""The dispatch table is extensible: a module replaces a handler and real clients reach it."""

import asyncio

import pytest

from breakout_kit.gateway import on_disconnect, register
from breakout_kit.gateway.wire.requests import DISCONNECT_HOOKS, HANDLERS

from .conftest import collect_errors, connect

pytestmark = pytest.mark.ib


async def test_registered_handler_and_disconnect_hook(gateway, client_id):
    seen, gone = [], asyncio.Event()
    table_entry = HANDLERS[104]

    @register(104)                       # reqUserInfo(reqId) -> userInfo (107)
    def user_info(session, f):
        req_id = f.int()
        seen.append((session.client_id, req_id))
        session.send(107, req_id, "branding-x")

    @on_disconnect
    def bye(session):
        gone.set()

    try:
        async with connect(gateway, client_id) as ib:
            await asyncio.wait_for(ib.reqUserInfoAsync(), 5)
            assert seen and seen[0][0] == client_id
        await asyncio.wait_for(gone.wait(), 5)
    finally:
        HANDLERS[104] = table_entry
        DISCONNECT_HOOKS.remove(bye)


async def test_unknown_message_gets_320_and_the_connection_lives(gateway, client_id):
    async with connect(gateway, client_id) as ib:
        errors = collect_errors(ib)
        ib.client.send(9999, 1, 2)
        assert await ib.reqCurrentTimeAsync()
        assert ib.isConnected()
        assert [(req_id, code) for req_id, code, _ in errors] == [(-1, 320)]


async def test_a_handler_that_fails_answers_322_and_the_connection_lives(gateway, client_id, caplog):
    table_entry = HANDLERS[104]

    @register(104)                       # reqUserInfo(reqId)
    def broken(session, f):
        f.int()
        raise RuntimeError("boom")

    try:
        async with connect(gateway, client_id) as ib:
            errors = collect_errors(ib)
            ib.client.reqUserInfo(77)
            assert await ib.reqCurrentTimeAsync()
            assert ib.isConnected()
            assert [(req_id, code) for req_id, code, _ in errors] == [(77, 322)]
    finally:
        HANDLERS[104] = table_entry
    assert any("boom" in (r.exc_text or "") or "failed" in r.getMessage() for r in caplog.records)
