"""ErrorLog: the panel's error area — newest first, one line per error, traceback folded, bounded, clearable."""

from __future__ import annotations

import html
import traceback
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone

import ipywidgets as W

# Input mistakes (a bad symbol, an empty box) are explained by their message; a traceback would only hide it.
_NO_TRACEBACK = (ValueError, TypeError, LookupError)


@dataclass(frozen=True)
class ErrorEntry:
    """One reported error: when (UTC), what failed, the one-line message and the traceback ("" for input errors)."""

    time: datetime
    line: str
    traceback: str


class ErrorLog(W.VBox):
    """Errors of a panel's handlers and background tasks, newest first; ``limit`` keeps only the latest ones.

    ``log.report(exc, what)`` adds one (call it on the kernel's loop); ``log.clear()``; ``log.entries`` (newest
    first); ``log.text()`` the one-line messages. Times are shown in ``tz`` (a ZoneInfo, default UTC).
    """

    def __init__(self, limit: int = 50, tz=None):
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit!r}")
        self.tz = tz
        self._entries: deque[ErrorEntry] = deque(maxlen=limit)
        self.dropped = 0
        self.view = W.HTML(layout=W.Layout(max_height="200px", overflow="auto"))
        self.view.add_class("bk-errors")
        self.clear_button = W.Button(description="Clear", tooltip="clear the errors",
                                     layout=W.Layout(width="70px", height="24px"))
        self.clear_button.add_class("bk-errors-clear")
        self.header = W.HTML()
        super().__init__([W.HBox([self.header, self.clear_button]), self.view])
        self._render()

    @property
    def entries(self) -> list[ErrorEntry]:
        """Reported errors still kept, newest first."""
        return list(reversed(self._entries))

    def text(self) -> str:
        """The one-line messages, newest first, one per line."""
        return "\n".join(e.line for e in self.entries)

    def report(self, exc: BaseException, what: str | None = None) -> None:
        """Add one error: ``what: Type: message``, with its traceback folded under it (none for input errors)."""
        line = f"{what + ': ' if what else ''}{type(exc).__name__}: {exc}".splitlines()[0]
        tb = ""
        if exc.__traceback__ is not None and not isinstance(exc, _NO_TRACEBACK):
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=6))
        if len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        self._entries.append(ErrorEntry(datetime.now(timezone.utc), line, tb))
        self._render()

    def clear(self) -> None:
        """Forget every error."""
        self._entries.clear()
        self.dropped = 0
        self._render()

    def _stamp(self, when: datetime) -> str:
        return (when.astimezone(self.tz) if self.tz is not None else when).strftime("%H:%M:%S")

    def _render(self) -> None:
        n = len(self._entries)
        older = f", {self.dropped} older dropped" if self.dropped else ""
        self.header.value = (f"<b>errors</b> ({n}{older})" if n else "<b>errors</b> <i>none</i>")
        self.clear_button.disabled = n == 0
        rows = []
        for e in self.entries:
            line = f"<code>{self._stamp(e.time)}</code> {html.escape(e.line)}"
            if e.traceback:
                rows.append(f"<details class='bk-error'><summary>{line}</summary>"
                            f"<pre style='margin:2px 0 4px 16px;font-size:11px'>{html.escape(e.traceback)}</pre>"
                            "</details>")
            else:
                rows.append(f"<div class='bk-error'>{line}</div>")
        self.view.value = "<div style='color:#b71c1c;font-size:12px'>" + "".join(rows) + "</div>"
