/**
 * Optimal probability estimation factors (PEFs) for one CHSH trial.
 *
 * A PEF with power beta > 0 is F(c, z) >= 0 with
 *   sum_{c,z} p(z) q(c|z)^(1+beta) F(c, z) <= 1   for every behaviour q of the model
 * (Zhang, Knill, Bierhorst, PRA 98, 040304(R) (2018), Eq. 1; Knill et al.,
 * PRR 2, 033465 (2020), Sect. "Probability estimation factors"); the left
 * side is convex in q, so the model's extreme points q_k suffice (model.ts).
 * The PEF for an expected behaviour nu(c, z) = p(z) q_nu(c|z) maximises the
 * expected log-probability rate sum nu log2 F (Knill et al., "Optimizing
 * PEFs"), a concave problem in 16 variables with one linear constraint per
 * extreme point, G_k . F <= 1, G_k(i) = p(z_i) q_k(i)^(1+beta).
 *
 * Its Lagrange dual is a maximum-likelihood problem for mixture weights
 * (derivation in README.md): minimise over lambda in the simplex
 *   D(lambda) = sum_i nu_i ln(nu_i / m_i),  m = sum_k lambda_k G_k,
 * solved by the EM iteration lambda_k <- lambda_k r_k,
 *   r_k = sum_i nu_i G_k(i) / m_i   (sum_k lambda_k r_k = 1 keeps lambda in the simplex).
 * Every iterate gives a feasible F: F_i = nu_i / (m_i max_k r_k) satisfies
 * G_k . F = r_k / max r <= 1, and its objective sum nu ln F = D(lambda) - ln max r,
 * so ln max_k r_k is the duality gap: the iteration stops when it is below
 * the tolerance, and F is then within that gap of the optimum.
 */
import { type Behaviour, settingsOfCell } from './model.ts';

export interface PefSolution {
  /** F(c, z) at the behaviour index 8x + 4y + 2a + b. */
  factors: Float64Array;
  beta: number;
  /** sum nu log2 F: the expected log2-probability rate times beta, bits per trial. */
  log2Rate: number;
  /** Duality gap at the stop, bits per trial of sum nu log2 F. */
  gapBits: number;
  iterations: number;
  /** The dual's mixture weights at the stop (a warm start for a neighbouring beta). */
  weights: Float64Array;
}

/**
 * Exponent of the over-relaxed EM step lambda_k <- lambda_k r_k^omega (renormalised):
 * omega = 1 is plain EM; a larger one moves faster along the slow directions. Any
 * weights give a feasible F (file comment), and the stop is on the duality gap, so the
 * step only changes the speed.
 */
export const EM_OVER_RELAXATION = 1.9;

/** G_k(i) = p(z_i) q_k(i)^(1+beta) for every extreme point k. */
export function constraintRows(
  points: readonly Behaviour[],
  beta: number,
  settings: readonly number[],
): Float64Array[] {
  return points.map((q) => q.map((p, i) => (p > 0 ? settingsOfCell(settings, i) * p ** (1 + beta) : 0)));
}

export interface SolveOptions {
  /** Stop when the duality gap is below this, bits per trial (default 1e-10). */
  gapBits?: number;
  /** Largest number of EM iterations (default 200,000). */
  maxIterations?: number;
  /** Start from these mixture weights (a neighbouring beta's solution: far fewer iterations). */
  start?: Float64Array;
}

/**
 * The optimal PEF with power beta for the expected joint frequencies nu
 * (16 entries summing to 1, every one > 0) on the model given by its extreme
 * points (file comment: EM on the dual, duality-gap stop).
 */
