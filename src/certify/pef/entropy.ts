/**
 * The log-probability entropy statement of probability estimation against
 * classical side information (Zhang, Knill, Bierhorst, PRA 98, 040304(R)
 * (2018); Knill et al., PRR 2, 033465 (2020)); derivation in README.md.
 *
 * With PEFs F_i of power beta chosen before trial i's data, the product
 * T = prod_i F_i(C_i, Z_i) satisfies E[T mu(C^n|Z^n)^beta] <= 1 for every
 * classical side information value e (the PEF condition, trial by trial,
 * chained: a test supermartingale), so by Markov's inequality
 * mu(C^n|Z^n, e) < (eps_M T)^(-1/beta) except with probability eps_M. For an
 * event Omega on which log2(T)/beta >= L, conditioning on Omega with
 * Pr[Omega] >= kappa and smoothing away the Markov failure (eps_M = eps_s kappa,
 * so that it is at most eps_s given Omega):
 *   H_min^{eps_s}(C^n | Z^n E, Omega) >= L + log2(eps_s kappa)/beta + log2(kappa),
 * unless Pr[Omega] < kappa. This is the conditional form used for every bound
 * of this project (bounds.ts: "either Pr[Omega] < eps_EA or ..."), with
 * kappa = eps_EA; it costs log2(1/kappa)/beta bits more than the form that
 * weights the error by the pass probability, in which the Markov failure
 * and kappa add (eps_M + kappa = eps; best split eps_M = eps/(1+beta),
 * kappa = beta eps/(1+beta)), the form of publishedAccumulatedEntropy.
 */

/** log2 T = sum over cells of N(c, z) log2 F(c, z) (-Infinity when an observed cell has F = 0). */
export function log2Product(counts: ArrayLike<number>, factors: Float64Array): number {
  let s = 0;
  for (let i = 0; i < 16; i++) {
    const n = counts[i] ?? 0;
    if (n > 0) s += n * Math.log2(factors[i] as number);
  }
  return s;
}

/**
 * Certified smooth min-entropy (conditional form, file comment) for the event
 * log2(T)/beta >= logProbBits:
 *   logProbBits + log2(eps_s kappa)/beta + log2(kappa).
 */
export function pefEntropyBits(logProbBits: number, beta: number, epsSmooth: number, kappa: number): number {
  return logProbBits + (Math.log2(epsSmooth) + Math.log2(kappa)) / beta + Math.log2(kappa);
}

/**
 * The accumulated entropy in the pass-probability-weighted form with total
 * error eps split eps/(1+beta) (Markov failure) + beta eps/(1+beta) (kappa):
 *   log2(T)/beta + log2(eps/(1+beta))/beta + log2(beta eps/(1+beta)),
 * the formula of Jee, Curchod, Almeida, arXiv:2506.09555 (their published
 * code's extractable entropy). Used here only to reproduce their figures.
 */
export function publishedAccumulatedEntropy(log2T: number, beta: number, eps: number): number {
  return log2T / beta + Math.log2(eps / (1 + beta)) / beta + Math.log2((beta * eps) / (1 + beta));
}
