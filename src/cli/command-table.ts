/**
 * Every `epqrng` command: its one-line summary and a lazy import of its
 * module. `epqrng --help` and `--version` read this table without loading
 * any command (start-up cost), and the compiled package needs no directory
 * scan. Adding a command is one module in ./commands and one line here.
 */
import type { CommandTable } from './framework.ts';

export const COMMANDS: CommandTable = {
  calibrate: {
    summary: 'calibrate the chip: bias, pump, delay, window, angles; verify, then save with --save',
    load: () => import('./commands/calibrate.ts'),
  },
  info: {
    summary: 'show the chip: serial, model, firmware, protocol, calibration',
    load: () => import('./commands/info.ts'),
  },
  'install-linux': {
    summary: 'install the udev rule, the systemd unit and the rngd drop-in (dry run by default)',
    load: () => import('./commands/install-linux.ts'),
  },
  list: { summary: 'list the EPQ-1 chips connected over USB', load: () => import('./commands/list.ts') },
  record: {
    summary: 'record a trial run (both directions of the link, byte-exact) for replay and verify',
    load: () => import('./commands/record.ts'),
  },
  replay: {
    summary: "certify a recording or raw capture again: the live run's bytes and certificates",
    load: () => import('./commands/replay.ts'),
  },
  serve: {
    summary: 'serve certified random bytes over HTTP, with a live dashboard',
    load: () => import('./commands/serve.ts'),
  },
  simulate: {
    summary: 'serve a simulated EPQ-1 on a pseudo-terminal until interrupted',
    load: () => import('./commands/simulate.ts'),
  },
  stream: {
    summary: 'stream certified random bytes (Bell-tested, Toeplitz-extracted)',
    load: () => import('./commands/stream.ts'),
  },
  verify: {
    summary: 'recompute every certificate and output hash from a recording; exit 0 only if all match',
    load: () => import('./commands/verify.ts'),
  },
};
