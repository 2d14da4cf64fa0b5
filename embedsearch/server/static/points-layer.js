// The map's points layer: regl-scatterplot's draw command for its points, drawn only where it
// shows and, while the view moves, from a picture of itself.
//
// Software WebGL (SwiftShader, Chromium's WebGL where there is no GPU) pays for every vertex
// of a draw call, in view or not, then for every point in view. So:
// - only the runs of points in view are drawn (`pointRuns(total, box)`: the map keeps its
//   points in bands so that a view's points are a few runs of the plot's order);
// - with the picture on (the default), a frame whose view differs from the previous frame's
//   (the view is moving) draws the points into a picture a quarter of the view bigger on each
//   side, and the next moving frames show that picture moved and scaled (one textured pass,
//   whatever the number of points) as long as it covers the view and is enlarged 1.5x at most;
//   then a new picture is drawn. A frame whose view is the previous frame's (the map redraws
//   once a move ends; hovering, selecting) draws the points onto the screen as without the
//   picture: the map at rest is exact. While moving, the picture's points keep the size and
//   opacity of the view they were drawn for, scaled with it.
// Other layers (hovered and selected points, the lasso) are the library's own commands, drawn
// live on top in every frame.
//
//   const layer = createPointsLayer(regl, gl, {viewBox, pointRuns});
//   layer.command(spec);  // in place of regl(spec): the plot's points command is wrapped
//   layer.picture = false;  // every frame draws the points

const DRAW_MARGIN = 24;    // device pixels around the view whose points are drawn too (their discs reach in)
const PICTURE_MARGIN = 0.25;  // the picture's extent on each side beyond the view, a fraction of the view
const MAX_MAGNIFY = 1.5;   // how much a moving view may enlarge the picture before the points are redrawn
const TRANSPARENT = [0, 0, 0, 0];

export function createPointsLayer(regl, gl, {viewBox, pointRuns}) {
  const maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE);
  const framebuffer = regl.framebuffer({
    color: regl.texture({width: 1, height: 1, min: "linear", mag: "linear"}), depth: false, stencil: false});
  let shown = null;     // the picture: {box (map coordinates it covers), view (the view it was drawn for)}
  let lastView = null;  // the previous frame's view
  // counts: frames that drew the points onto the screen, into a new picture, or showed the
  // picture moved.
  const layer = {picture: true, counts: {drawn: 0, pictured: 0, moved: 0}, command,
                 invalidate() { shown = null; }};

  // The picture onto the screen: each screen pixel takes the picture's texel at the same place
  // on the map (u = x * mapping.x + mapping.y, v = y * mapping.z + mapping.w).
  const copy = regl({
    vert: `precision highp float; attribute vec2 corner;
      void main() { gl_Position = vec4(corner, 0.0, 1.0); }`,
    frag: `precision highp float; uniform sampler2D picture; uniform vec4 mapping;
      void main() {
        vec2 uv = gl_FragCoord.xy * mapping.xz + mapping.yw;
        if (uv.x < 0.0 || uv.x > 1.0 || uv.y < 0.0 || uv.y > 1.0) discard;
        gl_FragColor = texture2D(picture, uv);
      }`,
    attributes: {corner: [-1, -1, 1, -1, -1, 1, 1, 1]}, primitive: "triangle strip", count: 4,
    uniforms: {picture: framebuffer, mapping: regl.prop("mapping")},
    depth: {enable: false}, blend: {enable: false},
  });

  function command(spec) {
    if (spec.primitive !== "points" || !spec.uniforms || spec.uniforms.globalState !== 0) return regl(spec);
    const runsSpec = {...spec, offset: regl.prop("offset"), count: regl.prop("count")};
    const drawRuns = regl(runsSpec);
    // Into the picture: the projection squeezed so that the view fills its middle, and every
    // other uniform computed as for the screen (the plot's density opacity reads the viewport).
    const projection = spec.uniforms.modelViewProjection, scaled = new Float32Array(16);
    let squeeze = [1, 1];  // the view's share of the picture's width and height
    let screenViewport = {};
    const asOnScreen = (uniform) => (typeof uniform !== "function" ? uniform
      : (context, props) => uniform({...context, ...screenViewport}, props));
    const uniforms = Object.fromEntries(Object.entries(spec.uniforms).map(([name, uniform]) => [name, asOnScreen(uniform)]));
    const drawRunsIntoPicture = regl({...runsSpec, uniforms: {...uniforms,
      modelViewProjection: (context, props) => {
        scaled.set(typeof projection === "function" ? projection(context, props) : projection);
        for (const i of [0, 4, 8, 12]) scaled[i] *= squeeze[0];
        for (const i of [1, 5, 9, 13]) scaled[i] *= squeeze[1];
        return scaled;
      }}});

    return () => {
      const total = typeof spec.count === "function" ? spec.count() : spec.count;
      const view = viewBox(), width = gl.drawingBufferWidth, height = gl.drawingBufferHeight;
      const runsIn = (box) => (view && pointRuns(total, box)) || [{offset: 0, count: total}];
      const moving = view && lastView && !sameBox(view, lastView);
      lastView = view;
      const marginX = Math.round(PICTURE_MARGIN * width), marginY = Math.round(PICTURE_MARGIN * height);
      if (!moving || !layer.picture || Math.max(width + 2 * marginX, height + 2 * marginY) > maxSize) {
        shown = null;
        layer.counts.drawn++;
        return drawRuns(runsIn(view && widen(view, DRAW_MARGIN, DRAW_MARGIN, width, height)));
      }
      if (!shown || !covers(shown, view)) {
        framebuffer.resize(width + 2 * marginX, height + 2 * marginY);
        squeeze = [width / (width + 2 * marginX), height / (height + 2 * marginY)];
        screenViewport = {viewportWidth: width, viewportHeight: height, framebufferWidth: width,
                          framebufferHeight: height};
        framebuffer.use(() => {
          regl.clear({color: TRANSPARENT});
          drawRunsIntoPicture(runsIn(widen(view, marginX + DRAW_MARGIN, marginY + DRAW_MARGIN, width, height)));
        });
        shown = {box: widen(view, marginX, marginY, width, height), view};
        layer.counts.pictured++;
      } else {
        layer.counts.moved++;
      }
      const {box} = shown, boxWidth = box.x1 - box.x0, boxHeight = box.y1 - box.y0;
      copy({mapping: [(view.x1 - view.x0) / (width * boxWidth), (view.x0 - box.x0) / boxWidth,
                      (view.y1 - view.y0) / (height * boxHeight), (view.y0 - box.y0) / boxHeight]});
    };
  }

  return layer;
}

// The picture still serves view: it covers it, enlarged little enough.
function covers({box, view: drawnFor}, view) {
  return view.x0 >= box.x0 && view.x1 <= box.x1 && view.y0 >= box.y0 && view.y1 <= box.y1 &&
    (drawnFor.x1 - drawnFor.x0) <= MAX_MAGNIFY * (view.x1 - view.x0);
}

// box grown by marginX, marginY device pixels on each side (the view is width x height pixels).
function widen(box, marginX, marginY, width, height) {
  const dx = marginX * (box.x1 - box.x0) / width, dy = marginY * (box.y1 - box.y0) / height;
  return {x0: box.x0 - dx, x1: box.x1 + dx, y0: box.y0 - dy, y1: box.y1 + dy};
}

function sameBox(a, b) {
  return a.x0 === b.x0 && a.x1 === b.x1 && a.y0 === b.y0 && a.y1 === b.y1;
}
