/**
 * The calibration profile: every fitted value with its uncertainty, the raw
 * sweep data, the settings before and after, and the verification runs.
 * Versioned zod schema (`version` 1); `loadProfile` refuses a file that does
 * not match it, naming the first bad field.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { InputError } from '../errors.ts';

const finite = z.number().finite();
const estimate = z.object({ value: finite, error: z.number().finite().nonnegative() });
const count = z.number().int().nonnegative();
const quad = z.tuple([finite, finite, finite, finite]);
const countQuad = z.tuple([count, count, count, count]);

// PROTOCOL 5 ranges of what SAVE_CALIBRATION stores.
const angle = z.number().int().min(0).max(17999);
export const settingsSchema = z.object({
  anglesCentideg: z.tuple([angle, angle, angle, angle]),
  windowPs: z.number().int().min(100).max(20000),
  delayPs: z.number().int().min(-10000).max(10000),
  pumpMicrowatts: z.number().int().min(0).max(1000),
  biasMv: z.tuple(
    [0, 1, 2, 3].map(() => z.number().int().min(20000).max(40000)) as [
      z.ZodNumber,
      z.ZodNumber,
      z.ZodNumber,
      z.ZodNumber,
    ],
  ),
});
export type ProfileSettings = z.infer<typeof settingsSchema>;

const fitQuality = { chi2: z.number().finite().nonnegative(), dof: z.number().int().positive() };

const verificationSchema = z.object({
  trials: count,
  lostTrials: count,
  s: finite,
  sError: z.number().finite().nonnegative(),
  correlators: quad,
  bitsPerTrial: z.number().finite().min(0).max(1),
  quantumBitsPerTrial: z.number().finite().min(0).max(1),
  /** counts[(x << 1) | y][(a << 1) | b] */
  counts: z.tuple([countQuad, countQuad, countQuad, countQuad]),
  singles: countQuad,
  doublesA: count,
  doublesB: count,
  settings: settingsSchema,
  uncalibrated: z.boolean(),
});

const darkCurveSchema = z.object({ refRatePerS: estimate, slopeMv: estimate, ...fitQuality });
const efficiencyCurveSchema = z.object({
  etaMax: estimate,
  breakdownMv: estimate,
  slopeMv: estimate,
  darkAtBreakdownPerS: z.number().finite().nonnegative(),
  ...fitQuality,
});
const delayPointSchema = z.object({ delayPs: z.number().int(), trials: count, coincidences: count });
const scanPoint = z.object({ x: finite, s: finite });
const sample = z.object({ biasMv: finite, eta: finite, error: z.number().finite().nonnegative() });

export const STEP_NAMES = ['before', 'dark', 'pump', 'delay', 'fringes', 'bias', 'operating-point', 'after'] as const;

