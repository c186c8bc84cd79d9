// A 3x5 bitmap font for tick labels (digits, ".", "-", "+", "e"): enough to number axes without
// a font file or a text renderer.
const GLYPHS: Record<string, string> = {
  "0": "111101101101111",
  "1": "010110010010111",
  "2": "111001111100111",
  "3": "111001111001111",
  "4": "101101111001001",
  "5": "111100111001111",
  "6": "111100111101111",
  "7": "111001001001001",
  "8": "111101111101111",
  "9": "111101111001111",
  ".": "000000000000010",
  "-": "000000111000000",
  "+": "000010111010000",
  e: "000111111100011",
};

/** Width of `text` in pixels at `scale` (3 pixels a glyph plus 1 of spacing). */
export function textWidth(text: string, scale: number): number {
  return text.length === 0 ? 0 : (text.length * 4 - 1) * scale;
}

/** Height of a line of text at `scale`. */
export function textHeight(scale: number): number {
  return 5 * scale;
}

/** Draws `text` with its top-left corner at (x, y); `set(x, y)` paints one pixel. */
export function drawText(
  text: string,
  x: number,
  y: number,
  scale: number,
  set: (x: number, y: number) => void,
): void {
  for (let c = 0; c < text.length; c++) {
    const glyph = GLYPHS[text[c]!];
    if (!glyph) continue;
    for (let k = 0; k < 15; k++) {
      if (glyph[k] !== "1") continue;
      const gx = x + (c * 4 + (k % 3)) * scale;
      const gy = y + Math.floor(k / 3) * scale;
      for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) set(gx + dx, gy + dy);
    }
  }
}
