/**
 * Host-supplied settings: what the host sent, and the echo check
 * (issue 6 scope 2).
 *
 * PROTOCOL 6: "Host settings come from the host's randomness: the driver
 * must check that every TRIALS record echoes exactly the x, y it sent for
 * that trial index, and treat one mismatch as an attack (stop, output
 * nothing from that run)."
 *
 * The settings feeder (src/output/host-settings.ts) appends one byte per
 * trial, in trial order, to a SettingsLedger before it sends them; the
 * certifier checks every record against it and releases what it has
 * checked. Lost trials (GAP or missing indices) have no record and nothing
 * to check: they are released unchecked and still count as lost
 * (accounting.ts).
 *
 *   ledger byte of trial i:  bit 2 test round (spot-checking), bits 1..0 (x << 1) | y
 *   TRIALS record byte:      bit 5 x, bit 4 y (PROTOCOL 4 TRIALS)
 */
import { CertificationRefusedError } from '../errors.ts';
import { WIN_TABLE } from './outcomes.ts';

/** Ledger byte bit: the trial is a test round (spot-checking, spot-check.ts). */
export const LEDGER_TEST_ROUND = 0x04;
/** Ledger byte bits: the settings sent, (x << 1) | y (PROTOCOL 5 SETTINGS). */
export const LEDGER_SETTINGS_MASK = 0x03;

/** Where the host's settings came from, as a certificate states it. */
export type SettingsGenerator = 'os-csprng' | 'chacha20-seeded';

/** How the host chose its settings (the certificate repeats it). */
export interface SettingsPlan {
  generator: SettingsGenerator;
  /**
   * Spot-checking test probability gamma as the exact rational the sampler
   * uses, or null: every trial a test round with uniform x, y.
   */
  testRate: { numerator: number; denominator: number } | null;
}

/**
 * The settings the host sent, by trial index, from the oldest not yet
 * checked. A growable ring of one byte per trial: the chip holds at most its
 * FIFO (PROTOCOL 4 INFO settings fifo) of unperformed settings, so the ring
 * stays near that size.
 */
export class SettingsLedger {
  readonly plan: SettingsPlan;
  private ring = new Uint8Array(1 << 17);
  private mask = this.ring.length - 1;
  /** Lowest trial index still held. */
  private base = 0;
  /** Next trial index to append. */
  private end = 0;
  /** Random bits the feeder drew for the settings of each block, by block index. */
  private readonly bitsByBlock = new Map<number, number>();

  constructor(plan: SettingsPlan) {
    this.plan = plan;
  }

  /** Trials whose settings were appended (= sent or about to be). */
  get appended(): number {
    return this.end;
  }

  /** Settings held: sent, but their trials not yet checked or lost. */
  get held(): number {
    return this.end - this.base;
  }

  /** Appends the next trials' ledger bytes, in trial order. */
  append(bytes: Uint8Array): void {
    const need = this.end + bytes.length - this.base;
    if (need > this.ring.length) this.grow(need);
    const at = this.end & this.mask;
    const first = Math.min(bytes.length, this.ring.length - at);
    this.ring.set(bytes.subarray(0, first), at);
    if (first < bytes.length) this.ring.set(bytes.subarray(first), 0);
    this.end += bytes.length;
  }

  private grow(need: number): void {
    let size = this.ring.length;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    for (let i = this.base; i < this.end; i++) next[i & (size - 1)] = this.ring[i & this.mask]!;
    this.ring = next;
    this.mask = size - 1;
  }

  /** The ledger byte of trial `index`, or -1 when no settings were sent for it (or it was released). */
  at(index: number): number {
    return index >= this.base && index < this.end ? this.ring[index & this.mask]! : -1;
  }

  /** Trials below `index` are done with (checked or lost). */
  release(index: number): void {
    if (index > this.base) this.base = Math.min(index, this.end);
  }

  /** Adds random bits drawn for settings of block `blockIndex`. */
  addBlockBits(blockIndex: number, bits: number): void {
    if (bits > 0) this.bitsByBlock.set(blockIndex, (this.bitsByBlock.get(blockIndex) ?? 0) + bits);
  }

  /** The random bits drawn for block `blockIndex`'s settings, forgotten once read. */
  takeBlockBits(blockIndex: number): number {
    const bits = this.bitsByBlock.get(blockIndex) ?? 0;
    this.bitsByBlock.delete(blockIndex);
    return bits;
  }
}

/** Per-block tallies of the echo pass (the spot-checking estimate needs them). */
export interface EchoTally {
  /** Records checked against the ledger. */
  checked: number;
  /** Test rounds among them (spot-checking; every trial when testRate is null). */
  testRounds: number;
  /** Test rounds that won the CHSH game, a XOR b = x AND y. */
  testWins: number;
}

const xyName = (xy: number): string => `x=${xy >> 1} y=${xy & 1}`;

/**
 * PROTOCOL 6 echo check of one TRIALS frame's records (records[at, at + n)), trials first..first+n-1,
 * tallied into `tallyOf(blockIndex)` for blocks of `blockTrials`. Throws
 * CertificationRefusedError('ECHO_MISMATCH') naming the first trial whose
 * record does not echo the settings sent for it, or that the host sent no
 * settings for. Records before that trial are tallied; the caller discards
 * the block anyway.
 */
export function checkEcho(
  ledger: SettingsLedger,
  first: number,
  n: number,
  records: Uint8Array,
  blockTrials: number,
  tallyOf: (blockIndex: number) => EchoTally,
  at = 0,
): void {
  let block = Math.floor(first / blockTrials);
  let blockEnd = (block + 1) * blockTrials;
  let tally = tallyOf(block);
  for (let k = 0; k < n; k++) {
    const index = first + k;
    if (index >= blockEnd) {
      block = Math.floor(index / blockTrials);
      blockEnd = (block + 1) * blockTrials;
      tally = tallyOf(block);
    }
    const sent = ledger.at(index);
    const record = records[at + k]!;
    const echoed = (record >> 4) & 3; // PROTOCOL 4 TRIALS: x bit 5, y bit 4
    if (sent < 0) {
      throw new CertificationRefusedError(
        'ECHO_MISMATCH',
        `echo check failed at trial ${index}: the chip reports a trial the host sent no settings for (echoed ${xyName(echoed)}); the chip is not using the host's settings (PROTOCOL 6): run stopped, nothing output from block ${block} on`,
      );
    }
    if ((sent & LEDGER_SETTINGS_MASK) !== echoed) {
      throw new CertificationRefusedError(
        'ECHO_MISMATCH',
        `echo check failed at trial ${index}: sent ${xyName(sent & LEDGER_SETTINGS_MASK)}, chip echoed ${xyName(echoed)}; the chip is not using the host's settings (PROTOCOL 6): run stopped, nothing output from block ${block} on`,
      );
    }
    tally.checked++;
    if ((sent & LEDGER_TEST_ROUND) !== 0) {
      tally.testRounds++;
      tally.testWins += WIN_TABLE[record]!;
    }
  }
}
