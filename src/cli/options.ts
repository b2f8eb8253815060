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
  const args = argv.map((arg) => {
    for (const [name, spec] of Object.entries(options)) {
      if (spec.optionalValue !== undefined && arg === `--${name}`) return `--${name}=${spec.optionalValue}`;
    }
    return arg;
  });
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

/** An integer in [min, max], from its decimal (or 0x hex) text. */
export function integer(min: number, max: number) {
  const message = `must be an integer from ${min} to ${max}`;
  return z
    .string({ error: () => message })
    .trim()
    .regex(/^(-?\d+|0x[0-9a-fA-F]+)$/, { error: () => message })
    .transform((s) => Number(s))
    .pipe(
      z
        .number()
        .int()
        .min(min, { error: () => message })
        .max(max, { error: () => message }),
    );
}

/** A finite number in [min, max]. */
export function decimal(min: number, max: number) {
  const message = `must be a number from ${min} to ${max}`;
  return z
    .string({ error: () => message })
    .trim()
    .regex(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, { error: () => message })
    .transform((s) => Number(s))
    .pipe(
      z
        .number()
        .min(min, { error: () => message })
        .max(max, { error: () => message }),
    );
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
