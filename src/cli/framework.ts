/**
 * The `epqrng` command framework, free of process side effects (main.ts is
 * the process glue): runs one command of a static table (command-table.ts,
 * each module imported only when run) and maps every error to the CLI's exit
 * codes (src/errors.ts):
 *
 *   0 ok, 1 certification refused, 2 usage or bad input, 3 device error,
 *   70 internal error (a bug: please report it with EPQRNG_DEBUG=1 output).
 *
 * Errors are one line on stderr, `epqrng: <message>`, with no stack trace
 * unless EPQRNG_DEBUG=1. A reader that closed stdout early (EPIPE, `| head`)
 * is no error: the command has stopped the chip and exits 0 quietly.
 *
 * A command module exports `usage` and `run(argv, io)`; its summary is in
 * the table.
 */
import { readFileSync } from 'node:fs';
import { isEpqError, UsageError } from '../errors.ts';
import { COMMANDS } from './command-table.ts';

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Whether stderr is a terminal (live status lines go there only then). */
  isTTY: boolean;
  /** Whether stdout is a terminal (raw bytes are not written there without --force-tty). */
  stdoutIsTTY?: boolean;
}

export interface Command {
  /** The synopsis and options, printed by `epqrng <command> --help` and after usage errors. */
  usage: string;
  /** Runs the command; resolves to the exit code. Errors thrown map to exit codes as above. */
  run(argv: string[], io: CommandIo): Promise<number>;
}

/** One command of the table: its summary line, and its module loaded on demand. */
export interface CommandEntry {
  summary: string;
  load: () => Promise<unknown>;
}
export type CommandTable = Readonly<Record<string, CommandEntry>>;

export const INTERNAL_ERROR_EXIT = 70;

/**
 * Thrown by a command whose stdout reader went away (EPIPE) after the
 * command ended its run the protocol's way: the CLI exits 0 with nothing on
 * stderr, as `yes | head` does.
 */
export class StdoutClosed extends Error {
  constructor(options?: { cause?: unknown }) {
    super('the reader closed stdout', options);
    this.name = 'StdoutClosed';
  }
}

/** The package's version (package.json, two folders up from both src/cli and dist/cli). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function commandNames(commands: CommandTable): string {
  return Object.keys(commands).sort().join(', ');
}

/** Loads one command module by name; an unknown name is a UsageError listing the commands. */
export async function loadCommand(name: string, commands: CommandTable): Promise<Command> {
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) throw new UsageError(`unknown command '${name}' (commands: ${commandNames(commands)})`);
  const mod = (await entry.load()) as Partial<Command>;
  if (typeof mod.run !== 'function' || typeof mod.usage !== 'string') {
    throw new Error(`command module ${name} does not export usage and run`);
  }
  return mod as Command;
}

/** Every exit code any command uses (the README's table says the same). */
export const EXIT_CODES_HELP = `exit codes:
  0         ok (also when a reader closes stdout early: the chip is stopped first)
  1         certification refused (nothing output for refused blocks), or verify found a mismatch
  2         usage or bad input (an option value, a file)
  3         device error (not found, no answer, refused command, fault, unplugged, protocol violation)
  70        internal error (a bug: please report it with EPQRNG_DEBUG=1 output)
  130, 143  stream --bytes N interrupted by SIGINT, SIGTERM before N bytes (whole blocks were written)`;

export function generalUsage(commands: CommandTable): string {
  const lines = [
    'usage: epqrng <command> [options]',
    "       epqrng help <command> | epqrng <command> --help | -h   (the command's options)",
    '       epqrng --version | -V',
    '',
    'commands:',
  ];
  for (const name of Object.keys(commands).sort()) lines.push(`  ${name.padEnd(10)} ${commands[name]!.summary}`);
  lines.push(
    '',
    'Counts and sizes (--bytes, --trials, --block-trials, ...) read as GNU head -c does: 1K = 1024,',
    '1KB = 1000, 1M, 1MB, 1G, ...; also 1e6 and 2^20.',
    '',
    EXIT_CODES_HELP,
  );
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
 * that names it. A run of more than 200 non-blank characters (no path,
 * hash or frame description is that long) is cut to 160 and its length.
 */
export function escapeControls(s: string): string {
  return s
    .replace(/\S{201,}/g, (w) => `${w.slice(0, 160)}...(${w.length} characters)`) // a 10 KB serial is not echoed whole
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

/** What `epqrng <argv...>` asks before any command runs: general help, a command's help, the version. */
async function preamble(
  name: string | undefined,
  rest: readonly string[],
  io: CommandIo,
  commands: CommandTable,
): Promise<number | undefined> {
  if (name === undefined) {
    io.stderr.write(generalUsage(commands));
    return 2;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`epqrng ${packageVersion()}\n`);
    return 0;
  }
  const topic = name === 'help' ? rest[0] : undefined;
  if (name === '--help' || name === '-h' || (name === 'help' && topic === undefined)) {
    io.stdout.write(generalUsage(commands));
    return 0;
  }
  if (name.startsWith('-'))
    throw new UsageError(`expected a command before '${name}' (commands: ${commandNames(commands)})`);
  const helpFor = topic ?? (wantsHelp(rest) ? name : undefined);
  if (helpFor === undefined) return undefined;
  const command = await loadCommand(helpFor, commands);
  io.stdout.write(`${commands[helpFor]!.summary}\n\n${command.usage.trimEnd()}\n`);
  return 0;
}

/** Runs `epqrng <argv...>`; resolves to the exit code and never rejects. */
export async function runCli(
  argv: readonly string[],
  io: CommandIo,
  { debug = false, commands = COMMANDS }: { debug?: boolean; commands?: CommandTable } = {},
): Promise<number> {
  const [name, ...rest] = argv;
  try {
    const early = await preamble(name, rest, io, commands);
    if (early !== undefined) return early;
    return await (await loadCommand(name!, commands)).run(rest, io);
  } catch (e) {
    if (e instanceof StdoutClosed) return 0;
    const { line, exitCode } = describeError(e, debug);
    io.stderr.write(`${line}\n`);
    return exitCode;
  }
}
