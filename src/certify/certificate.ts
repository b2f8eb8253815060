/**
 * The per-block certificate (issue 3 scope 7): one JSON line, versioned,
 * validated by a zod schema.
 *
 * The certify stage fills everything but the extraction fields and hands a
 * CertificateDraft to the extract stage, which completes `extraction`
 * (extractor seed hash, output hash and length, previous certificate's hash:
 * a chain) and writes the line with formatCertificateLine.
 *
 * Canonical form: keys sorted recursively, no whitespace (so a certificate
 * hashes the same whoever wrote it); hashCertificate(line) is the SHA-256 of
 * the canonical form of the line, in hex.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '../errors.ts';
import { ADVERSARIES, ADVERSARY_ASSUMPTION, type Bound } from './bounds/bound.ts';

export const CERTIFICATE_VERSION = 1;

const nonNegInt = z.number().int().nonnegative();
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (SHA-256)');
const prob = z.number().min(0).max(1);

export const certificateDraftSchema = z.object({
  version: z.literal(CERTIFICATE_VERSION),
  device: z.object({
    serial: z.string().min(1),
    firmware: z.string().regex(/^\d+\.\d+\.\d+$/, 'expected major.minor.patch'),
  }),
  blockIndex: nonNegInt,
  /** Trial indices [first, first + count). */
  trialRange: z.object({ first: nonNegInt, count: z.number().int().positive() }),
  /** PROTOCOL 6: lost trials, kept in the block and scored at the worst case. */
  lostTrials: z.object({ device: nonNegInt, link: nonNegInt, total: nonNegInt }),
  /** N(a,b|x,y) at index 8x + 4y + 2a + b. */
  counts: z.array(nonNegInt).length(16),
  countsOrder: z.literal('N(a,b|x,y) at index 8x+4y+2a+b'),
  /** Per-trial unbiased estimator of S, lost trials at -4. */
  sEstimate: z.number().min(-4).max(4),
  /** Azuma-Hoeffding lower confidence bound on S at eps.estimation. */
  sLowerBound: z.number(),
  /** The S the entropy bound is evaluated at (lower bound, or the EAT threshold). */
  sEvaluated: z.number(),
  eps: z.object({ total: prob, estimation: prob, smoothing: prob, extraction: prob }),
  adversary: z.enum(ADVERSARIES),
  /** The bound used, in words, with its source. */
  bound: z.string().min(1),
  /** Certified (smooth) min-entropy of the extractor input, bits. */
  entropyBits: z.number().nonnegative(),
  /** Extractor input length n, bits. */
  inputBits: z.number().int().positive(),
  /** Output length m = floor(k - 2 log2(1/eps_ext)) in whole bytes, bits. */
  outputBits: z.number().int().positive().multipleOf(8),
  binning: z.string().min(1),
  settingsSource: z.enum(['internal', 'host']),
  assumptions: z.array(z.string().min(1)).min(1),
  /**
   * Probability estimation only (optional, so certificates of the other
   * bounds are unchanged): the PEF the block was certified with, fixed
   * before its data, and the threshold reached (pef-bound.ts).
   */
  pef: z
    .object({
      model: z.enum(['ns-tsirelson', 'ns']),
      /** F(a,b|x,y) at index 8x+4y+2a+b. */
      factors: z.array(z.number().nonnegative()).length(16),
      beta: z.number().positive(),
      /** Where the PEF was designed from (a prior behaviour or an earlier block's frequencies). */
      origin: z.string().min(1),
      /** Sum over the block's trials of log2 F (a large negative number when a trial was lost). */
      log2Product: z.number(),
      /** The grid threshold on log2(prod F)/beta reached, bits, and the number of thresholds. */
      thresholdBits: z.number().nonnegative(),
      thresholds: z.number().int().positive(),
    })
    .optional(),
  /**
   * Early stopping only (`--target-bits`; optional, so other certificates are
   * unchanged): the rule that ended the block and the trial count at which it
   * fired (bounds/pef-stopping.ts).
   */
  stopping: z
    .object({
      rule: z.string().min(1),
      targetBits: z.number().int().positive(),
      /** L*: the threshold on log2(prod F)/beta, bits. */
      thresholdBits: z.number(),
      /** tau: the block's length, the trial count at which the rule fired. */
      firedAtTrial: z.number().int().positive(),
      segmentTrials: z.number().int().positive(),
      maxTrials: z.number().int().positive(),
    })
    .optional(),
  /**
   * Host settings only (issue 6; optional, so version-1 certificates without
   * it stay valid): how the host chose x, y and what the echo check saw.
   */
  hostSettings: z
    .object({
      /** The host's randomness: the OS CSPRNG, or ChaCha20 keyed from --settings-seed (replayable). */
      generator: z.enum(['os-csprng', 'chacha20-seeded']),
      /** Spot-checking (ARV 2019 DIRE): test probability gamma = numerator / denominator exactly; null: every trial a test round. */
      testRate: z
        .object({
          gamma: prob,
          numerator: z.number().int().positive(),
          denominator: z.number().int().positive(),
          /** The fixed inputs of generation rounds. */
          generationSettings: z.string().min(1),
        })
        .nullable(),
      /** Records whose x, y echo was checked against what the host sent (PROTOCOL 6); lost trials have none. */
      echoChecked: nonNegInt,
      /** Test rounds among the checked trials, and those that won the CHSH game. */
      testRounds: nonNegInt,
      testWins: nonNegInt,
      /** TRIALS frames flagged RESUMED in the block: starved intervals (host FIFO ran empty) that ended here. */
      resumedFrames: nonNegInt,
    })
    .optional(),
  /**
   * Host settings only: randomness-expansion accounting, in bits. The
   * extractor seed is one strong-extractor (Toeplitz) seed for every block
   * of the run ('reused'): it is not consumed per block, so the block's net
   * gain is certifiedBits - settingBits, and the run's is charged the seed
   * once: run.netGainBits = run.certifiedBits - run.settingBits - extractorSeedBits.
   */
  accounting: z
    .object({
      /** Random bits the host drew for this block's settings (test-round choice and x, y). */
      settingBits: nonNegInt,
      extractorSeedBits: nonNegInt,
      extractorSeed: z.literal('reused'),
      certifiedBits: nonNegInt,
      netGainBits: z.number().int(),
      /** Totals over the run up to and including this block. */
      run: z.object({
        settingBits: nonNegInt,
        certifiedBits: nonNegInt,
        extractorSeedBits: nonNegInt,
        netGainBits: z.number().int(),
      }),
    })
    .optional(),
  /**
   * Detector health (optional: absent when every detector clicks in 0.01% to 99% of the block's gates, so
   * certificates without a warning are unchanged): a latched or dead detector (detector-health.ts). A
   * warning only; certification decided the bytes.
   */
  detectorWarnings: z
    .array(z.object({ detector: z.enum(['A0', 'A1', 'B0', 'B1']), clickShare: prob, warning: z.string().min(1) }))
    .min(1)
    .optional(),
  /**
   * The first certificate of a run that `stream --reconnect` or `serve --reconnect` started after the chip went away (optional:
   * absent otherwise). The chain goes on unbroken; the trials of the unfinished block before the
   * disconnect were dropped (never mixed into this run), and trial indices restart at 0 (PROTOCOL 5 START).
   */
  reconnect: z
    .object({
      /** When the chip answered again (ISO 8601, UTC). */
      at: z.string().min(1),
      /** Trials received after the last finished block of the run before, dropped with it. */
      trialsDropped: nonNegInt,
      /** Runs the stream had before this one (1 after the first reconnect). */
      previousRuns: z.number().int().positive(),
    })
    .optional(),
});

