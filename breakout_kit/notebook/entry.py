"""SymbolEntry: the panel's symbol box with its Start and Stop buttons, as one small front-end widget.

Why not an ipywidgets Text plus two Buttons: a button click is sent to the kernel at once, while the box's value
sync is held back by ipywidgets until the kernel acknowledged the previous sync of that box. Type "AMZN" and click
at once, and the kernel sees the click while the box still says "A". Here the front end sends the text it shows
*with* the click (or Enter), so the kernel acts on exactly what the person saw. The box's ``value`` is still synced
while typing (for symbol suggestions), but nothing that acts reads it.
"""

from __future__ import annotations

from collections.abc import Callable

import anywidget
import traitlets

ACTIONS = ("start", "stop")

_ESM = r"""
function render({ model, el }) {
  const row = document.createElement("div");
  row.className = "bk-entry";
  row.style.cssText = "display:flex;align-items:center;gap:4px;margin:2px 0";
  const label = document.createElement("label");
  label.textContent = "symbol";
  label.style.cssText = "font-size:var(--jp-widgets-font-size, 13px);margin-right:4px";
  const input = document.createElement("input");
  input.type = "text";
  input.className = "bk-symbol widget-input";
  input.autocomplete = "off";
  input.spellcheck = false;
  input.style.cssText = "width:190px;height:var(--jp-widgets-inline-height, 28px);box-sizing:border-box;" +
    "padding:0 6px;border:var(--jp-widgets-input-border-width, 1px) solid var(--jp-widgets-input-border-color, #9e9e9e)";
  const listId = "bk-symbols-" + Math.random().toString(36).slice(2);
  const list = document.createElement("datalist");
  list.id = listId;
  input.setAttribute("list", listId);
  const button = (text, cls, action) => {
    const b = document.createElement("button");
    b.className = "jupyter-widgets jupyter-button widget-button " + cls;
    b.textContent = text;
    b.dataset.action = action;
    b.addEventListener("click", () => act(action));
    return b;
  };
  const start = button("Start", "mod-success bk-start", "start");
  const stop = button("Stop", "mod-warning bk-stop", "stop");
  stop.title = "stop the watcher for the symbol in the box";
  label.htmlFor = input.id = listId + "-input";
  row.append(label, input, list, start, stop);
  el.appendChild(row);

  // The text travels with the action: the kernel must act on what the box shows now, not on its last sync.
  function act(action) {
    const text = input.value.trim();
    if (!text) return;
    model.send({ event: action, value: text });
  }
  function refreshButtons() {
    const empty = !input.value.trim();
    start.disabled = empty || model.get("disabled");
    stop.disabled = empty || model.get("disabled");
  }
  input.addEventListener("input", () => {
    refreshButtons();
    model.set("value", input.value);
    model.save_changes();  // for suggestions only
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); act("start"); }
  });
  const fromModel = () => {
    if (input.value !== model.get("value") && document.activeElement !== input) input.value = model.get("value");
    input.placeholder = model.get("placeholder");
    refreshButtons();
  };
  const fillOptions = () => {
    list.replaceChildren(...model.get("options").map((s) => { const o = document.createElement("option"); o.value = s; return o; }));
  };
  model.on("change:value", fromModel);
  model.on("change:placeholder", fromModel);
  model.on("change:disabled", refreshButtons);
  model.on("change:options", fillOptions);
  input.value = model.get("value");
  fillOptions();
  fromModel();
  return () => {
    model.off("change:value", fromModel);
    model.off("change:placeholder", fromModel);
    model.off("change:disabled", refreshButtons);
    model.off("change:options", fillOptions);
  };
}
export default { render };
"""


class SymbolEntry(anywidget.AnyWidget):
    """A symbol box with Start and Stop; a click (or Enter) reports the text the box shows at that moment.

    ``entry.on_action(callback)`` registers ``callback(action, text)`` (action "start" or "stop"). It is called
    on whatever thread delivers widget messages (a kernel subshell in JupyterLab >= 4.4), so it must only hand the
    event on. Start and Stop are disabled in the browser while the box is empty. ``entry.submit(action, text)`` does
    what a click does, for code and tests.
    """

    _esm = _ESM
    value = traitlets.Unicode("").tag(sync=True)
    options = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    placeholder = traitlets.Unicode("symbol, e.g. AAPL").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._callbacks: list[Callable[[str, str], None]] = []
        self.on_msg(self._on_front_end_msg)

    def on_action(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(action, text)`` on every Start / Stop click and every Enter in the box."""
        self._callbacks.append(callback)

    def submit(self, action: str, text: str | None = None) -> None:
        """Act as if ``action`` was clicked while the box showed ``text`` (default: the box's synced value)."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        for callback in list(self._callbacks):
            callback(action, self.value if text is None else text)

    def _on_front_end_msg(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("event") in ACTIONS:
            self.submit(content["event"], str(content.get("value", "")))
