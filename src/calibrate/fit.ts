/**
 * Weighted least squares with uncertainties: ml-levenberg-marquardt finds the minimum of chi^2 = sum ((y_i - f(x_i;
 * p)) / sigma_i)^2, then the covariance of the parameters is the inverse of the Fisher matrix J^T W J at the minimum
 * (J the model's Jacobian by central differences, W = diag(1/sigma^2)), scaled by the reduced chi^2 when that exceeds
 * 1 (the data scatter more than their stated errors: the honest uncertainty is the larger one). More in README.md
 * (fit.ts).
 */
import { levenbergMarquardt } from 'ml-levenberg-marquardt';

export interface FitSpec<X> {
  /** Parameter names, in the order of `initial`. */
  names: readonly string[];
  xs: readonly X[];
  ys: readonly number[];
  /** One standard deviation of each y (must be > 0). */
  sigmas: readonly number[];
  model: (params: readonly number[], x: X) => number;
  initial: readonly number[];
  min?: readonly number[];
  max?: readonly number[];
  /** Finite-difference step per parameter, a small fraction of its scale. */
  steps: readonly number[];
  maxIterations?: number;
}

export interface FitResult {
  names: string[];
  values: number[];
  /** One standard deviation per parameter (sqrt of the covariance diagonal). */
  errors: number[];
  covariance: number[][];
  chi2: number;
  dof: number;
  iterations: number;
}

/** The value and uncertainty of one named parameter. */
export function param(fit: FitResult, name: string): { value: number; error: number } {
  const i = fit.names.indexOf(name);
  if (i < 0) throw new Error(`fit has no parameter '${name}'`);
  return { value: fit.values[i]!, error: fit.errors[i]! };
}

export function chiSquare<X>(spec: FitSpec<X>, params: readonly number[]): number {
  let chi2 = 0;
  for (let i = 0; i < spec.xs.length; i++) {
    const r = (spec.ys[i]! - spec.model(params, spec.xs[i]!)) / spec.sigmas[i]!;
    chi2 += r * r;
  }
  return chi2;
}

/** Inverse of a small symmetric positive matrix by Gauss-Jordan with partial pivoting; null when singular. */
export function invertMatrix(m: readonly (readonly number[])[]): number[][] | null {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    const scale = Math.max(...m.map((row) => Math.abs(row[col]!)), 1e-300);
    if (Math.abs(a[pivot]![col]!) <= 1e-14 * scale) return null;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const p = a[col]![col]!;
    for (let j = 0; j < 2 * n; j++) a[col]![j]! /= p;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r]![col]!;
      if (f === 0) continue;
      for (let j = 0; j < 2 * n; j++) a[r]![j]! -= f * a[col]![j]!;
    }
  }
  return a.map((row) => row.slice(n));
}

/** Jacobian d f(x_i; p) / d p_k by central differences. */
function jacobian<X>(spec: FitSpec<X>, params: readonly number[]): number[][] {
  return spec.xs.map((x) =>
    params.map((_, k) => {
      const h = spec.steps[k]!;
      const up = [...params];
      const down = [...params];
      up[k]! += h;
      down[k]! -= h;
      return (spec.model(up, x) - spec.model(down, x)) / (2 * h);
    }),
  );
}

/** Covariance of the parameters at `params` (Numerical Recipes Eq. 15.5.15), or null when degenerate. */
export function covarianceAt<X>(spec: FitSpec<X>, params: readonly number[]): number[][] | null {
  const j = jacobian(spec, params);
  const p = params.length;
  const fisher = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  for (let i = 0; i < j.length; i++) {
    const w = 1 / (spec.sigmas[i]! * spec.sigmas[i]!);
    for (let a = 0; a < p; a++) for (let b = 0; b < p; b++) fisher[a]![b]! += j[i]![a]! * j[i]![b]! * w;
  }
  return invertMatrix(fisher);
}

/** Solves the small linear system a x = b (a symmetric positive); null when singular. */
function solve(a: number[][], b: number[]): number[] | null {
  const inv = invertMatrix(a);
  return inv ? inv.map((row) => row.reduce((acc, v, j) => acc + v * b[j]!, 0)) : null;
}

function clampParams<X>(spec: FitSpec<X>, p: number[]): number[] {
  return p.map((v, k) => Math.min(spec.max?.[k] ?? Infinity, Math.max(spec.min?.[k] ?? -Infinity, v)));
}

/**
 * Levenberg-Marquardt with Marquardt's scaling and step rejection (Numerical
 * Recipes 3rd ed., section 15.5.2: solve (alpha + lambda diag alpha) delta = beta,
 * keep the step only if chi^2 falls, else raise lambda tenfold). Used to
 * finish the library's answer: ml-levenberg-marquardt 5.1 applies every step
 * whether or not it lowers chi^2 (it only remembers the best point seen), so
 * from a fair start it can wander off and never come back.
 */
