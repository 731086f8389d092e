"""The panel under JupyterLab's "comms over subshells": handlers on other threads only hand events to the loop.

JupyterLab >= 4.4 with ipykernel 7 delivers widget messages (clicks, value syncs) on a kernel subshell thread. These
tests call the handlers from a plain thread while the loop is blocked, so anything a handler did itself shows up
before the loop runs again.
"""

from __future__ import annotations

import asyncio
import threading
from typing import ClassVar

import pytest
from nb_fakes import FakeClient, FakeWatcher

from breakout_kit.notebook import ControlPanel
from breakout_kit.notebook.errors import ErrorLog


class ThreadNotingWatcher(FakeWatcher):
    """A fake watcher that remembers on which thread it was made."""

    made_on: ClassVar[list[int]] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ThreadNotingWatcher.made_on.append(threading.get_ident())


class Client(FakeClient):
    """Just enough of IBClient for the panel; notes the thread of every IB call."""

    def __init__(self):
        super().__init__()
        self.threads: list[int] = []

    async def qualify(self, symbol):
        self.threads.append(threading.get_ident())
        asyncio.get_running_loop()  # what ib_insync needs: a running loop in this thread
        if symbol == "NOPE":
            raise ValueError(f"unknown symbol {symbol}")

    async def matching_symbols(self, pattern):
        self.threads.append(threading.get_ident())
        asyncio.get_running_loop()
        return [s for s in ("AMZN", "AAPL") if s.startswith(pattern.upper())]


def on_thread(fn) -> None:
    """Run ``fn`` on another thread and wait for it, blocking the loop meanwhile (as a busy subshell would)."""
    errors = []

    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below on the test's thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    assert not t.is_alive()
    if errors:
        raise errors[0]


def widgets_changed_on(panel) -> list[int]:
    """Threads on which any panel widget the kernel updates changes (filled as it happens)."""
    threads: list[int] = []
    for w in (panel.table, panel.status, panel.errors.view, panel.charts_box):
        w.observe(lambda _c: threads.append(threading.get_ident()))
    panel.symbol.observe(lambda _c: threads.append(threading.get_ident()), names="options")
    return threads


async def test_handlers_on_another_thread_only_hand_the_event_to_the_loop():
    ThreadNotingWatcher.made_on.clear()
    client = Client()
    panel = ControlPanel(client, watcher_factory=ThreadNotingWatcher, throttle=0.05)
    changed = widgets_changed_on(panel)

    def browser_events():  # what a subshell thread delivers: a value sync, clicks
        panel.symbol.value = "A"
        panel.symbol.submit("start", "amzn")
        panel.stop_all_button.click()
        panel.errors.clear_button.click()

    on_thread(browser_events)
    # The handlers returned without acting: no IB call, no watcher, no widget update, no error.
    assert client.threads == [] and ThreadNotingWatcher.made_on == [] and panel.watchers == {}
    assert changed == [] and panel.errors.entries == []
    await panel.settle()
    await asyncio.wait_for(panel._suggest_task, 5)  # the symbol suggestion (debounced)
    assert list(panel.watchers) == ["AMZN"]
    main = threading.get_ident()
    assert set(client.threads) == {main} and ThreadNotingWatcher.made_on == [main]
    assert changed and set(changed) == {main}
    assert "AMZN" in panel.symbol.options and "AAPL" in panel.symbol.options  # the suggestion arrived
    assert panel.errors.entries == []  # no "There is no current event loop in thread ..."
    await panel.aclose()


async def test_start_acts_on_the_text_sent_with_the_click_not_the_last_value_sync():
    panel = ControlPanel(Client(), watcher_factory=FakeWatcher, throttle=0.05)
    panel.symbol.value = "A"  # the box's last value sync: the first keystroke of "AMZN"
    # The browser sends the click with what the box shows ({"event": "start", "value": ...}); Enter sends the same.
    on_thread(lambda: panel.symbol._handle_custom_msg({"event": "start", "value": "AMZN"}, []))
    await panel.settle()
    assert list(panel.watchers) == ["AMZN"] and panel.errors.entries == []
    on_thread(lambda: panel.symbol._handle_custom_msg({"event": "stop", "value": "AMZN"}, []))
    await panel.settle()
    await asyncio.wait_for(panel.watchers["AMZN"]._task, 5)
    assert panel.watchers["AMZN"].state == "stopped"
    await panel.aclose()


