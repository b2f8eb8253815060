import { describe, expect, it } from 'vitest';
import { count, decimal, integer, keyValue, oneOf, parseCommandLine, validateOption } from '../../src/cli/options.ts';
import { UsageError } from '../../src/errors.ts';

const specs = {
  simulate: { type: 'string', optionalValue: '1' },
  json: { type: 'boolean' },
  fault: { type: 'string', multiple: true },
  port: { type: 'string' },
} as const;

function usageError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('parseCommandLine', () => {
  it('parses bare and valued optional-value options, repeatables and booleans', () => {
    expect(parseCommandLine(['--simulate', '--json'], specs).values).toEqual({ simulate: '1', json: true });
    expect(parseCommandLine(['--simulate=7', '--fault', 'a=1', '--fault=b=2'], specs).values).toEqual({
      simulate: '7',
      fault: ['a=1', 'b=2'],
    });
  });
  it('never takes the next word as the value of an optional-value option', () => {
    expect(usageError(() => parseCommandLine(['--simulate', '7'], specs))).toBe("unexpected argument '7'");
  });
  it('names unknown options and missing values in one line', () => {
    expect(usageError(() => parseCommandLine(['--nope'], specs))).toBe(
      'unknown option --nope (options: --simulate, --json, --fault, --port)',
    );
    expect(usageError(() => parseCommandLine(['--port'], specs))).toBe('--port needs a value');
    expect(usageError(() => parseCommandLine(['--json=1'], specs))).toBe('--json takes no value');
  });
  it('bounds positionals', () => {
    expect(parseCommandLine(['a.bin'], specs, { minPositionals: 1, maxPositionals: 1 }).positionals).toEqual(['a.bin']);
    expect(usageError(() => parseCommandLine([], specs, { minPositionals: 1, maxPositionals: 1 }))).toBe(
      'missing argument (takes 1)',
    );
  });
});

describe('validateOption', () => {
  it('names the option and the allowed values', () => {
    const modes = oneOf(['honest', 'lhv', 'postselect', 'tamper', 'biased']);
    expect(validateOption('sim-mode', modes, 'lhv')).toBe('lhv');
    expect(usageError(() => validateOption('sim-mode', modes, 'x'))).toBe(
      "--sim-mode must be one of honest, lhv, postselect, tamper, biased (got 'x')",
    );
  });
  it('checks integers and decimals against their range', () => {
    expect(validateOption('seed', integer(0, 10), '7')).toBe(7);
    expect(validateOption('seed', integer(0, 0xffff), '0x10')).toBe(16);
    for (const bad of ['11', '-1', '1.5', 'abc', '']) {
      expect(usageError(() => validateOption('seed', integer(0, 10), bad))).toBe(
        `--seed must be an integer from 0 to 10 (got '${bad}')`,
      );
    }
    expect(validateOption('eps', decimal(0, 1), '1e-3')).toBe(0.001);
    expect(usageError(() => validateOption('eps', decimal(0, 1), '2'))).toBe(
      "--eps must be a number from 0 to 1 (got '2')",
    );
  });
  it('splits key=value', () => {
    expect(validateOption('fault', keyValue, 'drop=1e-6')).toEqual(['drop', '1e-6']);
    expect(usageError(() => validateOption('fault', keyValue, 'drop'))).toBe("--fault must be key=value (got 'drop')");
  });
});

describe('every numeric option through validateOption and parseCommandLine', () => {
  it('names the option and the raw text', () => {
    expect(validateOption('bytes', count(1, 100), '1e2')).toBe(100);
    expect(usageError(() => validateOption('bytes', count(1, 100), '-5'))).toBe("--bytes must be positive (got '-5')");
    expect(validateOption('seconds', decimal(0.001, 10), '2^-3')).toBe(0.125);
    expect(validateOption('seed', integer(0, 10), '0xa')).toBe(10);
  });
  it('gives a value option a negative number as its value (not an "ambiguous" parseArgs error)', () => {
    const specs = { bytes: { type: 'string', short: 'n' }, json: { type: 'boolean' } } as const;
    expect(parseCommandLine(['--bytes', '-5'], specs).values.bytes).toBe('-5');
    expect(parseCommandLine(['-n', '-5', '--json'], specs).values).toEqual({ bytes: '-5', json: true });
    expect(parseCommandLine(['-n', '1M'], specs).values.bytes).toBe('1M');
    expect(usageError(() => parseCommandLine(['--bytes', '--json'], specs))).toMatch(
      /^Option '--bytes' argument is ambiguous|--bytes/,
    );
  });
});
