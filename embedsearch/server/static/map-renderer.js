// A renderer for regl-scatterplot that draws straight into the map's own canvas.
//
// The library's default renderer draws into a hidden canvas as big as the whole window
// (multisampled, its buffer preserved), into a float framebuffer, then copies a crop of it
// into the page's canvas through a 2-D context on every frame: with software WebGL, a fixed
// cost per frame of several full-window passes and a read-back. Drawing directly (one context,
// the map's size, no multisampling: points are smoothed by their own shader) gives the
// same picture for one pass over the points.
//
// It can also draw only some runs of the plot's points: `pointRuns(total)` returns the runs
// ({offset, count}) of the points worth drawing in this frame (those in view), or null for all
// of them. The plot's draw command for its points is recognised among the commands it builds
// (points, global state 0: not the hovered or selected ones, drawn by commands of their own)
// and drawn run by run; every other command is the library's own.
//
//   const renderer = createDirectRenderer(canvas, {pointRuns: (total) => runsInView(...)});
//   createScatterplot({canvas, renderer, ...});  // the same canvas for both
const EXTENSIONS = ["OES_texture_float", "OES_element_index_uint", "WEBGL_color_buffer_float",
                    "EXT_float_blend"];
const TRANSPARENT = {color: [0, 0, 0, 0], depth: 1};

export function createDirectRenderer(canvas, {pointRuns = () => null} = {}) {
  const gl = canvas.getContext("webgl", {antialias: false, preserveDrawingBuffer: false,
                                         premultipliedAlpha: true});
  if (!gl) throw new Error("this browser cannot draw the map: WebGL is not available");
  const extensions = EXTENSIONS.filter((name) => gl.getExtension(name));
  const regl = window.createREGL({gl, extensions});
  const commands = new Proxy(regl, {apply: (target, self, [spec]) => command(regl, spec, pointRuns)});
  const drawers = new Set();
  const frame = regl.frame(() => { for (const drawFrame of drawers) drawFrame(); });
  let destroyed = false;
  return {
    get canvas() { return canvas; },
    get regl() { return commands; },
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

// A regl command of spec; the plot's points command draws only the runs pointRuns gives.
function command(regl, spec, pointRuns) {
  const draw = regl(spec);
  if (spec.primitive !== "points" || !spec.uniforms || spec.uniforms.globalState !== 0) return draw;
  const drawRuns = regl({...spec, offset: regl.prop("offset"), count: regl.prop("count")});
  return (...args) => {
    const runs = pointRuns(typeof spec.count === "function" ? spec.count() : spec.count);
    return runs ? drawRuns(runs) : draw(...args);
  };
}
