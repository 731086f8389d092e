// Runs breakout_kit/notebook/static/livechart.js in node with a fake DOM, a fake Plotly and fake models.
// argv: the view's module, and optionally the library's (plotly-loader.js, the bus).
// stdin: {"spec": ..., "window": n, "messages": [[content, base64 buffer], ...], "views": how many views (1),
//         "drawMs": how long a fake draw takes on the page's clock (0), "openingBefore" / "initializedBefore": index
//         of the message before which the kernel announces the widget "NEW" through the bus / it is initialized};
// stdout: what the views did (draws with their frame and message index).
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const frames = [];
let frame = 0;  // animation frames run so far
let clock = 0;  // the page's clock (performance.now()): only a draw moves it
performance.now = () => clock;
globalThis.requestAnimationFrame = (fn) => frames.push(fn);
const flushFrames = async () => {
  for (let k = 0; k < 20; k++) {
    await new Promise((r) => setTimeout(r, 0));
    const now = frames.splice(0);
    if (now.length) frame += 1;
    now.forEach((fn) => fn());
  }
};
let message = -1;  // index of the message being drawn
class Node_ {
  constructor() { this.children = []; this.dataset = {}; this.style = {}; this.clientWidth = 300; }
  appendChild(c) { this.children.push(c); }
  remove() {}
}
globalThis.ResizeObserver = class { observe() {} disconnect() {} };
globalThis.document = { createElement: () => new Node_() };
const draws = [];
globalThis.Plotly = {
  react: async (gd, data, layout) => {
    if (input.broken) throw new Error("plotly failed");
    clock += input.drawMs || 0;
    draws.push({ frame, message,  n: data[0].x.length, last: data[0].x[data[0].x.length - 1], close: data[0].close.slice(-1)[0],
                 up: data[3].x.length, rangebreaks: layout.xaxis.rangebreaks || [], title: layout.title.text });
  },
  newPlot: async (gd, data, layout) => globalThis.Plotly.react(gd, data, layout),
  purge: () => {},
};
const { default: widget, apply, sessionBreaks } = await import(process.argv[2]);

const sent = [];
const keys = Array.from({ length: input.views || 1 }, (_, i) => (i ? `K${i}` : "K"));
const modelOf = (key) => ({
  get: (k) => ({ spec: input.spec, window: input.window, breaks: true, symbol: "X", key, library_key: "L" })[k],
  send: (m) => sent.push(m),
  on: () => {},
  off: () => {},
});
// The library's bus (plotly-loader.js): acknowledgements come back through it, batched per frame.
globalThis.__bkPlotlyBus = new Map([["L", { send: (m) => m.acks.forEach(([key, seq]) => sent.push({ type: "bk-ack", key, seq })) }]]);
let toLibrary = null;  // the library's handler of the kernel's custom messages
if (process.argv[3]) {
  const { default: library } = await import(process.argv[3]);
  library.initialize({ model: { get: (k) => ({ key: "LIB" })[k], on: (_event, fn) => { toLibrary = fn; }, off: () => {} } });
}
globalThis.__bkPlotly = globalThis.__bkPlotly || Promise.resolve(globalThis.Plotly);  // the library resolves its own
const cleanups = keys.map((key) => widget.render({ model: modelOf(key), el: new Node_() }));
await flushFrames();
const helloFirst = sent.length === keys.length && sent.every((m) => m.type === "bk-hello");
for (const [i, [content, b64]] of input.messages.entries()) {
  if (i === input.openingBefore) toLibrary({ type: "bk-opening", key: "NEW" }, []);
  if (i === input.initializedBefore) widget.initialize?.({ model: modelOf("NEW") });
  message = i;
  const buf = Buffer.from(b64, "base64");
  const view = new DataView(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  keys.forEach((key) => (globalThis.__bkPlotlyViews.get(key) || []).forEach((fn) => fn(content, view)));
  await flushFrames();
}
cleanups.forEach((cleanup) => cleanup());
const state = { seq: null, cols: { t: [], o: [], h: [], l: [], c: [], v: [], up: [], lo: [] }, markers: [] };
process.stdout.write(JSON.stringify({
  helloFirst, sent, draws,
  breaks: sessionBreaks([0, 60e3, 120e3, 180e3, 86400e3, 86460e3]),
  stale: apply(state, { type: "bk-delta", seq: 2, base: 1, n: 0 }, [], 10),
}));
