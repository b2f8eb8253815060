// One replay measurement in a process of its own, from the compiled package (dist/, plain node: what ships),
// so its peak RSS is the replay's own. Prints one JSON line.
//   node bench/lib/replay-child.mjs capture|device FILE [BLOCK_TRIALS]     (blocks of 2^20 trials by default)
//   capture: file -> reader -> runEventsFromBytes -> certifyRun (the raw-capture path of `epqrng replay`)
//   device:  file -> replay binding -> Device (record's host logic, every command checked) -> certifyRun
import { openRecording } from '../../dist/record/reader.js';
import { captureEvents, recordedRunEvents } from '../../dist/record/replay.js';
import { certifyRun } from '../../dist/certify/index.js';
import { readFileSync } from 'node:fs';

const [mode, file, blockTrialsArg] = process.argv.slice(2);
const blockTrials = Number(blockTrialsArg ?? 2 ** 20);
/** VmHWM of this process (peak-rss.ts says why not getrusage maxRSS). */
const peakRssBytes = () =>
  Number(/^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
const rec = await openRecording(file);
const header = rec.header;
await rec.close();
// A raw capture has no header: the device its certificates name is then a placeholder (capture mode only).
if (header && !header.device) throw new Error('bench recording has no device info');
if (!header && mode === 'device') throw new Error('a raw capture has no host side to replay as a device');
const device = header
  ? { serial: header.device.serial, firmware: header.device.firmware.join('.') }
  : { serial: 'EPQ1-BENCH000', firmware: '1.0.0' };
const c0 = process.cpuUsage();
const t0 = performance.now();
const events = mode === 'device' ? recordedRunEvents(file, header.commandLine).events : captureEvents(file);
let trials = 0;
let blocks = 0;
// recycleBatches: as the shipped pipeline certifies (its TRIALS batches go back to the link once certified)
for await (const block of certifyRun(events, { device, blockTrials, recycleBatches: true })) {
  blocks++;
  trials += block.ok ? block.draft.trialRange.count : block.trialRange.count;
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(
  `${JSON.stringify({ trials, seconds, cpuSeconds, maxRssMB: peakRssBytes() / 2 ** 20, blocks })}\n`,
);
