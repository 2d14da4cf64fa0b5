// A renderer for regl-scatterplot that draws straight into the map's own canvas.
//
// The library's default renderer draws into a hidden canvas as big as the whole window
// (multisampled, its buffer preserved), into a float framebuffer, then copies a crop of it
// into the page's canvas through a 2-D context on every frame: with software WebGL, a fixed
// cost per frame of several full-window passes and a read-back. Drawing directly (one context,
// the map's size, no multisampling: points are smoothed by their own shader) gives the
// same picture for one pass over the points.
//
// The plot's points are drawn by points-layer.js (only those in view; while the view moves,
// from a picture of them): `viewBox()` gives the view in map coordinates ({x0, x1, y0, y1}, or
// null when unknown), `pointRuns(total, box)` the runs of points inside a box.
//
//   const renderer = createDirectRenderer(canvas, {viewBox, pointRuns});
//   createScatterplot({canvas, renderer, ...});  // the same canvas for both
import {createPointsLayer} from "./points-layer.js";

const EXTENSIONS = ["OES_texture_float", "OES_element_index_uint", "WEBGL_color_buffer_float",
                    "EXT_float_blend"];
const TRANSPARENT = {color: [0, 0, 0, 0], depth: 1};

export function createDirectRenderer(canvas, {viewBox = () => null, pointRuns = () => null} = {}) {
  const gl = canvas.getContext("webgl", {antialias: false, preserveDrawingBuffer: false,
                                         premultipliedAlpha: true});
  if (!gl) throw new Error("this browser cannot draw the map: WebGL is not available");
  const extensions = EXTENSIONS.filter((name) => gl.getExtension(name));
  const regl = window.createREGL({gl, extensions});
  const points = createPointsLayer(regl, gl, {viewBox, pointRuns});
  const commands = new Proxy(regl, {apply: (target, self, [spec]) => points.command(spec)});
  const drawers = new Set();
  const frame = regl.frame(() => { for (const drawFrame of drawers) drawFrame(); });
  let destroyed = false;
  return {
    get canvas() { return canvas; },
    get regl() { return commands; },
    points,
    gamma: 1,
    isSupported: extensions.length === EXTENSIONS.length,
    get isDestroyed() { return destroyed; },
    // The scatter plot sizes this canvas itself (it is also its target): nothing to copy.
    render(draw) {
      regl.clear(TRANSPARENT);
      draw();
    },
    resize() {},
    refresh() { regl.poll(); },
    onFrame(drawFrame) {
      drawers.add(drawFrame);
      return () => drawers.delete(drawFrame);
    },
    destroy() {
      destroyed = true;
      frame.cancel();
      regl.destroy();
    },
  };
}
