/**
 * src/certify: trial accounting, outcomes, CHSH estimate, bounds, health
 * tests, certificates. Data flows protocol -> device -> certify ->
 * extract; this stage imports only device (the RunEvent type) and protocol.
 *
 * Contract for the pipeline (src/output/pipeline.ts): certifyRun(run, opts) yields, per block of
 * `blockTrials` trial indices and in order, either
 *   { ok: true, draft, input, inputBits, outputBits }: hash `input` (inputBits
 *     bits, LSB first) to `outputBits` bits with the Toeplitz extractor and
 *     complete `draft` with its `extraction` fields (certificate.ts), or
 *   { ok: false, reason, test, ... }: output nothing for that block.
 */
export {
  certifyRun,
  certifyRun as certifyStream,
  Certifier,
  DEFAULT_BLOCK_TRIALS,
  DEFAULT_EPS,
  DEFAULT_MAX_LOST_SHARE,
  type BlockResult,
  type BlockTest,
  type CertifiedBlock,
  type CertifierStats,
  type CertifyOptions,
  type RefusedBlock,
} from './certifier.ts';
export {
  assumptionsFor,
  canonicalJson,
  certificateDraftSchema,
  certificateSchema,
  CERTIFICATE_VERSION,
  extractionSchema,
  formatCertificateLine,
  hashCertificate,
  parseCertificateLine,
  type Certificate,
  type CertificateDraft,
  type Extraction,
} from './certificate.ts';
export {
  azumaDeviation,
  chshRate,
  eatEntropy,
  epsSplit,
  INPUT_BITS_PER_TRIAL,
  MAX_OUTPUT_BITS_PER_TRIAL,
  outputBitsFor,
  pironioMinEntropy,
  sLowerBound,
  type EpsSplit,
} from './bounds.ts';
export {
  ADVERSARIES,
  settingsModeOf,
  SETTINGS_MODES,
  type Adversary,
  type BlockStats,
  type Bound,
  type BoundEvaluation,
  type SettingsMode,
} from './bounds/bound.ts';
export {
  blockBound,
  BOUNDS,
  boundsFor,
  certifyBlockBound,
  minBlockTrials,
  missingBoundReason,
  type BlockBound,
} from './bounds/registry.ts';
export { estimateFromCounts, estimateFromHistogram, type ChshEstimate } from './estimate.ts';
export { stuckDetectors, clickCounts, type DetectorWarning } from './detector-health.ts';
export { OutcomeHealthTests, rctCutoff, aptCutoff, type HealthOptions } from './health.ts';
export { BINNING } from './outcomes.ts';
export { STOPPING_SEGMENT_TRIALS } from './bounds/pef-stopping.ts';
