/** Shared numerical functions (README.md here). Imports nothing. */
export { erfc, normalCdf, normalUpperTail } from './normal.ts';
export { chiSquare3Survival, chiSquare3Critical } from './chi-square.ts';
export { maximiseInteger } from './maximise.ts';
export { goldenSectionMin } from './golden.ts';
