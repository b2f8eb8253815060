/**
 * The `epqrng` command framework, free of process side effects (main.ts is
 * the process glue): finds commands by file name in ./commands, runs one, and
 * maps every error to the CLI's exit codes (src/errors.ts):
 *
 *   0 ok, 1 certification refused, 2 usage or bad input, 3 device error,
 *   70 internal error (a bug: please report it with EPQRNG_DEBUG=1 output).
 *
 * Errors are one line on stderr, `epqrng: <message>`, with no stack trace
 * unless EPQRNG_DEBUG=1.
 *
 * A command is a module src/cli/commands/<name>.ts exporting `summary`,
 * `usage` and `run(argv, io)`: adding one needs no registry edit here.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isEpqError, UsageError } from '../errors.ts';

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Whether stderr is a terminal (live status lines go there only then). */
  isTTY: boolean;
}

export interface Command {
  /** One line for the command list. */
  summary: string;
  /** The synopsis and options, printed by `epqrng <command> --help` and after usage errors. */
  usage: string;
  /** Runs the command; resolves to the exit code. Errors thrown map to exit codes as above. */
  run(argv: string[], io: CommandIo): Promise<number>;
}

export const INTERNAL_ERROR_EXIT = 70;

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
const COMMAND_NAME = /^[a-z][a-z0-9-]*$/;

/** The commands present in src/cli/commands, sorted. */
export function listCommands(dir = commandsDir): string[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -3))
    .filter((n) => COMMAND_NAME.test(n))
    .sort();
}

/** Loads one command module by name; an unknown name is a UsageError listing the commands. */
export async function loadCommand(name: string, dir = commandsDir): Promise<Command> {
  const names = listCommands(dir);
  if (!COMMAND_NAME.test(name) || !names.includes(name)) {
    throw new UsageError(`unknown command '${name}' (commands: ${names.join(', ')})`);
  }
  const mod = (await import(pathToFileURL(join(dir, `${name}.ts`)).href)) as Partial<Command>;
  if (typeof mod.run !== 'function' || typeof mod.summary !== 'string' || typeof mod.usage !== 'string') {
    throw new Error(`command module ${name}.ts does not export summary, usage and run`);
  }
  return mod as Command;
}

export async function generalUsage(dir = commandsDir): Promise<string> {
  const lines = ['usage: epqrng <command> [options]   (epqrng <command> --help for its options)', '', 'commands:'];
  for (const name of listCommands(dir)) {
    let summary = '';
    try {
      summary = (await loadCommand(name, dir)).summary;
    } catch {
      summary = '(fails to load)';
    }
    lines.push(`  ${name.padEnd(10)} ${summary}`);
  }
  lines.push('', 'exit codes: 0 ok, 1 certification refused, 2 usage or bad input, 3 device error');
  return `${lines.join('\n')}\n`;
}

/** Whether argv asks for help (before any `--`). */
function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters escapeControls escapes.
const CONTROL_CHARS = /[\x00-\x1f\x7f-\x9f]/g;

/**
 * Messages quote files and the wire (a recording's header, a certificate, a
 * seed path): control characters (and Unicode bidi overrides) are shown
 * escaped (`\x1b`, `\u202e`), so a crafted file cannot move the cursor,
 * recolour, hide or reorder text, e.g. print "all match" over the error
 * that names it.
 */
export function escapeControls(s: string): string {
  return s
    .replace(CONTROL_CHARS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(/[\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`); // bidi overrides, line separators
}

/** The one line printed for an error, and its exit code. */
export function describeError(e: unknown, debug = false): { line: string; exitCode: number } {
  const oneLine = (s: string) => escapeControls(s.replace(/\s*\n\s*/g, ' ').trim());
  const stack = debug && e instanceof Error && e.stack ? `\n${e.stack}` : '';
  if (isEpqError(e)) return { line: `epqrng: ${oneLine(e.message)}${stack}`, exitCode: e.exitCode };
  const message = e instanceof Error ? e.message : String(e);
  return { line: `epqrng: internal error: ${oneLine(message)}${stack}`, exitCode: INTERNAL_ERROR_EXIT };
}

/** Runs `epqrng <argv...>`; resolves to the exit code and never rejects. */
export async function runCli(
  argv: readonly string[],
  io: CommandIo,
  { debug = false, dir = commandsDir } = {},
): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      io.stderr.write(await generalUsage(dir));
      return 2;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      io.stdout.write(await generalUsage(dir));
      return 0;
    }
    if (name.startsWith('-'))
      throw new UsageError(`expected a command before '${name}' (commands: ${listCommands(dir).join(', ')})`);
    const command = await loadCommand(name, dir);
    if (wantsHelp(rest)) {
      io.stdout.write(`${command.summary}\n\n${command.usage.trimEnd()}\n`);
      return 0;
    }
    return await command.run(rest, io);
  } catch (e) {
    const { line, exitCode } = describeError(e, debug);
    io.stderr.write(`${line}\n`);
    return exitCode;
  }
}
