"""Connection supervision for ``IBClient``: connect (failing fast with a reason for each way a setup goes wrong),
the reconnect loop with backoff under the same clientId, TWS's connectivity notices (1100/1101/1102) and the states.

The supervisor owns the IB library's ``IB`` object; the other parts of the client (contracts, market data, orders,
account) reach TWS through it. Hooks registered with ``on_connect`` / ``on_reconnect`` run after the session is up
and before the state turns "connected" again, so a caller that waits for "connected" sees reconciled orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone

from breakout_kit.client.config import Settings, mask_account
from breakout_kit.client.errors import ConnectError
from breakout_kit.client.iblib import IB, Event

log = logging.getLogger("breakout_kit.client.ib_client")

STATES = ("disconnected", "connecting", "connected", "reconnecting", "closed")
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
CONNECTIVITY_LOST, RESTORED_DATA_LOST, RESTORED_DATA_KEPT = 1100, 1101, 1102
CLIENT_ID_IN_USE = 326
# TWS answers the handshake at once; a server that stays silent this long is not TWS's API port
HANDSHAKE_TIMEOUT = 3.0

Hook = Callable[[], Awaitable[object]]


class Supervisor:
    """One supervised IB session: the ``IB`` object, its state and events, connect / reconnect / disconnect."""

    def __init__(self, settings: Settings, *, timeout: float, reconnect: bool, reconnect_delays: Iterable[float],
                 throttle: bool) -> None:
        self.settings = settings
        self.timeout = float(timeout)
        self.reconnect = bool(reconnect)
        self.reconnect_delays = tuple(reconnect_delays) or RECONNECT_DELAYS
        self.ib = IB()
        if not throttle:
            self.ib.client.MaxRequests = 0       # the library's "no limit"
        self.state = "disconnected"
        #: emits the new state string on every change
        self.state_event = Event("state")
        #: emits () after a reconnect or error 1101: subscriptions are gone, re-request them and backfill the gap
        self.resubscribe_event = Event("resubscribe")
        #: emits ``(req_id, code, message)`` for every error or notice TWS sends
        self.error_event = Event("error")
        self.reconnects = 0
        self._closing = False
        self._reconnect_task: asyncio.Task | None = None
        self._on_close: list[Hook] = []
        self._on_connect: list[Hook] = []
        self._on_reconnect: list[Hook] = []
        self._account = ""
        self._server_version = 0
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.errorEvent += self._on_error

    host = property(lambda self: self.settings.host)
    port = property(lambda self: self.settings.port)
    client_id = property(lambda self: self.settings.client_id)
    readonly = property(lambda self: self.settings.readonly)

    @property
    def connected(self) -> bool:
        return self.ib.isConnected()

    @property
    def account(self) -> str:
        """The (first) managed account, e.g. ``DU1234567``; empty before the first connect."""
        accounts = self.ib.client.getAccounts() if self.ib.client.isReady() else []
        return accounts[0] if accounts else self._account

    def on_connect(self, hook: Hook) -> None:
        """Await ``hook()`` on every ``connect()``, before the state turns "connected"."""
        self._on_connect.append(hook)

    def on_reconnect(self, hook: Hook) -> None:
        """Await ``hook()`` after every automatic reconnect, before the state turns "connected"."""
        self._on_reconnect.append(hook)

    async def _run_hooks(self, hooks: list[Hook], what: str) -> None:
        for hook in hooks:
            try:
                await hook()
            except Exception as e:  # noqa: BLE001 -- a failed check must not stop the session; it is logged
                log.warning("after %s: %s", what, e)

    async def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` real seconds for the state "connected"; False if it is not by then (or closed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.state != "connected":
            left = deadline - loop.time()
            if left <= 0 or self.state in ("closed", "disconnected"):
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.state_event, left)
        return True

    async def connect(self) -> None:
        """Connect (``ib.connectAsync``); raises ``ConnectError`` with what to do when it can't."""
        if self.connected:
            return
        self._closing = False
        self._set_state("connecting")
        try:
            await self._connect_once()
        except BaseException:
            self._set_state("disconnected")
            raise
        await self._run_hooks(self._on_connect, "connect")
        self._set_state("connected")
        log.info("connected to %s:%d as clientId %d, account %s", self.host, self.port, self.client_id,
                 mask_account(self.account))

    async def _connect_once(self) -> None:
        """One connection attempt that fails fast, and says why, for each way a real setup goes wrong.

        TWS's error 326 (client id in use) and a hang-up during the handshake end the attempt at once instead of
        after the timeout; a port that accepts but never answers the handshake fails after ``HANDSHAKE_TIMEOUT``.
        """
        loop = asyncio.get_running_loop()
        refused: asyncio.Future[ConnectError] = loop.create_future()

        def fail(error: ConnectError) -> None:
            if not refused.done():
                refused.set_result(error)

        def on_error(req_id, code, msg, contract):
            if code == CLIENT_ID_IN_USE:
                fail(self._client_id_in_use())

        def on_api_error(msg: str) -> None:
            if "closed" in str(msg).lower() and not self.ib.client.isReady():
                fail(self._closed_during_handshake())

        self.ib.errorEvent += on_error
        self.ib.client.apiError += on_api_error
        attempt = loop.create_task(
            self.ib.connectAsync(self.host, self.port, clientId=self.client_id, timeout=self.timeout,
                                 readonly=self.readonly), name="ibclient-connect")
        try:
            done, _ = await asyncio.wait({attempt, refused}, timeout=min(self.timeout, HANDSHAKE_TIMEOUT),
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done and not self.ib.client.serverVersion():
                fail(self._silent_handshake(min(self.timeout, HANDSHAKE_TIMEOUT)))
            await asyncio.wait({attempt, refused}, return_when=asyncio.FIRST_COMPLETED)
            if refused.done():
                raise refused.result()
            attempt.result()
        except ConnectError:
            raise
        except asyncio.TimeoutError:  # before OSError: on Python >= 3.11 it is a subclass of it
            version = self.ib.client.serverVersion() or self.server_version
            raise ConnectError(
                f"{self.host}:{self.port} answered the API handshake (server version {version}) but did not start "
                f"the session within {self.timeout:g} s: check that TWS / IB Gateway is logged in and not waiting "
                f"on a dialog (e.g. one asking to accept the incoming API connection)") from None
        except ConnectionRefusedError:
            raise self._nothing_listening() from None
        except ConnectionError as e:  # e.g. "Socket connection broken while connecting"
            if refused.done():
                raise refused.result() from None
            raise self._closed_during_handshake() from e
        except OSError as e:
            if e.errno in (errno.ECONNREFUSED, 10061):
                raise self._nothing_listening() from None
            reason = e.strerror or str(e) or type(e).__name__
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {reason} (check the host name and "
                               f"that nothing blocks the port)") from None
        finally:
            self.ib.errorEvent -= on_error
            self.ib.client.apiError -= on_api_error
            if not attempt.done():
                attempt.cancel()        # its own cleanup disconnects the half-open socket
                with contextlib.suppress(BaseException):
                    await attempt
            elif not attempt.cancelled():
                attempt.exception()     # retrieved: the reason is reported above
        if not self.connected:     # the server hung up right after the handshake
            raise self._closed_during_handshake()
        self._account = self.account
        self._server_version = self.ib.client.serverVersion()

    def _nothing_listening(self) -> ConnectError:
        return ConnectError(
            f"nothing is listening on {self.host}:{self.port}: start TWS or IB Gateway with its API enabled and check "
            f"the socket port (TWS: Global Configuration > API > Settings, 'Enable ActiveX and Socket Clients'; "
            f"IB Gateway: Configure > Settings > API > Settings; "
            f"usual ports: TWS 7497 paper / 7496 live, IB Gateway 4002 paper / 4001 live), or use the embedded "
            f"paper gateway (no port, or python -m breakout_kit.gateway --port {self.port})")

    def _silent_handshake(self, waited: float) -> ConnectError:
        return ConnectError(
            f"{self.host}:{self.port} accepted the connection but did not answer the TWS API handshake within "
            f"{waited:g} s: is it the API port of TWS / IB Gateway? In TWS check Global Configuration > API > "
            f"Settings: 'Enable ActiveX and Socket Clients' ticked and the socket port; if TWS asks to accept the "
            f"incoming connection, accept it (or add this machine to 'Trusted IPs')")

    def _closed_during_handshake(self) -> ConnectError:
        return ConnectError(
            f"{self.host}:{self.port} closed the connection during the API handshake: in TWS / IB Gateway check "
            f"API > Settings ('Allow connections from localhost only', 'Trusted IPs') and that no other program "
            f"uses client id {self.client_id}")

    def _client_id_in_use(self) -> ConnectError:
        n = self.client_id + 1
        return ConnectError(f"clientId {self.client_id} is already in use on {self.host}:{self.port} (TWS error "
                            f"326): use another id, e.g. {n} (--client-id {n}, IB_CLIENT_ID={n} or "
                            f"IBClient(client_id={n})), or close the program connected as {self.client_id}")

    @property
    def server_version(self) -> int:
        """The TWS / IB Gateway API server version of the current (or last) connection; 0 before connecting."""
        return self.ib.client.serverVersion() or self._server_version

    async def server_time(self) -> datetime:
        """TWS's clock (``reqCurrentTime``), a UTC datetime (the embedded gateway's simulated clock)."""
        self.require_connection()
        t = await self.timed(self.ib.reqCurrentTimeAsync(), "current time")
        return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)

    def call_on_close(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Await ``callback()`` after the next ``disconnect()`` (``connect()`` stops its embedded gateway this way)."""
        self._on_close.append(callback)

    async def disconnect(self) -> None:
        """Disconnect and stop reconnecting (idempotent); then run the ``call_on_close`` callbacks."""
        self._closing = True
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.ib.isConnected() or self.ib.client.isReady():
            self.ib.disconnect()
        self._set_state("closed")
        callbacks, self._on_close = self._on_close, []
        for callback in reversed(callbacks):
            await callback()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_event.emit(state)

    def _on_disconnected(self) -> None:
        if self._closing or self.state in ("connecting", "closed", "disconnected"):
            return
        if not self.reconnect:
            log.warning("connection to %s:%d lost", self.host, self.port)
            self._set_state("disconnected")
            return
        log.warning("connection to %s:%d lost; reconnecting", self.host, self.port)
        self._set_state("reconnecting")
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop(),
                                                                          name="ibclient-reconnect")

    async def _reconnect_loop(self) -> None:
        attempt = 0
        while not self._closing:
            await asyncio.sleep(self.reconnect_delays[min(attempt, len(self.reconnect_delays) - 1)])  # backoff
            attempt += 1
            try:
                await self._connect_once()
            except ConnectError as e:
                log.info("reconnect attempt %d failed: %s", attempt, e)
                continue
            self.reconnects += 1
            log.warning("reconnected to %s:%d after %d attempt(s)", self.host, self.port, attempt)
            await self._run_hooks(self._on_reconnect, "reconnect")     # orders and fills agree with TWS first
            if not self.connected:          # dropped again while reconciling: keep knocking
                continue
            self._set_state("connected")
            self.resubscribe_event.emit()
            return

    def _on_error(self, req_id, code, msg, contract) -> None:
        self.error_event.emit(req_id, code, msg)
        if code == CONNECTIVITY_LOST:
            log.warning("TWS lost its connection to IB: %s", msg)
            self._set_state("reconnecting")
        elif code == RESTORED_DATA_LOST:
            log.warning("TWS connectivity restored, data lost: resubscribing")
            self._set_state("connected")
            self.resubscribe_event.emit()
        elif code == RESTORED_DATA_KEPT:
            log.info("TWS connectivity restored, data maintained")
            self._set_state("connected")

    async def timed(self, awaitable, what: str):
        """Await an IB request, turning silence into a clear TimeoutError instead of a hang."""
        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no answer to the {what} request from {self.host}:{self.port} "
                               f"within {self.timeout:g} s") from None

    def require_connection(self) -> None:
        if not self.connected:
            raise ConnectionError(f"not connected to {self.host}:{self.port} (state: {self.state})")


__all__ = ["CLIENT_ID_IN_USE", "HANDSHAKE_TIMEOUT", "RECONNECT_DELAYS", "STATES", "Supervisor"]
