// Spectral lines marked on spectrum plots at their observed wavelength (1 + z) * rest.

/** A spectral line. */
export interface SpectralLine {
  /** Name as usually written: "Halpha", "[OIII]" ... (ASCII). */
  name: string;
  /** Rest wavelength in vacuum, Å. */
  rest: number;
  /** Seen in emission (galaxies, quasars) or absorption (stellar populations). */
  kind: "emission" | "absorption";
}

/**
 * Common optical and UV lines, rest wavelengths in vacuum (Å; the wavelength scale of SDSS,
 * BOSS, DESI and MaNGA spectra). Below 2000 Å there is no air value; above it the classical
 * air wavelengths (Halpha 6562.80, Hbeta 4861.33, [OIII] 5006.84 ...) convert to these with the
 * IAU air-vacuum formula (checked in test/render/lines.test.ts).
 */
export const SPECTRAL_LINES: readonly SpectralLine[] = [
  { name: "Lyalpha", rest: 1215.67, kind: "emission" },
  { name: "CIV", rest: 1548.2, kind: "emission" },
  { name: "CIV", rest: 1550.77, kind: "emission" },
  { name: "CIII]", rest: 1908.73, kind: "emission" },
  { name: "MgII", rest: 2796.35, kind: "emission" },
  { name: "MgII", rest: 2803.53, kind: "emission" },
  { name: "[OII]", rest: 3727.09, kind: "emission" },
  { name: "[OII]", rest: 3729.88, kind: "emission" },
  { name: "CaII K", rest: 3934.78, kind: "absorption" },
  { name: "CaII H", rest: 3969.59, kind: "absorption" },
  { name: "Hdelta", rest: 4102.89, kind: "emission" },
  { name: "Hgamma", rest: 4341.68, kind: "emission" },
  { name: "Hbeta", rest: 4862.68, kind: "emission" },
  { name: "[OIII]", rest: 4960.3, kind: "emission" },
  { name: "[OIII]", rest: 5008.24, kind: "emission" },
  { name: "MgI b", rest: 5176.7, kind: "absorption" },
  { name: "NaI D2", rest: 5891.58, kind: "absorption" },
  { name: "NaI D1", rest: 5897.56, kind: "absorption" },
  { name: "[NII]", rest: 6549.86, kind: "emission" },
  { name: "Halpha", rest: 6564.61, kind: "emission" },
  { name: "[NII]", rest: 6585.27, kind: "emission" },
  { name: "[SII]", rest: 6718.29, kind: "emission" },
  { name: "[SII]", rest: 6732.67, kind: "emission" },
];
