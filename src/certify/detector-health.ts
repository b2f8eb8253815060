/**
 * Stuck detectors: a detector that clicks in more than 99% of a block's
 * gates (latched, blinded) or in fewer than 0.01% (dead, unbiased) is
 * flagged as a warning for the operator. Certification still decides the
 * bytes: a stuck detector cannot fake a Bell violation (the test is device
 * independent), it only costs entropy, so this is a health notice, not a
 * refusal.
 *
 * PROTOCOL 4 TRIALS record byte: bit 3 A1, bit 2 A0, bit 1 B1, bit 0 B0
 * clicked. Shares are counted from the block's 64-bin record histogram
 * (index = record byte & 0x3f), over the trials actually received.
 */

/** More than this share of gates clicking: the detector is taken as latched. */
export const STUCK_CLICKING_SHARE = 0.99;
/** Fewer than this share of gates clicking: the detector is taken as dead. */
export const STUCK_SILENT_SHARE = 0.0001;

export const DETECTORS = [
  { name: 'A0', bit: 2 },
  { name: 'A1', bit: 3 },
  { name: 'B0', bit: 0 },
  { name: 'B1', bit: 1 },
] as const;

export interface DetectorWarning {
  detector: (typeof DETECTORS)[number]['name'];
  /** Share of the block's received trials in which it clicked. */
  clickShare: number;
  /** One line for the operator. */
  warning: string;
}

/** Click counts per detector (A0, A1, B0, B1) from a 64-bin record histogram. */
export function clickCounts(histogram: ArrayLike<number>): number[] {
  return DETECTORS.map(({ bit }) => {
    let n = 0;
    for (let r = 0; r < 64; r++) if (r & (1 << bit)) n += histogram[r] ?? 0;
    return n;
  });
}

/** The detectors outside [0.01%, 99%] of `trials` gates, as warnings (empty when all are sound or no trial came). */
export function stuckDetectors(histogram: ArrayLike<number>, trials: number): DetectorWarning[] {
  if (!(trials > 0)) return [];
  const counts = clickCounts(histogram);
  const out: DetectorWarning[] = [];
  DETECTORS.forEach(({ name }, i) => {
    const clickShare = (counts[i] ?? 0) / trials;
    const pct = `${(100 * clickShare).toFixed(clickShare < 0.01 ? 4 : 2)}%`;
    if (clickShare > STUCK_CLICKING_SHARE)
      out.push({ detector: name, clickShare, warning: `detector ${name} clicks in ${pct} of gates (> 99%): latched?` });
    else if (clickShare < STUCK_SILENT_SHARE)
      out.push({ detector: name, clickShare, warning: `detector ${name} clicks in ${pct} of gates (< 0.01%): dead?` });
  });
  return out;
}
