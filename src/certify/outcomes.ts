/**
 * Outcome binning and per-record lookup tables (issue 3 scope 2).
 *
 * The binning is fixed before any data is seen (a data-dependent binning
 * would let the analysis post-select): per station,
 *   a = 1 when A1 clicked and A0 did not, else 0
 *   b = 1 when B1 clicked and B0 did not, else 0
 * so a no-click and a double-click both give 0. Every certificate names it
 * with BINNING.
 *
 * Record byte (PROTOCOL 4 TRIALS): bit 7, 6 reserved (0); bit 5 x; bit 4 y;
 * bit 3 A1; bit 2 A0; bit 1 B1; bit 0 B0.
 *
 * The hot loop of the certifier does one table lookup per trial, so every
 * per-record quantity is precomputed here for all 256 byte values.
 */
import { RECORD_BIT } from '../protocol/types.ts';

/** The binning, as named in every certificate. */
export const BINNING = 'a=A1&!A0, b=B1&!B0; no-click and double-click -> 0';

/** PROTOCOL 4 TRIALS: bits 7 and 6 of a record are reserved (0). */
export const RECORD_RESERVED_MASK = RECORD_BIT.RESERVED;

/** Outcome a of a valid record byte (0 or 1). */
export function outcomeA(record: number): number {
  return (record & RECORD_BIT.A1) !== 0 && (record & RECORD_BIT.A0) === 0 ? 1 : 0;
}

/** Outcome b of a valid record byte (0 or 1). */
export function outcomeB(record: number): number {
  return (record & RECORD_BIT.B1) !== 0 && (record & RECORD_BIT.B0) === 0 ? 1 : 0;
}

export function settingX(record: number): number {
  return (record & RECORD_BIT.X) !== 0 ? 1 : 0;
}

export function settingY(record: number): number {
  return (record & RECORD_BIT.Y) !== 0 ? 1 : 0;
}

/**
 * CHSH game (S = E00 + E01 + E10 - E11): the trial is won when
 * a XOR b = x AND y. With uniform settings the win probability is
 * omega = 1/2 + S/8 (Arnon-Friedman et al., Nat. Commun. 9, 459 (2018), CHSH game).
 */
export function chshWin(record: number): number {
  return (outcomeA(record) ^ outcomeB(record)) === (settingX(record) & settingY(record)) ? 1 : 0;
}

/**
 * Index of a record's cell in the 16 counts N(a,b|x,y): 8x + 4y + 2a + b.
 * The certificate's `counts` array uses this order.
 */
export function countCell(record: number): number {
  return (settingX(record) << 3) | (settingY(record) << 2) | (outcomeA(record) << 1) | outcomeB(record);
}

/** 256 entries: 1 when the byte has a reserved bit set (not a valid record). */
export const RESERVED_TABLE: Uint8Array = build((r) => ((r & RECORD_RESERVED_MASK) !== 0 ? 1 : 0));
/** 256 entries: the two outcome bits a | b << 1 as the extractor takes them (LSB first: a then b). */
export const OUTCOME_BITS_TABLE: Uint8Array = build((r) => outcomeA(r) | (outcomeB(r) << 1));
/**
 * 4096 entries, index r0 | r1 << 6 for two valid record bytes (trials k and
 * k + 1): their outcome codes as the extractor input packs two trials,
 * a0 | b0 << 1 | a1 << 2 | b1 << 3.
 */
export const PAIR_OUTCOME_BITS_TABLE: Uint8Array = (() => {
  const t = new Uint8Array(64 * 64);
  for (let p = 0; p < 64 * 64; p++) t[p] = OUTCOME_BITS_TABLE[p & 63]! | (OUTCOME_BITS_TABLE[p >> 6]! << 2);
  return t;
})();
/** 256 entries: a. */
export const A_TABLE: Uint8Array = build(outcomeA);
/** 256 entries: b. */
export const B_TABLE: Uint8Array = build(outcomeB);
/** 256 entries: 1 when the trial wins the CHSH game. */
export const WIN_TABLE: Uint8Array = build(chshWin);
/** 256 entries: count cell 8x + 4y + 2a + b. */
export const CELL_TABLE: Uint8Array = build(countCell);

function build(f: (r: number) => number): Uint8Array {
  const t = new Uint8Array(256);
  for (let r = 0; r < 256; r++) t[r] = f(r);
  return t;
}

/**
 * Folds a 64-bin histogram of valid record bytes (index = record byte) into
 * the 16 counts N(a,b|x,y), indexed 8x + 4y + 2a + b.
 */
export function countsFromHistogram(histogram: ArrayLike<number>): number[] {
  const counts = new Array<number>(16).fill(0);
  for (let r = 0; r < 64; r++) counts[CELL_TABLE[r]!]! += histogram[r]!;
  return counts;
}
