import { describe, expect, it } from 'vitest';
import { parseNumber, suffixMultiplier, type NumberRule } from '../../src/math/numbers.ts';

const COUNT: NumberRule = { kind: 'count', min: 1, max: Number.MAX_SAFE_INTEGER };

function value(raw: string, rule = COUNT): number {
  const r = parseNumber(raw, rule);
  if (!r.ok) throw new Error(`${raw}: ${r.message}`);
  return r.value;
}
function refusal(raw: string, rule = COUNT): string {
  const r = parseNumber(raw, rule);
  if (r.ok) throw new Error(`${raw} was accepted as ${r.value}`);
  return r.message;
}

describe('counts, as GNU head -c reads sizes, plus 1e6 and 2^20', () => {
  it('reads the binary and decimal size suffixes (coreutils: K = 1024, KB = 1000, KiB = K)', () => {
    const table: Array<[string, number]> = [
      ['1000', 1000],
      ['1K', 1024],
      ['1k', 1024],
      ['1KiB', 1024],
      ['1KB', 1000],
      ['1kB', 1000],
      ['1M', 1_048_576],
      ['1MB', 1_000_000],
      ['1MiB', 1_048_576],
      ['3G', 3 * 2 ** 30],
      ['1GB', 1e9],
      ['2T', 2 * 2 ** 40],
      ['1PB', 1e15],
      ['4b', 2048],
      ['1.5K', 1536],
      ['+7', 7],
      [' 12 ', 12],
    ];
    for (const [raw, v] of table) expect(value(raw), raw).toBe(v);
    expect(suffixMultiplier('E')).toBe(2n ** 60n);
    expect(suffixMultiplier('ZB')).toBe(10n ** 21n);
  });
  it('reads exponents and powers of two when the value is whole', () => {
    expect(value('1e6')).toBe(1_000_000);
    expect(value('1E7')).toBe(10_000_000);
    expect(value('1.5e3')).toBe(1500);
    expect(value('2^20')).toBe(1_048_576);
    expect(value('2^52')).toBe(2 ** 52);
    expect(value('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
  });
  it('refuses negative, fractional, hex, too large and garbage values with one phrase each', () => {
    expect(refusal('-5')).toBe('must be positive');
    expect(refusal('-1M')).toBe('must be positive');
    expect(refusal('1.5')).toBe('must be a whole number');
    expect(refusal('1e-3')).toBe('must be a whole number');
    expect(refusal('1.0001K')).toBe('must be a whole number');
    expect(refusal('2^-1')).toBe('must be a whole number');
    expect(refusal('0x10')).toBe('must be decimal, not hex (e.g. 16, 1K, 1e6, 2^20)');
    expect(refusal('1E')).toBe(`must be at most ${Number.MAX_SAFE_INTEGER} (too large)`);
    expect(refusal('9007199254740992')).toBe(`must be at most ${Number.MAX_SAFE_INTEGER} (too large)`);
    expect(refusal('1e400')).toMatch(/^must be at most \d+ \(too large\)$/);
    expect(refusal('2^53')).toMatch(/^must be at most \d+ \(too large\)$/);
    const garbage = `must be a count from 1 to ${Number.MAX_SAFE_INTEGER}, e.g. 1000, 1K = 1024, 1KB = 1000, 1M, 1e6 or 2^20`;
    for (const raw of ['', 'abc', '1X', '1 K', '1KBB', '1e', '--5', 'NaN', 'Infinity', '1_000']) {
      expect(refusal(raw), raw).toBe(garbage);
    }
    expect(refusal('0')).toBe(`must be from 1 to ${Number.MAX_SAFE_INTEGER}`);
    expect(refusal('2^29', { kind: 'count', min: 1000, max: 2 ** 28 })).toBe('must be from 1000 to 268435456');
  });
});

describe('integers (seeds) and reals (seconds, eps)', () => {
  it('takes decimal or hex integers, nothing else', () => {
    const seed: NumberRule = { kind: 'integer', min: 0, max: 0xffffffff };
    expect(value('0x10', seed)).toBe(16);
    expect(value('42', seed)).toBe(42);
    for (const raw of ['-1', '1K', '1e3', '4294967296']) {
      expect(refusal(raw, seed), raw).toBe('must be an integer from 0 to 4294967295');
    }
  });
  it('takes decimals and powers of two', () => {
    const real: NumberRule = { kind: 'real', min: 0, max: 1 };
    expect(value('2^-64', real)).toBe(2 ** -64);
    expect(value('1e-20', real)).toBe(1e-20);
    expect(value('.5', real)).toBe(0.5);
    expect(refusal('-0.5', real)).toBe('must be 0 or more');
    expect(refusal('2', real)).toBe('must be a number from 0 to 1');
    expect(refusal('1K', real)).toBe('must be a number from 0 to 1');
  });
});
