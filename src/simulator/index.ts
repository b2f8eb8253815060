/**
 * The EPQ-1 simulator (PROTOCOL sections 3-7): the chip's physics, its
 * firmware, and two transports (an in-process serialport binding and a real
 * pseudo-terminal). Deterministic for a seed. Imports only src/protocol.
 *
 * Contracts:
 * - `createSimulatedPort({ seed, ... })` gives `{ binding, path, chip }`; open
 *   it with `new SerialPortStream({ binding, path, baudRate: 921600 })`. Its
 *   chip runs on the virtual clock by default: trials are made as fast as the
 *   host reads them, MEASURE_COUNTS answers at once, and chip time
 *   (`chip.clockMs`) moves only with that work or `chip.advance(ms)`; an idle
 *   chip on the virtual clock therefore sends no periodic STATUS until time
 *   is advanced. Pass `clock: 'realtime'` for wall-clock pacing.
 * - `servePty(path, opts)` serves a realtime chip on a socat PTY.
 * - Hidden values: `drawHiddenParams(seed)` (what `new SimulatedChip({ seed })`
 *   uses), `chip.hidden` for tests; `idealSettings(hidden)` is what
 *   `calibrated: true` preloads into flash; `expectedS(hidden, settings)` is
 *   the exact CHSH value over all trials (a = 1 iff A1 alone clicked).
 * - Adversarial modes: 'lhv' (S = 2, or `lhvTargetS`), 'postselect' (drops
 *   CHSH-losing trials, GAP flagged), 'tamper' (host mode: `tamperRate` of the
 *   trials measured with x flipped; the record echoes the settings used, so
 *   the echo differs from what the host sent, unless `tamperEcho: 'host'`),
 *   'biased' (internal P(x = 1) = `biasedProbability`, default 0.6).
 * - MEASURE_COUNTS always counts `maxTrialRate * integration` trials (1e6/s),
 *   whatever rate the last START asked for.
 */
export {
  SimulatedChip,
  CHIP_INFO,
  normalizeFaults,
  type ChipOptions,
  type ChipFaults,
  type ChipMode,
  type ChipClock,
  type ChipStats,
} from './chip.ts';
export {
  createSimulatedPort,
  USB_VENDOR_ID,
  USB_PRODUCT_ID,
  USB_MANUFACTURER,
  type SimulatedPortOptions,
  type SimulatedPortHandle,
} from './binding.ts';
export { servePty, type PtyServer, type PtyServeOptions } from './pty.ts';
export {
  drawHiddenParams,
  midRangeHidden,
  idealSettings,
  expectedS,
  clickDistribution,
  settingDistributions,
  trialModel,
  correlator,
  brightness,
  detectorEfficiency,
  darkRateHz,
  darkClickProbability,
  gateProbability,
  outcomeA,
  outcomeB,
  FACTORY_SETTINGS,
  HIDDEN_RANGES,
  DETECTOR_BIT,
  type HiddenParams,
  type ChipSettings,
  type TrialModel,
} from './physics.ts';
export { Rng } from './rng.ts';
