/**
 * The one parser for every numeric command-line value. Three kinds:
 *
 *   count    a whole number of things (bytes, trials, blocks): decimal digits,
 *            a size suffix as GNU `head -c` reads them (b = 512; K, M, G, T,
 *            P, E = powers of 1024, also written KiB, MiB, ...; KB, MB, GB,
 *            ... = powers of 1000; k and m as K and M), an exponent (1e6,
 *            1.5e3) or a power of two (2^20). The value must come out whole.
 *   integer  an identifier-like number (a seed): decimal or 0x hex, no suffix.
 *   real     a measurement (seconds, a probability): a decimal (0.5, 1e-20)
 *            or a power of two (2^-64).
 *
 * Every refusal is one short phrase for validateOption's
 * `--<option> <phrase> (got '<raw>')`, each a "must be ...": positive (a
 * negative value), whole, decimal (not hex) where a count is asked for, at
 * most the maximum (too large), or a number at all.
 */

export type NumberKind = 'count' | 'integer' | 'real';

export interface NumberRule {
  kind: NumberKind;
  min: number;
  max: number;
}

export type NumberResult = { ok: true; value: number } | { ok: false; message: string };

const DECIMAL = /^(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?$/;
const COUNT = /^(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)|(b|[KMGTPEZY](?:iB|B)?|[km](?:iB|B)?))?$/;
const POWER_OF_TWO = /^2\^([+-]?\d+(?:\.\d+)?)$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;
const SUFFIX_POWERS = 'KMGTPEZY';

/** The multiplier of a GNU size suffix: b = 512, X / XiB = 1024^k, XB = 1000^k. */
export function suffixMultiplier(suffix: string): bigint {
  if (suffix === 'b') return 512n;
  const k = BigInt(SUFFIX_POWERS.indexOf(suffix[0]!.toUpperCase()) + 1);
  return suffix.endsWith('B') && !suffix.endsWith('iB') ? 1000n ** k : 1024n ** k;
}

function describeRange({ kind, min, max }: NumberRule): string {
  if (kind === 'count') return `a count from ${min} to ${max}, e.g. 1000, 1K = 1024, 1KB = 1000, 1M, 1e6 or 2^20`;
  if (kind === 'integer') return `an integer from ${min} to ${max}`;
  return `a number from ${min} to ${max}`;
}

function inRange(value: number, rule: NumberRule): NumberResult {
  if (value >= rule.min && value <= rule.max) return { ok: true, value };
  return {
    ok: false,
    message: rule.kind === 'count' ? `must be from ${rule.min} to ${rule.max}` : `must be ${describeRange(rule)}`,
  };
}

/** Exact value of mantissa * 10^exp * multiplier, or why it is not a whole number within 2^53. */
function exactCount(mantissa: string, exp: number, multiplier: bigint, rule: NumberRule): NumberResult {
  const [whole = '', frac = ''] = mantissa.split('.');
  const digits = BigInt(`${whole}${frac}` || '0') * multiplier;
  const scale = exp - frac.length;
  if (scale > 400) return { ok: false, message: `must be at most ${rule.max} (too large)` };
  let value: bigint;
  if (scale >= 0) value = digits * 10n ** BigInt(scale);
  else {
    const den = 10n ** BigInt(-scale);
    if (digits % den !== 0n) return { ok: false, message: 'must be a whole number' };
    value = digits / den;
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, message: `must be at most ${rule.max} (too large)` };
  return inRange(Number(value), rule);
}

function parseCount(s: string, rule: NumberRule): NumberResult {
  const pow = POWER_OF_TWO.exec(s);
  if (pow) {
    const k = Number(pow[1]);
    if (!Number.isInteger(k) || k < 0) return { ok: false, message: 'must be a whole number' };
    if (k >= 53) return { ok: false, message: `must be at most ${rule.max} (too large)` };
    return inRange(2 ** k, rule);
  }
  const m = COUNT.exec(s);
  if (!m) return { ok: false, message: `must be ${describeRange(rule)}` };
  const exp = m[2] === undefined ? 0 : Number(m[2]);
  if (!Number.isSafeInteger(exp)) return { ok: false, message: `must be at most ${rule.max} (too large)` };
  return exactCount(m[1]!, exp, m[3] === undefined ? 1n : suffixMultiplier(m[3]), rule);
}

function parseInteger(s: string, rule: NumberRule): NumberResult {
  const fail: NumberResult = { ok: false, message: `must be ${describeRange(rule)}` };
  if (!/^\d+$/.test(s) && !HEX.test(s)) return fail;
  const v = Number(s);
  return Number.isSafeInteger(v) && v >= rule.min && v <= rule.max ? { ok: true, value: v } : fail;
}

function parseReal(s: string, rule: NumberRule): NumberResult {
  const pow = POWER_OF_TWO.exec(s);
  const v = pow ? 2 ** Number(pow[1]) : DECIMAL.test(s) ? Number(s) : Number.NaN;
  if (Number.isNaN(v)) return { ok: false, message: `must be ${describeRange(rule)}` };
  if (!Number.isFinite(v)) return { ok: false, message: `must be at most ${rule.max} (too large)` };
  return inRange(v, rule);
}

/** Reads one numeric value by its rule; the message (on failure) is a phrase such as "must be a whole number". */
export function parseNumber(raw: string, rule: NumberRule): NumberResult {
  const s = raw.trim();
  const unsigned = s.startsWith('+') ? s.slice(1) : s;
  if (rule.kind !== 'integer' && /^-/.test(s) && rule.min >= 0) {
    const magnitude = parseNumber(s.slice(1), { ...rule, min: 0, max: Number.MAX_VALUE });
    if (magnitude.ok && magnitude.value > 0)
      return { ok: false, message: rule.min > 0 ? 'must be positive' : 'must be 0 or more' };
  }
  if (rule.kind === 'count' && HEX.test(unsigned))
    return { ok: false, message: 'must be decimal, not hex (e.g. 16, 1K, 1e6, 2^20)' };
  if (rule.kind === 'count') return parseCount(unsigned, rule);
  if (rule.kind === 'integer') return parseInteger(s, rule);
  return parseReal(unsigned.startsWith('-') ? s : unsigned, rule);
}
