// The sky coverage of a dataset: its NESTED HEALPix pixels drawn on a full-sky Mollweide map,
// plus a close-up of the covered region (small surveys cover a few pixels, invisible at full-sky
// scale). The HEALPix maths are the library's own (src/sky), tested against healpy.
import { ang2pixNumber, boundaries, pix2ang } from "../sky/healpix.ts";
import { h } from "./dom.ts";
import {
  MOLLWEIDE_HALF_HEIGHT,
  MOLLWEIDE_HALF_WIDTH,
  mollweideForward,
  mollweideInverse,
} from "./mollweide.ts";

const SKY_AREA_DEG2 = 41252.96124941928;
const FILL: [number, number, number] = [255, 170, 51];
const COLORS = {
  sky: "#0d1b2a",
  grid: "rgba(200, 215, 235, 0.35)",
  label: "#4a5a6e",
  fill: `rgb(${FILL.join(",")})`,
  edge: "#b35c00",
};

export interface Coverage {
  order: number;
  pixels: number[];
}

/** Area of the covered pixels in square degrees. */
export function coverageArea(c: Coverage): number {
  return (c.pixels.length * SKY_AREA_DEG2) / (12 * 4 ** c.order);
}

/**
 * A figure with the full-sky map and, when there is something to zoom on, the close-up. Call
 * `draw()` once the figure is in the document (the maps take the width the layout gives).
 */
export function coverageFigure(c: Coverage, name: string): { element: HTMLElement; draw(): void } {
  const n = c.pixels.length;
  const area = coverageArea(c);
  const summary = `${n} HEALPix pixel${n === 1 ? "" : "s"} at order ${c.order} (≈ ${area < 10 ? area.toFixed(2) : area.toFixed(0)} deg²)`;
  const sky = h("canvas", {
    className: "coverage-sky",
    role: "img",
    "aria-label": `Sky coverage of ${name} on a Mollweide projection of the whole sky: ${summary}`,
  });
  const close = h("canvas", {
    className: "coverage-zoom",
    role: "img",
    "aria-label": `Close-up of the covered region of ${name}`,
  });
  const figure = h(
    "figure",
    { className: "coverage" },
    h("div", { className: "coverage-maps" }, sky, n > 0 && n <= 20000 ? close : null),
    h(
      "figcaption",
      null,
      summary,
      ". Full sky (Mollweide, RA increasing to the left, centre RA 180°) and close-up (RA/Dec).",
    ),
  );
  return {
    element: figure,
    draw() {
      drawSky(sky, c);
      if (n > 0 && n <= 20000) drawCloseUp(close, c);
    },
  };
}

function sizeCanvas(canvas: HTMLCanvasElement, cssWidth: number, cssHeight: number) {
  const ratio = Math.min(2, window.devicePixelRatio || 1);
  canvas.width = Math.round(cssWidth * ratio);
  canvas.height = Math.round(cssHeight * ratio);
  canvas.style.width = `${cssWidth}px`;
  canvas.style.height = `${cssHeight}px`;
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, ratio };
}

