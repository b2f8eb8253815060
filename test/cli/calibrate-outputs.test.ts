/**
 * `epqrng calibrate` output files as user input (src/cli/commands/calibrate.ts):
 * an unwritable --profile or --report is refused before the chip is touched,
 * not found after a whole calibration (whose results it would lose).
 */
import { describe, it } from 'vitest';
import { epqrngInProcess, expectOneLineError } from './run-cli.ts';

describe('epqrng calibrate outputs', () => {
  // The port does not exist: an error about it (exit 3) would mean the chip was reached first.
  it('an unwritable --profile or --report: exit 2 naming it, before the device is opened', async () => {
    expectOneLineError(
      await epqrngInProcess('calibrate', '--port', '/nonexistent/epq', '--profile', '/nonexistent/dir/p.json'),
      2,
      /^epqrng: cannot write profile \/nonexistent\/dir\/p\.json: ENOENT$/,
    );
    expectOneLineError(
      await epqrngInProcess('calibrate', '--port', '/nonexistent/epq', '--report', '/tmp'),
      2,
      /^epqrng: cannot write report \/tmp: EISDIR$/,
    );
  });

  it('a writable one does not stop the command reaching the device', async () => {
    expectOneLineError(
      await epqrngInProcess('calibrate', '--port', '/nonexistent/epq', '--report', '/tmp/epqrng-unused-report.html'),
      3,
      /^epqrng: cannot open \/nonexistent\/epq/,
    );
  });
});
