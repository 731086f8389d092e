// Runs breakout_kit/notebook/static/livechart.js in node with a fake DOM, a fake Plotly and a fake model.
// stdin: {"spec": ..., "window": n, "messages": [[content, base64 buffer], ...]}; stdout: what the view did.
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const frames = [];
globalThis.requestAnimationFrame = (fn) => frames.push(fn);
const flushFrames = async () => {
  for (let k = 0; k < 20; k++) {
    await new Promise((r) => setTimeout(r, 0));
    const now = frames.splice(0);
    now.forEach((fn) => fn());
  }
};
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
    draws.push({ n: data[0].x.length, last: data[0].x[data[0].x.length - 1], close: data[0].close.slice(-1)[0],
                 up: data[3].x.length, rangebreaks: layout.xaxis.rangebreaks || [], title: layout.title.text });
  },
  newPlot: async (gd, data, layout) => globalThis.Plotly.react(gd, data, layout),
  purge: () => {},
};
const { default: widget, apply, sessionBreaks } = await import(process.argv[2]);
globalThis.__bkPlotly = Promise.resolve(globalThis.Plotly);

const sent = [];
const model = {
  get: (k) => ({ spec: input.spec, window: input.window, breaks: true, symbol: "X", key: "K", library_key: "L" })[k],
  send: (m) => sent.push(m),
  on: () => {},
  off: () => {},
};
// The library's bus (plotly-loader.js): acknowledgements come back through it, batched per frame.
globalThis.__bkPlotlyBus = new Map([["L", { send: (m) => m.acks.forEach(([key, seq]) => sent.push({ type: "bk-ack", key, seq })) }]]);
const el = new Node_();
const cleanup = widget.render({ model, el });
await flushFrames();
const helloFirst = sent.length === 1 && sent[0].type === "bk-hello";
for (const [content, b64] of input.messages) {
  const buf = Buffer.from(b64, "base64");
  const view = new DataView(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  (globalThis.__bkPlotlyViews.get("K") || []).forEach((fn) => fn(content, view));
  await flushFrames();
}
cleanup();
const state = { seq: null, cols: { t: [], o: [], h: [], l: [], c: [], v: [], up: [], lo: [] }, markers: [] };
process.stdout.write(JSON.stringify({
  helloFirst, sent, draws,
  breaks: sessionBreaks([0, 60e3, 120e3, 180e3, 86400e3, 86460e3]),
  stale: apply(state, { type: "bk-delta", seq: 2, base: 1, n: 0 }, [], 10),
}));
