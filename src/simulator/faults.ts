/**
 * Fault injection: link faults (bytes dropped, flipped, duplicated; frames
 * lost), device overflow, and hardware faults (a latched detector, the
 * temperature, an unlocked pump) that appear at a chosen chip time.
 * Rates are probabilities per byte or per frame.
 */
import { Fault } from '../protocol/types.ts';
import { DETECTOR_BIT } from './physics.ts';

export interface ChipFaults {
  /** Device-to-host link: each byte dropped with this probability. */
  byteDropRate?: number;
  /** Device-to-host link: each byte has one random bit flipped with this probability. */
  byteFlipRate?: number;
  /** Device-to-host link: each byte sent twice with this probability. */
  byteDuplicateRate?: number;
  /** Device-to-host link: each whole frame lost (its seq used) with this probability. */
  frameLossRate?: number;
  /** Inside the device: each TRIALS frame lost to overflow (GAP on the next) with this probability. */
  overflowRate?: number;
  /** A detector (0..3 = A0 A1 B0 B1) that clicks in every gate: fault bit 2, state FAULT. */
  latchedDetector?: number;
  /** Chip temperature, centidegrees Celsius (default 2500); outside 1500..3500 sets fault bit 1. */
  temperatureCentidegrees?: number;
  /** Pump laser unlocked: fault bit 0. */
  pumpUnlocked?: boolean;
  /** Chip time (ms) at which the hardware faults above appear (default 0, at power-up). */
  atMs?: number;
}

const RATE_KEYS = ['byteDropRate', 'byteFlipRate', 'byteDuplicateRate', 'frameLossRate', 'overflowRate'] as const;
const FAULT_KEYS = [...RATE_KEYS, 'latchedDetector', 'temperatureCentidegrees', 'pumpUnlocked', 'atMs'] as const;

/**
 * Checks a fault set (numbers, or strings from a command line) and returns it typed; throws RangeError naming the
 * key.
 */
export function normalizeFaults(raw: ChipFaults | Record<string, string | number | boolean>): ChipFaults {
  const out: Record<string, number | boolean> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (!(FAULT_KEYS as readonly string[]).includes(key))
      throw new RangeError(`unknown simulator fault "${key}" (allowed: ${FAULT_KEYS.join(', ')})`);
    out[key] = key === 'pumpUnlocked' ? parseBoolean(value) : parseNumber(key, value);
  }
  return out as ChipFaults;
}

function parseBoolean(value: string | number | boolean): boolean {
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  throw new RangeError(`simulator fault pumpUnlocked must be true or false, got ${String(value)}`);
}

function parseNumber(key: string, value: string | number | boolean): number {
  const v = typeof value === 'number' ? value : Number(value);
  if (typeof value === 'boolean' || !Number.isFinite(v))
    throw new RangeError(`simulator fault ${key} must be a number, got ${String(value)}`);
  if ((RATE_KEYS as readonly string[]).includes(key) && !(v >= 0 && v <= 1))
    throw new RangeError(`simulator fault ${key} must be a probability in 0..1, got ${v}`);
  if (key === 'latchedDetector' && !(Number.isInteger(v) && v >= 0 && v <= 3))
    throw new RangeError(`simulator fault latchedDetector must be 0..3 (A0 A1 B0 B1), got ${v}`);
  if (key === 'temperatureCentidegrees' && !(Number.isInteger(v) && v >= -32768 && v <= 32767))
    throw new RangeError(`simulator fault temperatureCentidegrees must be an i16, got ${v}`);
  if (key === 'atMs' && !(v >= 0)) throw new RangeError(`simulator fault atMs must be >= 0, got ${v}`);
  return v;
}

/** Whether any link fault is set (the output then goes byte by byte through `corrupt`). */
export function hasLinkFaults(f: ChipFaults): boolean {
  return !!(f.byteDropRate || f.byteFlipRate || f.byteDuplicateRate || f.frameLossRate);
}

/** The hardware faults of a fault set: absent until chip time reaches `atMs`, then present until power-off. */
export class HardwareFaults {
  private active = false;

  constructor(private readonly faults: ChipFaults) {}

  /** Chip time at which the faults appear; Infinity once they have. */
  get dueMs(): number {
    return this.active ? Infinity : (this.faults.atMs ?? 0);
  }

  /** Turns the faults on when chip time has reached `atMs`. */
  activateIfDue(clockMs: number): void {
    if (!this.active && clockMs >= (this.faults.atMs ?? 0)) this.active = true;
  }

  /** PROTOCOL 4 STATUS fault bits 0..2 that the hardware shows now. */
  bits(): number {
    const f = this.faults;
    if (!this.active) return 0;
    let bits = 0;
    if (f.pumpUnlocked) bits |= Fault.PUMP_UNLOCKED;
    if (f.latchedDetector !== undefined) bits |= Fault.DETECTOR_LATCHED;
    const t = this.temperatureCentidegrees();
    if (t < 1500 || t > 3500) bits |= Fault.TEMPERATURE; // PROTOCOL 4 STATUS: TEMPERATURE outside 15..35 C
    return bits;
  }

  temperatureCentidegrees(): number {
    return this.active && this.faults.temperatureCentidegrees !== undefined
      ? this.faults.temperatureCentidegrees
      : 2500;
  }

  /** The latched detector (0..3) once the faults are on. */
  latchedDetector(): number | undefined {
    return this.active ? this.faults.latchedDetector : undefined;
  }

  /** The latched detector as a click-pattern mask (0 when none). */
  latchedMask(): number {
    const d = this.latchedDetector();
    return d === undefined ? 0 : (DETECTOR_BIT[d] ?? 0);
  }
}
