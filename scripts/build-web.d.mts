// Types of scripts/build-web.mjs for the TypeScript callers (the browser tests).

/** Writes the viewer (index.html, app.js, app.css and maps) into `outDir` (default dist/web). */
export function buildWeb(options?: { outDir?: string; minify?: boolean }): Promise<string[]>;
