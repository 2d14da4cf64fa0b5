// The map's points in bands: sorted from the bottom of the map to the top into bands of equal
// count, and within each band from left to right, so that the points in any view are a few
// contiguous runs of the plot's order (one per band the view crosses) and only those are drawn.
//
// Software WebGL (SwiftShader, Chromium's WebGL where there is no GPU) pays for every vertex
// of a draw call, in view or not, and shades a call's points in batches: a batch whose points
// share a few rows of pixels costs it much less than one scattered over the map. Bands keep
// both: each band is a thin strip, and a view's runs skip the points outside it.
//
//   const bands = pointBands(xs, ys);            // bands.order[point] = index into xs, ys
//   runsInView(bands, {x0: -0.2, x1: 0.1, y0: 0, y1: 0.3});  // [{offset, count}, ...]

const BAND_POINTS = 1024;  // points in a band: ~100 bands for 100,000 points
const RUN_GAP = 256;       // two runs closer than this many points are drawn as one call

export function pointBands(xs, ys) {
  const count = xs.length;
  const order = new Int32Array(count).map((_, i) => i).sort((a, b) => ys[a] - ys[b]);
  const bandCount = Math.ceil(count / BAND_POINTS);
  const start = new Int32Array(bandCount + 1), low = new Float64Array(bandCount),
        high = new Float64Array(bandCount);
  for (let band = 0; band < bandCount; band++) {
    const from = band * BAND_POINTS, to = Math.min(count, from + BAND_POINTS);
    start[band] = from;
    low[band] = ys[order[from]];
    high[band] = ys[order[to - 1]];
    order.subarray(from, to).sort((a, b) => xs[a] - xs[b]);
  }
  start[bandCount] = count;
  const x = Float64Array.from(order, (i) => xs[i]);
  return {count, order, start, low, high, x};
}

// The runs of points inside box (map coordinates, x0 < x1, y0 < y1) as regl props.
export function runsInView(bands, {x0, x1, y0, y1}) {
  const runs = [];
  for (let band = 0; band < bands.low.length; band++) {
    if (bands.high[band] < y0 || bands.low[band] > y1) continue;
    const first = firstAtLeast(bands.x, bands.start[band], bands.start[band + 1], x0);
    const end = firstAtLeast(bands.x, first, bands.start[band + 1], x1, true);
    if (end <= first) continue;
    const last = runs[runs.length - 1];
    if (last && first - (last.offset + last.count) < RUN_GAP) last.count = end - last.offset;
    else runs.push({offset: first, count: end - first});
  }
  return runs;
}

// The first index in [from, to) of sorted values at least value (above it, if past).
function firstAtLeast(values, from, to, value, past = false) {
  while (from < to) {
    const middle = (from + to) >> 1;
    if (values[middle] < value || (past && values[middle] === value)) from = middle + 1;
    else to = middle;
  }
  return from;
}
