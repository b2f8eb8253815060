/**
 * The chip's calibration flash, persisted to a JSON file
 * (`{"version": 1, "calibration": ChipSettings | null}`). PROTOCOL 5
 * SAVE_CALIBRATION writes it; PROTOCOL 7 power-up and RESET load it.
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { cloneSettings, type ChipSettings } from './physics.ts';

interface FlashContents {
  version: 1;
  calibration: ChipSettings | null;
}

/** Writes the flash file atomically (a temporary file renamed over it). */
export function writeFlash(path: string, calibration: ChipSettings | null): void {
  const data: FlashContents = { version: 1, calibration };
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Reads a flash file written by writeFlash; throws one clear line when it is not one. */
export function readFlash(path: string): ChipSettings | null {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`simulator flash file ${path} is not JSON: ${(e as Error).message}`);
  }
  const d = data as Partial<FlashContents> | null;
  if (d?.version !== 1 || !('calibration' in d))
    throw new Error(`simulator flash file ${path} is not a version 1 flash ({"version": 1, "calibration": ...})`);
  if (d.calibration === null) return null;
  const c = d.calibration as Partial<ChipSettings>;
  const bad = badCalibrationField(c);
  if (bad) throw new Error(`simulator flash file ${path}: calibration.${bad} is missing or out of range`);
  return cloneSettings(c as ChipSettings);
}

/** The first stored value outside its PROTOCOL 5 range, or undefined when all are in range. */
function badCalibrationField(c: Partial<ChipSettings>): keyof ChipSettings | undefined {
  const int = (v: unknown, lo: number, hi: number) =>
    typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  const quad = (v: unknown, lo: number, hi: number) =>
    Array.isArray(v) && v.length === 4 && v.every((x) => int(x, lo, hi));
  if (!quad(c.anglesCentidegrees, 0, 17999)) return 'anglesCentidegrees';
  if (!int(c.windowPs, 100, 20000)) return 'windowPs';
  if (!int(c.delayPs, -10000, 10000)) return 'delayPs';
  if (!int(c.pumpMicrowatts, 0, 1000)) return 'pumpMicrowatts';
  if (!quad(c.biasMillivolts, 20000, 40000)) return 'biasMillivolts';
  return undefined;
}