async def test_restart_of_one_symbol_touches_no_other_chart():
    panel = ControlPanel(watcher_factory=FakeWatcher, throttle=0.05)
    for symbol in ("AAA", "BBB", "CCC"):
        panel.start(symbol)
    slots = list(panel.charts_box.children)
    shown = [slot.children for slot in slots]
    box_changes = []
    panel.charts_box.observe(box_changes.append, names="children")
    for slot in (slots[0], slots[2]):
        slot.observe(box_changes.append, names="children")
    old_bbb = panel.charts["BBB"]
    panel.stop("BBB")
    await asyncio.wait_for(panel.watchers["BBB"]._task, 5)
    panel.start("BBB")
    assert box_changes == []  # neither the list of charts nor another symbol's slot changed
    assert list(panel.charts_box.children) == slots
    assert slots[0].children == shown[0] and slots[2].children == shown[2]
    assert slots[1].children == (panel.charts["BBB"].widget,) and panel.charts["BBB"] is not old_bbb
    panel.start("DDD")  # a new symbol is appended: the views before it stay
    assert list(panel.charts_box.children)[:3] == slots and len(panel.charts_box.children) == 4
    await panel.aclose()


def test_error_log_newest_first_folded_bounded_and_clearable():
    log = ErrorLog(limit=50)
    for i in range(60):
        try:
            raise RuntimeError(f"boom {i}\nsecond line")
        except RuntimeError as exc:
            log.report(exc, "watcher X")
    log.report(ValueError("enter a symbol first"), "start")
    entries = log.entries
    assert len(entries) == 50 and log.dropped == 11
    assert entries[0].line == "start: ValueError: enter a symbol first" and entries[0].traceback == ""
    assert entries[1].line == "watcher X: RuntimeError: boom 59"  # one line, newest first
    assert "Traceback" in entries[1].traceback
    html = log.view.value
    assert html.index("enter a symbol first") < html.index("boom 59") < html.index("boom 58")
    assert html.count("<details") == 49 and "11 older dropped" in log.header.value
    log.clear_button.click()  # outside a panel the button is wired by the panel; clear() is the action
    log.clear()
    assert log.entries == [] and "boom" not in log.view.value and log.clear_button.disabled


def test_status_line_turns_to_kernel_gone_in_the_browser():
    panel = ControlPanel(Client(), watcher_factory=FakeWatcher)
    # The old panel's views get this class when the kernel restarts; the CSS then hides the connected text.
    assert "bk-status" in panel.status._dom_classes
    assert ".bk-status.jupyter-widgets-disconnected .bk-live{display:none}" in panel.status.value
    assert "class='bk-live'" in panel.status.value and "kernel gone" in panel.status.value
    assert "DU***4567" in panel.status.value and "1234567" not in panel.status.value


@pytest.mark.parametrize("action", ["start", "stop"])
def test_entry_rejects_unknown_actions_and_passes_the_text(action):
    from breakout_kit.notebook.entry import SymbolEntry

    seen = []
    entry = SymbolEntry()
    entry.on_action(lambda a, t: seen.append((a, t)))
    entry._handle_custom_msg({"event": action, "value": "MSFT"}, [])
    entry._handle_custom_msg({"event": "explode", "value": "MSFT"}, [])  # ignored
    assert seen == [(action, "MSFT")]
    with pytest.raises(ValueError, match="action"):
        entry.submit("explode", "X")


async def test_table_says_when_a_chart_view_falls_behind():
    import ipywidgets as W

    from breakout_kit.client.events import Event

    class LaggingChart:  # the chart interface the panel uses: widget, stale, lag_s, stale_event, close, flush
        def __init__(self, watcher, **_kwargs):
            self.widget, self.stale, self.lag_s = W.HTML(), False, 0.0
            self.stale_event = Event("stale_event")

        def close(self):
            pass

        def flush(self):
            pass

    panel = ControlPanel(watcher_factory=FakeWatcher)
    panel.chart_class = LaggingChart
    panel.start("AAA")
    chart = panel.charts["AAA"]
    assert "behind" not in panel.table.value
    chart.stale, chart.lag_s = True, 4.2
    chart.stale_event.emit(chart, True)
    assert "4 s behind" in panel.table.value
    chart.stale = False
    chart.stale_event.emit(chart, False)
    assert "behind" not in panel.table.value
    await panel.aclose()
