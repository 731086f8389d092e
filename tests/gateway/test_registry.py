"""The dispatch table is extensible: a module registers a handler and real clients reach it."""

import asyncio

import pytest

from breakout_kit.gateway import on_disconnect, register
from breakout_kit.gateway.wire.requests import DISCONNECT_HOOKS, HANDLERS

from .conftest import connect

pytestmark = pytest.mark.ib


async def test_registered_handler_and_disconnect_hook(gateway, client_id):
    seen, gone = [], asyncio.Event()

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
        HANDLERS.pop(104, None)
        DISCONNECT_HOOKS.remove(bye)


async def test_unknown_message_is_ignored(gateway, client_id):
    async with connect(gateway, client_id) as ib:
        ib.client.send(9999, 1, 2)
        assert await ib.reqCurrentTimeAsync()
        assert ib.isConnected()