export const profileSchema = z.object({
  kind: z.literal('epqrng-calibration-profile'),
  version: z.literal(1),
  createdAt: z.iso.datetime(),
  device: z.object({ serial: z.string(), model: z.string(), firmware: z.string(), protocol: z.string() }),
  mode: z.enum(['normal', 'quick']),
  /** Chip time per step (integration and trial runs), ms. */
  chipTimeMs: z.object({
    total: z.number().finite().nonnegative(),
    steps: z.partialRecord(z.enum(STEP_NAMES), z.number().finite().nonnegative()),
  }),
  wallTimeMs: z.object({
    total: z.number().finite().nonnegative(),
    steps: z.partialRecord(z.enum(STEP_NAMES), z.number().finite().nonnegative()),
  }),
  previous: settingsSchema.extend({ uncalibrated: z.boolean() }),
  settings: settingsSchema,
  saved: z.boolean(),
  outcome: z.string(),
  estimates: z.object({
    rotDeg: estimate,
    visibility: estimate,
    /** The fringe's own amplitude, before the multi-pair/dark correction. */
    fringeVisibility: estimate,
    pathDelayPs: estimate,
    jitterPs: estimate,
    piPulseMicrowatts: estimate,
    brightness: z.number().finite().min(0).max(1),
    g2: estimate,
    /** Whether g2 came from the double clicks (measured) or the middle of the PROTOCOL 7 range (assumed). */
    g2Source: z.enum(['measured', 'assumed']),
    predictedS: finite,
    predictedBitsPerTrial: z.number().finite().min(0).max(1),
  }),
  steps: z.object({
    dark: z.object({
      windowPs: z.number().int(),
      integrationMs: z.number().int().positive(),
      points: z.array(z.object({ biasMv: z.number().int(), trials: count, clicks: countQuad })).min(2),
      curves: z.tuple([darkCurveSchema, darkCurveSchema, darkCurveSchema, darkCurveSchema]),
    }),
    pump: z.object({
      integrationMs: z.number().int().positive(),
      points: z.array(z.object({ pumpMicrowatts: z.number().int(), trials: count, singlesA: count })).min(4),
      amplitude: estimate,
      background: estimate,
      piPulseMicrowatts: estimate,
      ...fitQuality,
    }),
    delay: z.object({
      coarseWindowPs: z.number().int(),
      coarse: z.array(delayPointSchema).min(2),
      coarseCentrePs: finite,
      fineWindowPs: z.number().int(),
      fine: z.array(delayPointSchema).min(5),
      fit: z.object({
        windowPs: z.number().int(),
        amplitude: estimate,
        pathDelayPs: estimate,
        jitterPs: estimate,
        background: estimate,
        ...fitQuality,
      }),
    }),
    fringes: z.object({
      integrationMs: z.number().int().positive(),
      points: z.array(z.object({ alphaDeg: finite, betaDeg: finite, coincidences: countQuad })).min(4),
      visibility: estimate,
      rotDeg: estimate,
      offset: estimate,
      ...fitQuality,
    }),
    operatingPoint: z.object({
      biasScan: z.tuple(
        [0, 1, 2, 3].map(() => z.array(scanPoint)) as [
          z.ZodArray<typeof scanPoint>,
          z.ZodArray<typeof scanPoint>,
          z.ZodArray<typeof scanPoint>,
          z.ZodArray<typeof scanPoint>,
        ],
      ),
      windowScan: z.array(scanPoint),
    }),
    bias: z.object({
      integrationMs: z.number().int().positive(),
      heraldBiasMv: z.number().int(),
      windowPs: z.number().int(),
      points: z.array(
        z.object({
          station: z.enum(['A', 'B']),
          biasMv: z.number().int(),
          trials: count,
          singles: countQuad,
          coincidences: countQuad,
        }),
      ),
      samples: z.tuple([z.array(sample), z.array(sample), z.array(sample), z.array(sample)]),
      curves: z.tuple([efficiencyCurveSchema, efficiencyCurveSchema, efficiencyCurveSchema, efficiencyCurveSchema]),
    }),
  }),
  before: verificationSchema,
  after: verificationSchema,
});

export type CalibrationProfile = z.infer<typeof profileSchema>;

/** The dotted path of a zod issue, e.g. `steps.delay.fit.jitterPs.value` or `settings.biasMv[2]`. */
export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out || '(top level)';
}

/** Validates a parsed profile; throws InputError naming the first bad field. */
export function parseProfile(data: unknown, source = 'profile'): CalibrationProfile {
  const r = profileSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InputError('PROFILE_INVALID', `${source}: field ${issuePath(issue.path)}: ${issue.message}`);
  }
  return r.data;
}

/** Reads and validates a profile file (InputError, exit 2, on a missing, non-JSON or invalid file). */
export async function loadProfile(path: string): Promise<CalibrationProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(
      'PROFILE_UNREADABLE',
      `cannot read profile ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InputError('PROFILE_INVALID', `profile ${path} is not JSON: ${(e as Error).message}`);
  }
  return parseProfile(data, `profile ${path}`);
}