/** Full-sky map: the covered pixels rasterised (every map pixel asks which HEALPix pixel it is in). */
export function drawSky(canvas: HTMLCanvasElement, c: Coverage): void {
  const cssWidth = Math.max(320, Math.min(720, canvas.parentElement?.clientWidth ?? 720));
  const cssHeight = Math.round(cssWidth / 2) + 20;
  const { ctx, ratio } = sizeCanvas(canvas, cssWidth, cssHeight);
  const pad = 24;
  const scale = (cssWidth / 2 - pad) / MOLLWEIDE_HALF_WIDTH;
  const cx = cssWidth / 2;
  const cy = (cssHeight - 16) / 2;
  // The map's geometry (CSS pixels), so a reader of the canvas can find a position on it.
  canvas.dataset.centreX = String(cx);
  canvas.dataset.centreY = String(cy);
  canvas.dataset.scale = String(scale);
  const toScreen = (ra: number, dec: number) => {
    const p = mollweideForward(ra, dec);
    return { x: cx + p.x * scale, y: cy - p.y * scale };
  };

  // Raster at an order fine enough for the map's resolution, from the pixels' ancestors.
  const rasterOrder = Math.min(c.order, 8);
  const shift = 4 ** (c.order - rasterOrder);
  const covered = new Set(c.pixels.map((p) => Math.floor(p / shift)));
  const W = canvas.width;
  const H = canvas.height;
  const image = ctx.createImageData(W, H);
  const sky = [13, 27, 42];
  for (let py = 0; py < H; py++) {
    const ym = (cy - (py + 0.5) / ratio) / scale;
    if (Math.abs(ym) > MOLLWEIDE_HALF_HEIGHT) continue;
    for (let px = 0; px < W; px++) {
      const xm = ((px + 0.5) / ratio - cx) / scale;
      const p = mollweideInverse(xm, ym);
      if (!p) continue;
      const hit = covered.has(ang2pixNumber(rasterOrder, p.ra, p.dec));
      const rgb = hit ? FILL : sky;
      const k = 4 * (py * W + px);
      image.data[k] = rgb[0];
      image.data[k + 1] = rgb[1];
      image.data[k + 2] = rgb[2];
      image.data[k + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);

  // Pixels smaller than a few map pixels could fall between samples: mark their centres too.
  const pixelDeg = Math.sqrt(SKY_AREA_DEG2 / (12 * 4 ** c.order));
  if (pixelDeg * scale * (Math.PI / 180) * 2 < 3) {
    ctx.fillStyle = COLORS.fill;
    for (const pix of c.pixels) {
      const centre = pix2ang(c.order, pix);
      const s = toScreen(centre.ra, centre.dec);
      ctx.fillRect(s.x - 1.5, s.y - 1.5, 3, 3);
    }
  }

  // Graticule: parallels every 30°, meridians every 30° of RA.
  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 1;
  for (let dec = -60; dec <= 60; dec += 30) {
    ctx.beginPath();
    for (let i = 0; i <= 360; i += 2) {
      const s = toScreen(i === 360 ? 180.0001 : (180 + i + 0.0001) % 360, dec);
      if (i === 0) ctx.moveTo(s.x, s.y);
      else ctx.lineTo(s.x, s.y);
    }
    ctx.stroke();
  }
  for (let ra = 0; ra < 360; ra += 30) {
    ctx.beginPath();
    for (let dec = -90; dec <= 90; dec += 2) {
      const s = toScreen(ra === 0 ? 359.9999 : ra, dec);
      if (dec === -90) ctx.moveTo(s.x, s.y);
      else ctx.lineTo(s.x, s.y);
    }
    ctx.stroke();
  }
  // The edge of the sky.
  ctx.strokeStyle = COLORS.label;
  ctx.beginPath();
  ctx.ellipse(
    cx,
    cy,
    MOLLWEIDE_HALF_WIDTH * scale,
    MOLLWEIDE_HALF_HEIGHT * scale,
    0,
    0,
    2 * Math.PI,
  );
  ctx.stroke();
  // RA labels under the equator, Dec labels on the left.
  ctx.fillStyle = "#e8eef5";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  for (let ra = 60; ra < 360; ra += 60) {
    const s = toScreen(ra, 0);
    ctx.fillText(`${ra}°`, s.x, s.y + 13);
  }
  ctx.fillStyle = COLORS.label;
  ctx.textAlign = "right";
  for (const dec of [-60, -30, 30, 60]) {
    const s = toScreen(359.99, dec);
    ctx.fillText(`${dec > 0 ? "+" : ""}${dec}°`, s.x - 4, s.y + 4);
  }
}

/**
 * Close-up: the covered pixels as polygons on an RA/Dec grid around them (RA to the left,
 * scaled by cos Dec so shapes are true near the centre).
 */
export function drawCloseUp(canvas: HTMLCanvasElement, c: Coverage): void {
  const cssWidth = Math.max(240, Math.min(360, canvas.parentElement?.clientWidth ?? 360));
  const cssHeight = cssWidth;
  const { ctx } = sizeCanvas(canvas, cssWidth, cssHeight);
  const step = c.pixels.length > 2000 ? 1 : 4;
  const polys = c.pixels.map((p) => boundaries(c.order, p, step));
  // Unwrap RA around the mean direction of the pixel centres, so a region across RA 0 is whole.
  let sx = 0;
  let sy = 0;
  for (const p of c.pixels) {
    const centre = pix2ang(c.order, p);
    sx += Math.cos((centre.ra * Math.PI) / 180);
    sy += Math.sin((centre.ra * Math.PI) / 180);
  }
  const ra0 = ((Math.atan2(sy, sx) * 180) / Math.PI + 360) % 360;
  const unwrap = (ra: number) => {
    let d = ra - ra0;
    if (d > 180) d -= 360;
    if (d < -180) d += 360;
    return d;
  };
  let minX = Infinity;
  let maxX = -Infinity;
  let minDec = Infinity;
  let maxDec = -Infinity;
  for (const poly of polys) {
    for (const v of poly) {
      const d = unwrap(v.ra);
      minX = Math.min(minX, d);
      maxX = Math.max(maxX, d);
      minDec = Math.min(minDec, v.dec);
      maxDec = Math.max(maxDec, v.dec);
    }
  }
  const dec0 = (minDec + maxDec) / 2;
  const cosDec = Math.max(0.05, Math.cos((dec0 * Math.PI) / 180));
  const spanX = (maxX - minX) * cosDec;
  const spanY = maxDec - minDec;
  const span = Math.max(spanX, spanY, 1e-6) * 1.25;
  const pad = 28;
  const scale = (cssWidth - 2 * pad) / span;
  const midX = (minX + maxX) / 2;
  const toScreen = (ra: number, dec: number) => ({
    x: cssWidth / 2 - (unwrap(ra) - midX) * cosDec * scale,
    y: cssHeight / 2 - (dec - dec0) * scale,
  });
  ctx.fillStyle = COLORS.sky;
  ctx.fillRect(0, 0, cssWidth, cssHeight);
  ctx.fillStyle = COLORS.fill;
  ctx.strokeStyle = COLORS.edge;
  ctx.lineWidth = 1;
  for (const poly of polys) {
    ctx.beginPath();
    poly.forEach((v, i) => {
      const s = toScreen(v.ra, v.dec);
      if (i === 0) ctx.moveTo(s.x, s.y);
      else ctx.lineTo(s.x, s.y);
    });
    ctx.closePath();
    ctx.fill();
    if (polys.length <= 5000) ctx.stroke();
  }
  // Extent labels: the RA and Dec at the frame's edges.
  const half = span / 2;
  ctx.fillStyle = "#e8eef5";
  ctx.font = "11px system-ui, sans-serif";
  const raLeft = (ra0 + midX + half / cosDec + 360) % 360;
  const raRight = (ra0 + midX - half / cosDec + 360) % 360;
  ctx.textAlign = "left";
  ctx.fillText(`RA ${raLeft.toFixed(2)}°`, 4, cssHeight - 6);
  ctx.textAlign = "right";
  ctx.fillText(`RA ${raRight.toFixed(2)}°`, cssWidth - 4, cssHeight - 6);
  ctx.textAlign = "left";
  ctx.fillText(`Dec ${(dec0 + half).toFixed(2)}°`, 4, 14);
  ctx.fillText(`Dec ${(dec0 - half).toFixed(2)}°`, 4, cssHeight - 20);
}
