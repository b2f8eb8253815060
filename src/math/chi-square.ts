/**
 * The chi-square distribution with 3 degrees of freedom: its survival
 * function and its quantile (the critical value of a test at level alpha).
 */
import { erfc } from './normal.ts';

/** Survival function of chi-square with 3 degrees of freedom (A&S 26.4.5). */
export function chiSquare3Survival(x: number): number {
  if (x <= 0) return 1;
  return erfc(Math.sqrt(x / 2)) + Math.sqrt((2 * x) / Math.PI) * Math.exp(-x / 2);
}

/** The chi-square (3 dof) value exceeded with probability alpha (bisection). */
export function chiSquare3Critical(alpha: number): number {
  let lo = 0;
  let hi = 1;
  while (chiSquare3Survival(hi) > alpha) hi *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquare3Survival(mid) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}