export function refineFit<X>(spec: FitSpec<X>, start: readonly number[], maxIterations = 200): number[] {
  let p = clampParams(spec, [...start]);
  let chi2 = chiSquare(spec, p);
  let lambda = 1e-3;
  for (let it = 0; it < maxIterations && lambda < 1e12; it++) {
    const j = jacobian(spec, p);
    const n = p.length;
    const alpha = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    const beta = new Array<number>(n).fill(0);
    for (let i = 0; i < j.length; i++) {
      const w = 1 / (spec.sigmas[i]! * spec.sigmas[i]!);
      const r = spec.ys[i]! - spec.model(p, spec.xs[i]!);
      for (let a = 0; a < n; a++) {
        beta[a]! += j[i]![a]! * r * w;
        for (let b = 0; b < n; b++) alpha[a]![b]! += j[i]![a]! * j[i]![b]! * w;
      }
    }
    let improved = false;
    while (lambda < 1e12) {
      const damped = alpha.map((row, a) => row.map((v, b) => (a === b ? v * (1 + lambda) : v)));
      const delta = solve(damped, beta);
      if (!delta) {
        lambda *= 10;
        continue;
      }
      const trial = clampParams(
        spec,
        p.map((v, k) => v + delta[k]!),
      );
      const trialChi2 = chiSquare(spec, trial);
      if (Number.isFinite(trialChi2) && trialChi2 < chi2) {
        const gain = chi2 - trialChi2;
        p = trial;
        chi2 = trialChi2;
        lambda = Math.max(lambda / 10, 1e-12);
        improved = true;
        if (gain < 1e-10 * Math.max(1, chi2)) return p;
        break;
      }
      lambda *= 10;
    }
    if (!improved) break;
  }
  return p;
}

/**
 * Fits `model` to the data: ml-levenberg-marquardt from `initial`, finished
 * by `refineFit` from both its answer and the start (the lower chi^2 wins). Throws when the
 * data cannot determine the parameters (fewer points than parameters, or a
 * singular Fisher matrix at the minimum).
 */
export function fitCurve<X>(spec: FitSpec<X>): FitResult {
  const n = spec.xs.length;
  const p = spec.initial.length;
  if (n !== spec.ys.length || n !== spec.sigmas.length) throw new Error('fit: xs, ys and sigmas differ in length');
  if (n <= p) throw new Error(`fit: ${n} points cannot determine ${p} parameters`);
  if (spec.sigmas.some((s) => !(s > 0))) throw new Error('fit: every sigma must be > 0');
  const index = Array.from({ length: n }, (_, i) => i);
  let libraryValues: number[] | null = null;
  let iterations = 0;
  try {
    // Residuals are standardised here ((y - f)/sigma with unit weights) rather than
    // through the library's `weights`, whose step (weight 1/w^2) and acceptance test
    // (weight w^2) disagree in ml-levenberg-marquardt 5.1: with unit weights both
    // minimise the same chi^2.
    const result = levenbergMarquardt(
      { x: index, y: spec.ys.map((y, i) => y / spec.sigmas[i]!) },
      (params) => (i) => spec.model(params, spec.xs[i]!) / spec.sigmas[i]!,
      {
        initialValues: spec.initial,
        minValues: spec.min,
        maxValues: spec.max,
        gradientDifference: spec.steps,
        centralDifference: true,
        damping: 1e-2,
        maxIterations: spec.maxIterations ?? 100,
        errorTolerance: 1e-9,
      },
    );
    libraryValues = result.parameterValues;
    iterations = result.iterations;
  } catch {
    // The library can throw on a numerically asymmetric normal matrix far from the minimum.
  }
  // Finish from both the library's answer and the start; keep the lower chi^2.
  const fromStart = refineFit(spec, spec.initial);
  const fromLibrary = libraryValues ? refineFit(spec, libraryValues) : fromStart;
  const values = chiSquare(spec, fromLibrary) < chiSquare(spec, fromStart) ? fromLibrary : fromStart;
  const chi2 = chiSquare(spec, values);
  const dof = n - p;
  const cov = covarianceAt(spec, values);
  if (!cov || cov.some((row, i) => !(row[i]! >= 0) || !Number.isFinite(row[i])))
    throw new Error(`fit: the data do not determine ${spec.names.join(', ')}`);
  const scale = Math.max(1, chi2 / dof);
  const covariance = cov.map((row) => row.map((v) => v * scale));
  return {
    names: [...spec.names],
    values,
    errors: covariance.map((row, i) => Math.sqrt(Math.max(0, row[i]!))),
    covariance,
    chi2,
    dof,
    iterations,
  };
}
