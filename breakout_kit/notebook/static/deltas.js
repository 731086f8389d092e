// The update protocol shared by LiveChart (livechart.js) and CanvasChart (canvaschart.js); the kernel side is
// StreamingChart._delta in breakout_kit/notebook/chart.py. Concatenated in front of each widget's module.
//
// kernel -> view: {type: "bk-full" | "bk-delta", seq, base, replace, n, window, markers, note, stopped} with the
// rows in one binary buffer: 8 float64 columns, column-major: time (wall-clock epoch ms), open, high, low, close,
// volume, upper, lower (NaN: no channel yet).
//   bk-full:  the whole window (a view (re)connects, the history was reloaded, an update was lost)
//   bk-delta: drop the last `replace` rows (a revised bar), append the n rows, add the new markers; it applies only
//             on top of update `base` (else the view asks for the whole window again)
//   markers: [[time ms, price, 1 (up) | 0 (down)], ...]
// view -> kernel: {type: "bk-hello"} (send me the window), {type: "bk-ack", seq} (drawn up to seq).
const BK_COLS = ["t", "o", "h", "l", "c", "v", "up", "lo"];

export function emptyState() {
  const cols = {};
  BK_COLS.forEach((k) => { cols[k] = []; });
  return { seq: null, cols, markers: [], note: "", stopped: false, window: 500, fulls: 0 };
}

function bkColumns(buffer, n) {
  if (!n || !buffer) return null;
  const view = buffer.buffer ? buffer : new DataView(buffer);
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();  // 8-byte aligned copy
  const all = new Float64Array(bytes.buffer);
  const out = {};
  BK_COLS.forEach((k, i) => { out[k] = all.subarray(i * n, (i + 1) * n); });
  return out;
}

// Applies one update to a view's state; returns false when it does not fit (the view needs the whole window).
export function apply(state, msg, buffer) {
  if (msg.type === "bk-full") {
    const fulls = state.fulls + 1;
    Object.assign(state, emptyState(), { fulls, window: msg.window || state.window });
  } else if (msg.type !== "bk-delta" || state.seq === null || msg.base !== state.seq) {
    return false;
  }
  const cols = state.cols;
  const rows = bkColumns(buffer, msg.n);
  if (msg.replace) BK_COLS.forEach((k) => cols[k].splice(cols[k].length - msg.replace, msg.replace));
  if (rows) BK_COLS.forEach((k) => { const col = cols[k], src = rows[k]; for (let i = 0; i < msg.n; i++) col.push(src[i]); });
  const extra = cols.t.length - state.window;
  if (extra > 0) BK_COLS.forEach((k) => cols[k].splice(0, extra));
  if (msg.markers && msg.markers.length) state.markers.push(...msg.markers);
  const first = cols.t.length ? cols.t[0] : Infinity;
  if (state.markers.length && state.markers[0][0] < first) state.markers = state.markers.filter((m) => m[0] >= first);
  state.seq = msg.seq;
  state.note = msg.note || "";
  state.stopped = !!msg.stopped;
  return true;
}