export const extractionSchema = z.object({
  /** SHA-256 of the extractor seed (hex). */
  seedSha256: hex64,
  /** SHA-256 of this block's output bytes (hex). */
  outputSha256: hex64,
  /** Output length in bytes (outputBits / 8). */
  outputBytes: nonNegInt,
  /** hashCertificate of the previous certificate line of the stream, or null for the first. */
  prevCertificateSha256: hex64.nullable(),
});

export const certificateSchema = certificateDraftSchema.extend({ extraction: extractionSchema });

export type CertificateDraft = z.infer<typeof certificateDraftSchema>;
export type Extraction = z.infer<typeof extractionSchema>;
export type Certificate = z.infer<typeof certificateSchema>;

/**
 * The assumptions a certificate states (PROTOCOL 6 and the model of the bound
 * used): the adversary line is the bound's, and the bound's own additions
 * come last, so the list cannot disagree with the certificate's bound.
 */
export function assumptionsFor(
  settingsSource: 'internal' | 'host',
  bound: Pick<Bound, 'adversary' | 'assumptions' | 'adversaryAssumption'>,
): string[] {
  return [
    'the devices obey quantum theory',
    bound.adversaryAssumption ?? ADVERSARY_ASSUMPTION[bound.adversary],
    'no signalling between stations A and B within a trial (chip shielding; not checkable by the host)',
    'settings unknown to the source when a pair is emitted',
    settingsSource === 'internal'
      ? "settings from the chip's internal generator, trusted to be uniform and independent (checked by a per-block uniformity test only)"
      : "settings from the host's randomness, echoed by the chip and checked trial by trial",
    'trials are sequential: each trial ends before the next begins',
    ...bound.assumptions,
  ];
}

/** The canonical JSON of a value: object keys sorted recursively, no whitespace. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // defineProperty, not assignment: an own "__proto__" key (JSON.parse makes one) must stay a field,
    // not become the prototype and vanish from the line and its hash.
    for (const k of Object.keys(value as Record<string, unknown>).sort()) {
      Object.defineProperty(out, k, {
        value: sortKeys((value as Record<string, unknown>)[k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** The certificate as one canonical JSON line (no trailing newline). Validates first. */
export function formatCertificateLine(cert: Certificate): string {
  return canonicalJson(certificateSchema.parse(cert));
}

/** SHA-256 (hex) of the canonical form of a certificate line. */
export function hashCertificate(line: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new InputError('CERTIFICATE', 'certificate line is not JSON');
  }
  return createHash('sha256').update(canonicalJson(parsed)).digest('hex');
}

/**
 * Parses and validates one certificate line. Throws InputError naming the
 * first bad field, e.g. 'certificate field "counts.3": expected number, received string'.
 */
export function parseCertificateLine(line: string): Certificate {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new InputError('CERTIFICATE', 'certificate line is not JSON');
  }
  const result = certificateSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
    throw new InputError('CERTIFICATE', `certificate field "${field}": ${issue.message.split('\n')[0]!}`);
  }
  return result.data;
}
