/**
 * Command-line option parsing for every `epqrng` command: node:util parseArgs
 * (strict: unknown options and stray arguments are usage errors), then zod
 * validation of each value. Every error is a one-line UsageError (exit 2)
 * naming the option and what it accepts, e.g.
 *   --sim-mode must be one of honest, lhv, postselect, tamper, biased (got 'x')
 *
 * Options declared `optionalValue` may be given bare (`--simulate`) or with a
 * value (`--simulate=7`), never as a separate word, so `--simulate 7` is not
 * ambiguous.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { UsageError } from '../errors.ts';
import { parseNumber, type NumberRule } from '../math/numbers.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Repeatable: the values come as an array. */
  multiple?: boolean;
  short?: string;
  /** For string options: the value a bare `--name` (no `=`) stands for. */
  optionalValue?: string;
}
export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? S['multiple'] extends true
    ? boolean[]
    : boolean
  : S['multiple'] extends true
    ? string[]
    : string;
export type ParsedValues<T extends OptionSpecs> = { [K in keyof T]?: ValueOf<T[K]> };

export interface Parsed<T extends OptionSpecs> {
  values: ParsedValues<T>;
  positionals: string[];
}

/**
 * Parses argv strictly against `options`. `positionals` bounds how many
 * non-option arguments the command takes (default none).
 */
export function parseCommandLine<T extends OptionSpecs>(
  argv: readonly string[],
  options: T,
  { minPositionals = 0, maxPositionals = 0 }: { minPositionals?: number; maxPositionals?: number } = {},
): Parsed<T> {
  const args = normalizeArgs(argv, options);
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, spec] of Object.entries(options)) {
    config[name] = {
      type: spec.type,
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  let result: { values: Record<string, unknown>; positionals: string[] };
  try {
    result = parseArgs({ args, options: config, strict: true, allowPositionals: true }) as typeof result;
  } catch (e) {
    throw new UsageError(parseArgsMessage(e, options), { cause: e });
  }
  const { positionals } = result;
  if (positionals.length > maxPositionals) {
    throw new UsageError(
      maxPositionals === 0
        ? `unexpected argument '${positionals[0]}'`
        : `unexpected argument '${positionals[maxPositionals]}' (takes at most ${maxPositionals})`,
    );
  }
  if (positionals.length < minPositionals) throw new UsageError(`missing argument (takes ${minPositionals})`);
  return { values: result.values as ParsedValues<T>, positionals };
}

/**
 * Before parseArgs: a bare optional-value option gets its stand-in value, and
 * a value option followed by a negative number (`--bytes -5`, `-n -5`) takes
 * it as its value, so the number parser can say what is wrong with it
 * (parseArgs would call it an ambiguous option).
 */
function normalizeArgs(argv: readonly string[], options: OptionSpecs): string[] {
  const valued = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) {
    if (spec.type !== 'string' || spec.optionalValue !== undefined) continue;
    valued.set(`--${name}`, name);
    if (spec.short) valued.set(`-${spec.short}`, name);
  }
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const optional = Object.entries(options).find(([n, spec]) => spec.optionalValue !== undefined && arg === `--${n}`);
    const name = valued.get(arg);
    const next = argv[i + 1];
    if (optional) args.push(`--${optional[0]}=${optional[1].optionalValue}`);
    else if (name !== undefined && next !== undefined && /^-[\d.]/.test(next)) {
      args.push(`--${name}=${next}`);
      i++;
    } else args.push(arg);
  }
  return args;
}

/** parseArgs' multi-sentence messages, cut to one line naming the option. */
function parseArgsMessage(e: unknown, options: OptionSpecs): string {
  const err = e as { code?: string; message?: string };
  const msg = String(err.message ?? e);
  const opt = /'(-{1,2}[^' ]+)/.exec(msg)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${opt ?? msg.split('.')[0]} (options: ${
        Object.keys(options)
          .map((o) => `--${o}`)
          .join(', ') || 'none'
      })`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(msg)) return `${opt ?? 'an option'} needs a value`;
      if (/does not take an argument/.test(msg)) return `${opt ?? 'an option'} takes no value`;
      return msg.split('\n')[0] ?? msg;
    default:
      return msg.split('\n')[0] ?? msg;
  }
}

/**
 * Validates one option value with a zod schema; on failure a UsageError
 * `--<option> <the schema's message> (got '<raw>')`. Build schemas with the
 * helpers below so their messages read as "must be ...".
 */
export function validateOption<S extends z.ZodType>(option: string, schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const message = r.error.issues[0]?.message ?? 'is invalid';
  throw new UsageError(`--${option} ${message} (got '${String(raw)}')`);
}

/** One of a fixed list of words. */
export function oneOf<const V extends readonly [string, ...string[]]>(values: V) {
  return z.enum(values, { error: () => `must be one of ${values.join(', ')}` });
}

/** A zod schema over one option's text, read by the one number parser (numbers.ts). */
function numberSchema(rule: NumberRule) {
  return z.string().transform((s, ctx) => {
    const r = parseNumber(s, rule);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.message });
    return z.NEVER;
  });
}

/** An identifier-like integer in [min, max] (a seed): decimal or 0x hex. */
export function integer(min: number, max: number) {
  return numberSchema({ kind: 'integer', min, max });
}

/** A count in [min, max]: decimal, GNU `head -c` size suffixes (1K = 1024, 1KB = 1000), 1e6 or 2^20. */
export function count(min: number, max: number) {
  return numberSchema({ kind: 'count', min, max });
}

/** A finite number in [min, max]: a decimal (1e-3) or a power of two (2^-64). */
export function decimal(min: number, max: number) {
  return numberSchema({ kind: 'real', min, max });
}

/** A non-empty path. */
export const pathValue = z.string().min(1, { error: () => 'must be a path' });

/** `key=value` (for repeatable options like --sim-fault). */
export const keyValue = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]*=.+$/, { error: () => 'must be key=value' })
  .transform((s) => {
    const i = s.indexOf('=');
    return [s.slice(0, i), s.slice(i + 1)] as [string, string];
  });
