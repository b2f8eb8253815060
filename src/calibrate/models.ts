/**
 * The closed-form curves of PROTOCOL section 7 that the calibration fits.
 * Pure functions, no device: each takes the hidden value it models as an
 * argument, so a fit can vary it.
 *
 * Units: bias U in mV, pump P in microwatts, delay/window/jitter in ps,
 * angles in degrees (the device speaks centidegrees; see angles.ts), dark
 * rates in counts/s.
 */
import { normalCdf } from '../math/index.ts';

/**
 * Share of B's photons inside B's gate (PROTOCOL 7):
 * g = Phi((w/2 - (D - d))/sigma) - Phi((-w/2 - (D - d))/sigma),
 * with true path delay D, gate delay d, window w and Gaussian jitter sigma.
 */
export function gateFraction(gateDelayPs: number, pathDelayPs: number, jitterPs: number, windowPs: number): number {
  const offsetPs = pathDelayPs - gateDelayPs;
  return normalCdf((windowPs / 2 - offsetPs) / jitterPs) - normalCdf((-windowPs / 2 - offsetPs) / jitterPs);
}

/**
 * Pair brightness versus pump power, a Rabi oscillation (PROTOCOL 7):
 * b = b_max * sin^2(pi/2 * P / P_pi).
 */
export function rabiBrightness(pumpMicrowatts: number, bMax: number, piPulseMicrowatts: number): number {
  const s = Math.sin((Math.PI / 2) * (pumpMicrowatts / piPulseMicrowatts));
  return bMax * s * s;
}

/**
 * Detector efficiency versus bias (PROTOCOL 7):
 * eta(U) = eta_max * (1 - exp(-(U - U_bd)/U_s)) for U > U_bd, else 0.
 */
export function efficiencyAtBias(biasMv: number, etaMax: number, breakdownMv: number, slopeMv: number): number {
  if (biasMv <= breakdownMv) return 0;
  return etaMax * (1 - Math.exp(-(biasMv - breakdownMv) / slopeMv));
}

/**
 * Dark count rate versus bias (PROTOCOL 7): dark(U) = R0 * exp((U - U_bd)/U_d).
 * The dark curve alone cannot separate R0 from U_bd, so the fit uses the rate
 * at a reference bias: dark(U) = R_ref * exp((U - U_ref)/U_d).
 */
export function darkRateAtBias(biasMv: number, refRatePerS: number, refBiasMv: number, darkSlopeMv: number): number {
  return refRatePerS * Math.exp((biasMv - refBiasMv) / darkSlopeMv);
}

/** Probability that a detector dark-counts in one gate (PROTOCOL 7): 1 - exp(-dark_rate * w), w in seconds. */
export function darkClickProbability(darkRatePerS: number, windowPs: number): number {
  return -Math.expm1(-darkRatePerS * windowPs * 1e-12);
}

/** Inverse of darkClickProbability: the rate that gives a per-gate click probability. */
export function darkRateFromProbability(probability: number, windowPs: number): number {
  return -Math.log1p(-Math.min(probability, 1 - 1e-12)) / (windowPs * 1e-12);
}

/**
 * Polarization correlation (PROTOCOL 7): P(pa = pb) = (1 + V cos 2(alpha - beta + rot)) / 2,
 * so the correlator of one pair is E = V cos 2(alpha - beta + rot).
 */
export function pairCorrelation(alphaDeg: number, betaDeg: number, visibility: number, rotDeg: number): number {
  return visibility * Math.cos((2 * Math.PI * (alphaDeg - betaDeg + rotDeg)) / 180);
}
