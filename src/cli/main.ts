/**
 * Process glue for `epqrng` (bin/epqrng.js imports its compiled form): runs the command
 * named by argv through the framework, then exits with its code. Anything
 * that escapes (an unhandled rejection, an uncaught exception) still ends as
 * one `epqrng: ...` line and an exit code, never a stack trace, unless
 * EPQRNG_DEBUG=1.
 */
import { describeError, runCli } from './framework.ts';

const debug = process.env.EPQRNG_DEBUG === '1';

function die(e: unknown): void {
  const { line, exitCode } = describeError(e, debug);
  process.stderr.write(`${line}\n`);
  process.exit(exitCode);
}
process.on('unhandledRejection', die);
process.on('uncaughtException', die);
// A reader that closed stdout (EPIPE) is handled where the bytes are written (the run is stopped and the
// command exits 0); a later write's asynchronous 'error' must not end the process as an uncaught exception.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') die(e);
});
// The event loop ran dry while the command still waited (a wait with no timer, no I/O behind it): Node would
// exit 13 with no word. Every wait is bounded, so this is a bug: say so, with the documented code.
process.on('beforeExit', () => die(new Error('the command was left waiting for an event that cannot come')));

const code = await runCli(
  process.argv.slice(2),
  {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: Boolean(process.stderr.isTTY),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
  },
  { debug },
);

// Let piped stdout/stderr drain before exiting (an open port or timer must not keep us alive).
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
process.exit(code);
