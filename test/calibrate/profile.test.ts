/**
 * The calibration profile: a real one validates against its versioned
 * schema (also after a JSON round trip); corrupted ones are refused with the
 * field named, exit code 2; applying a profile puts its settings in force.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrate } from '../../src/calibrate/procedure.ts';
import { makePlan } from '../../src/calibrate/plan.ts';
import { loadProfile, parseProfile, profileSchema, type CalibrationProfile } from '../../src/calibrate/profile.ts';
import { applyProfile } from '../../src/calibrate/apply.ts';
import { InputError } from '../../src/errors.ts';
import { Fault } from '../../src/protocol/types.ts';
import { openSimulated } from './sim.ts';
import { epqrng, expectOneLineError } from '../cli/run-cli.ts';

const SEED = 61;
let profile: CalibrationProfile;
let dir: string;

beforeAll(async () => {
  const s = await openSimulated({ seed: SEED, calibrated: false });
  profile = await calibrate(s.device, { plan: makePlan('quick') });
  await s.device.close();
  dir = mkdtempSync(join(tmpdir(), 'epq-profile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A profile read as plain JSON: the cases below write values of the wrong type on purpose. */
// biome-ignore lint/suspicious/noExplicitAny: each case corrupts a field with a value its type forbids.
type ProfileJson = Record<string, any>;

/** A deep copy with one change made by `edit`. */
function corrupt(edit: (p: ProfileJson) => void): unknown {
  const copy = JSON.parse(JSON.stringify(profile));
  edit(copy);
  return copy;
}

describe('profile schema', () => {
  it('a real profile validates, with every fitted value carrying an uncertainty and the raw sweeps present', () => {
    expect(profileSchema.safeParse(profile).success).toBe(true);
    expect(parseProfile(JSON.parse(JSON.stringify(profile)))).toEqual(profile);
    expect(profile.version).toBe(1);
    expect(profile.steps.dark.points.length).toBeGreaterThan(3);
    expect(profile.steps.delay.fine.length).toBeGreaterThan(10);
    expect(profile.steps.fringes.points).toHaveLength(24);
    expect(profile.steps.bias.curves.every((c) => c.etaMax.error > 0 && c.breakdownMv.error > 0)).toBe(true);
    for (const k of ['rotDeg', 'visibility', 'pathDelayPs', 'jitterPs', 'piPulseMicrowatts', 'g2'] as const) {
      expect(profile.estimates[k].error, k).toBeGreaterThan(0);
    }
  });

  const cases: [string, (p: ProfileJson) => void, RegExp][] = [
    ['a missing estimate', (p) => delete p.estimates.rotDeg, /field estimates\.rotDeg: /],
    ['a bias out of the chip range', (p) => (p.settings.biasMv[2] = 50000), /field settings\.biasMv\[2\]: /],
    ['a future version', (p) => (p.version = 2), /field version: /],
    [
      'a string for a number',
      (p) => (p.steps.delay.fit.jitterPs.value = 'wide'),
      /field steps\.delay\.fit\.jitterPs\.value: /,
    ],
    ['a negative uncertainty', (p) => (p.estimates.pathDelayPs.error = -1), /field estimates\.pathDelayPs\.error: /],
    ['a wrong kind', (p) => (p.kind = 'something-else'), /field kind: /],
    ['a fractional count', (p) => (p.after.counts[1][2] = 1.5), /field after\.counts\[1\]\[2\]: /],
    ['an angle of 180 degrees', (p) => (p.settings.anglesCentideg[3] = 18000), /field settings\.anglesCentideg\[3\]: /],
  ];
  for (const [name, edit, pattern] of cases) {
    it(`refuses ${name}, naming the field`, () => {
      const err = (() => {
        try {
          parseProfile(corrupt(edit), 'profile x.json');
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(/^profile x\.json: /);
      expect((err as Error).message).toMatch(pattern);
      expect((err as Error).message).not.toContain('\n');
    });
  }

  it('loadProfile refuses a missing file and a file that is not JSON', async () => {
    await expect(loadProfile(join(dir, 'none.json'))).rejects.toThrow(
      /^cannot read profile .*none\.json: no such file$/,
    );
    const bad = join(dir, 'cut.json');
    writeFileSync(bad, JSON.stringify(profile).slice(0, 500));
    await expect(loadProfile(bad)).rejects.toThrow(/cut\.json is not JSON/);
  });
});

describe('applying a profile', () => {
  it('puts the settings in force on the chip it was measured on; --save stores them', async () => {
    const s = await openSimulated({ seed: SEED, calibrated: false });
    try {
      await applyProfile(s.device, profile);
      let st = await s.device.getStatus();
      expect(st.angles).toEqual(profile.settings.anglesCentideg);
      expect(st.bias).toEqual(profile.settings.biasMv);
      expect(st.faults & Fault.UNCALIBRATED).toBe(Fault.UNCALIBRATED);
      await applyProfile(s.device, profile, { save: true });
      await s.device.reset();
      st = await s.device.getStatus();
      expect(st.faults & Fault.UNCALIBRATED).toBe(0);
      expect([st.window, st.delay, st.pump]).toEqual([
        profile.settings.windowPs,
        profile.settings.delayPs,
        profile.settings.pumpMicrowatts,
      ]);
    } finally {
      await s.device.close();
    }
  });

  it('refuses a profile of another chip as a bad profile (exit 2, as calibrate --help says)', async () => {
    const s = await openSimulated({ seed: SEED + 1, calibrated: false });
    try {
      const err = await applyProfile(s.device, profile).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(
        /^profile was measured on EPQ1-[0-9A-F]{8}, this chip is EPQ1-[0-9A-F]{8}$/,
      );
    } finally {
      await s.device.close();
    }
  });

  it('CLI: a corrupted profile is refused with the field named, exit 2, one line', async () => {
    const file = join(dir, 'corrupt.json');
    writeFileSync(file, JSON.stringify(corrupt((p) => (p.settings.delayPs = 'soon'))));
    const r = await epqrng(['calibrate', '--apply', file, `--simulate=${SEED}`]);
    expectOneLineError(r, 2, /field settings\.delayPs: /);
  });
});
