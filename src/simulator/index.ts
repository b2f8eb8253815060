/**
 * The EPQ-1 simulator (PROTOCOL sections 3-7): the chip's physics, its
 * firmware, and two transports. Contracts and clocks: README.md here.
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