export function optimalPef(
  nu: Float64Array,
  points: readonly Behaviour[],
  beta: number,
  settings: readonly number[],
  { gapBits = 1e-10, maxIterations = 200_000, start }: SolveOptions = {},
): PefSolution {
  if (!(beta > 0)) throw new RangeError('"beta" must be > 0');
  for (const v of nu) if (!(v > 0)) throw new RangeError('"nu" must be > 0 everywhere (regularise it first)');
  const rows = constraintRows(points, beta, settings);
  const k = rows.length;
  // a warm start keeps every weight > 0 (a zero weight would stay zero under the multiplicative update)
  const lambda = start && start.length === k ? start.map((l) => l + 1e-9 / k) : new Float64Array(k).fill(1 / k);
  const m = new Float64Array(16);
  const r = new Float64Array(k);
  let maxR = Infinity;
  let iterations = 0;
  const tolNats = gapBits * Math.LN2;
  for (; iterations < maxIterations; iterations++) {
    const omega = iterations < 8 ? 1 : EM_OVER_RELAXATION;
    m.fill(0);
    for (let j = 0; j < k; j++) {
      const g = rows[j] as Float64Array;
      const l = lambda[j] as number;
      for (let i = 0; i < 16; i++) m[i] = (m[i] as number) + l * (g[i] as number);
    }
    maxR = 0;
    for (let j = 0; j < k; j++) {
      const g = rows[j] as Float64Array;
      let s = 0;
      for (let i = 0; i < 16; i++) s += ((nu[i] as number) * (g[i] as number)) / (m[i] as number);
      r[j] = s;
      if (s > maxR) maxR = s;
    }
    if (Math.log(maxR) <= tolNats) break;
    let total = 0;
    for (let j = 0; j < k; j++) total += lambda[j] = (lambda[j] as number) * (r[j] as number) ** omega;
    for (let j = 0; j < k; j++) lambda[j] = (lambda[j] as number) / total;
  }
  const factors = nu.map((v, i) => v / ((m[i] as number) * maxR));
  let log2Rate = 0;
  for (let i = 0; i < 16; i++) log2Rate += (nu[i] as number) * Math.log2(factors[i] as number);
  return { factors, beta, log2Rate, gapBits: Math.log2(maxR), iterations, weights: lambda };
}

/** max over the extreme points of sum_i p(z_i) q_k(i)^(1+beta) F(i): the PEF condition holds when it is <= 1. */
export function pefConditionMax(
  factors: Float64Array,
  points: readonly Behaviour[],
  beta: number,
  settings: readonly number[],
): number {
  let worst = 0;
  for (const g of constraintRows(points, beta, settings)) {
    let s = 0;
    for (let i = 0; i < 16; i++) s += (g[i] as number) * (factors[i] as number);
    if (s > worst) worst = s;
  }
  return worst;
}

/**
 * Floating-point margin of the validity check: the condition is evaluated in
 * double precision (16 products, each within a few ulps, a power computed by
 * Math.pow within 1 ulp, V = sqrt 2 - 1 within 1 ulp), so its error is far
 * below 1e-12; a PEF is accepted only with max <= 1 - PEF_MARGIN.
 */
export const PEF_MARGIN = 1e-12;

/**
 * Re-verifies a PEF against every extreme point before it is used: every
 * entry finite and >= 0, and the condition at most 1 - PEF_MARGIN. Returns a
 * one-line reason, or null when valid.
 */
export function pefInvalidReason(
  factors: Float64Array,
  points: readonly Behaviour[],
  beta: number,
  settings: readonly number[],
): string | null {
  if (!(beta > 0 && Number.isFinite(beta))) return `power beta = ${beta} is not a positive number`;
  if (factors.length !== 16) return `a PEF has 16 entries, not ${factors.length}`;
  for (const f of factors) if (!(f >= 0 && Number.isFinite(f))) return `PEF entry ${f} is not a finite number >= 0`;
  const worst = pefConditionMax(factors, points, beta, settings);
  return worst <= 1 - PEF_MARGIN ? null : `PEF condition ${worst} > 1 - ${PEF_MARGIN} at an extreme point of the model`;
}

/** The PEF scaled into the margin: F (1 - 4 PEF_MARGIN), so that the check of pefInvalidReason passes. */
export function withMargin(factors: Float64Array): Float64Array {
  return factors.map((f) => f * (1 - 4 * PEF_MARGIN));
}
