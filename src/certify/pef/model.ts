/**
 * The behaviour models of probability estimation for one CHSH trial: the
 * extreme points of a convex set of behaviours q(a,b|x,y) that contains
 * every behaviour quantum theory allows (Zhang, Knill, Bierhorst, PRA 98,
 * 040304(R) (2018); Knill et al., PRR 2, 033465 (2020): a PEF need only be
 * checked on the extreme points, its condition being convex in q).
 *
 * A behaviour is a Float64Array of 16 probabilities at the index the
 * certificate's counts use, 8x + 4y + 2a + b, so sum over (a, b) of q is 1
 * for each (x, y). The CHSH expression is the certifier's
 *   S = E00 + E01 + E10 - E11,  E_xy = sum_ab (-1)^(a XOR b) q(a,b|x,y)
 * (estimate.ts), i.e. the game won when a XOR b = x AND y.
 *
 * Models:
 * - 'ns' (no-signalling): the 16 local deterministic points and the 8
 *   Popescu-Rohrlich boxes (24 points).
 * - 'ns-tsirelson' (no-signalling and S <= 2 sqrt 2): the no-signalling
 *   polytope cut by Tsirelson's bound on S. Only the PR box with S = 4 is
 *   cut off; in its place come the points (1 - V) L + V PR with V = sqrt 2 - 1
 *   on its edges to the 8 deterministic L with S = 2 (where S = 2 + 2V =
 *   2 sqrt 2): 16 + 8 + 7 = 31 points. The quantum set lies inside, since
 *   quantum behaviours are no-signalling and obey Tsirelson's bound.
 */

export type Behaviour = Float64Array;
export type PefModel = 'ns' | 'ns-tsirelson';

/** Index of q(a,b|x,y) in a behaviour (and in the certificate's counts). */
export function cell(x: number, y: number, a: number, b: number): number {
  return 8 * x + 4 * y + 2 * a + b;
}

/** The CHSH value S = E00 + E01 + E10 - E11 of a behaviour. */
export function chshValue(q: Behaviour): number {
  let s = 0;
  for (let x = 0; x < 2; x++)
    for (let y = 0; y < 2; y++) {
      let e = 0;
      for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) e += (a === b ? 1 : -1) * (q[cell(x, y, a, b)] ?? 0);
      s += x & y ? -e : e;
    }
  return s;
}

/** The 16 local deterministic behaviours a = alpha_x, b = beta_y (alpha_0, alpha_1, beta_0, beta_1 the bits of k). */
export function deterministicPoints(): Behaviour[] {
  const out: Behaviour[] = [];
  for (let k = 0; k < 16; k++) {
    const q = new Float64Array(16);
    for (let x = 0; x < 2; x++) for (let y = 0; y < 2; y++) q[cell(x, y, (k >> x) & 1, (k >> (2 + y)) & 1)] = 1;
    out.push(q);
  }
  return out;
}

/**
 * The 8 PR boxes: q(a,b|x,y) = 1/2 when a XOR b = xy XOR mu x XOR nu y XOR tau.
 * (mu, nu, tau) = (0, 0, 0) is the box with S = 4; the others have S = 0 or -4.
 */
export function prBoxes(): Behaviour[] {
  const out: Behaviour[] = [];
  for (let k = 0; k < 8; k++) {
    const q = new Float64Array(16);
    for (let x = 0; x < 2; x++)
      for (let y = 0; y < 2; y++)
        for (let a = 0; a < 2; a++) {
          const b = a ^ (x & y) ^ (k & 1 ? x : 0) ^ (k & 2 ? y : 0) ^ ((k >> 2) & 1);
          q[cell(x, y, a, b)] = 0.5;
        }
    out.push(q);
  }
  return out;
}

/** sqrt 2 - 1: the weight of the PR box on the edge to an S = 2 deterministic point where S = 2 sqrt 2. */
export const TSIRELSON_EDGE_WEIGHT = Math.SQRT2 - 1;

/** The extreme points of a model (file comment). */
export function modelExtremePoints(model: PefModel): Behaviour[] {
  const det = deterministicPoints();
  const pr = prBoxes();
  if (model === 'ns') return [...det, ...pr];
  const top = pr.filter((q) => chshValue(q) > 3);
  const others = pr.filter((q) => chshValue(q) <= 3);
  const v = TSIRELSON_EDGE_WEIGHT;
  const mixed: Behaviour[] = [];
  for (const box of top)
    for (const l of det) {
      if (Math.abs(chshValue(l) - 2) > 1e-9) continue;
      mixed.push(l.map((p, i) => (1 - v) * p + v * (box[i] ?? 0)));
    }
  return [...det, ...mixed, ...others];
}

/**
 * The CHSH-optimal quantum behaviour mixed with white noise w (the model
 * behaviour of a noisy maximally entangled source): E_xy = +-(1 - w)/sqrt 2 with
 * the signs of S, uniform marginals, so S = 2 sqrt 2 (1 - w).
 */
export function noisyChshBehaviour(whiteNoise: number): Behaviour {
  return behaviourOfS(2 * Math.SQRT2 * (1 - whiteNoise));
}

/** The symmetric behaviour with CHSH value s: E_xy = (s/4)(1, 1, 1, -1), uniform marginals. */
export function behaviourOfS(s: number): Behaviour {
  const q = new Float64Array(16);
  for (let x = 0; x < 2; x++)
    for (let y = 0; y < 2; y++) {
      const e = (x & y ? -s : s) / 4;
      for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) q[cell(x, y, a, b)] = (1 + (a === b ? e : -e)) / 4;
    }
  return q;
}

/** Uniform settings, p(x, y) = 1/4, as a per-cell weight (the certifier's internal and all-test host settings). */
export const UNIFORM_SETTINGS: readonly number[] = [0.25, 0.25, 0.25, 0.25];

/** Settings probability of a behaviour cell: p(x, y) for cell 8x + 4y + 2a + b. */
export function settingsOfCell(settings: readonly number[], i: number): number {
  return settings[i >> 2] ?? 0;
}
