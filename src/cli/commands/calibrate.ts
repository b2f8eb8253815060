/**
 * `epqrng calibrate`: finds the chip's hidden values by measuring it (dark
 * counts, bias, pump, delay, fringes), sets its best operating point, and
 * verifies it with a trial run (issue 4). See src/calibrate/procedure.ts.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InputError, UsageError } from '../../errors.ts';
import { applyProfile } from '../../calibrate/apply.ts';
import { calibrate } from '../../calibrate/procedure.ts';
import { makePlan, plannedChipTimeMs } from '../../calibrate/plan.ts';
import { loadProfile, type CalibrationProfile } from '../../calibrate/profile.ts';
import { ProgressBars, summaryText } from '../../calibrate/progress.ts';
import { renderReport } from '../../calibrate/report.ts';
import type { CommandIo } from '../framework.ts';
import { parseCommandLine, pathValue, validateOption } from '../options.ts';
import { deviceOptionSpecs, deviceOptionsUsage, deviceSelection, openDevice } from '../device-options.ts';

export const usage = `usage: epqrng calibrate [--simulate[=SEED] | --port P | --serial S] [--save] [--report FILE.html]
                        [--profile FILE.json] [--json] [--quick] [--force-stop]
       epqrng calibrate --apply FILE.json [device options] [--save] [--force-stop]
  --save          store the new calibration in the chip (SAVE_CALIBRATION), only if its
                  verification run beats the previous calibration's; without --save the
                  chip is RESET at the end and left with its previous calibration
  --report FILE   write a self-contained HTML report with the plots
  --profile FILE  write the calibration profile (JSON: every fitted value, its
                  uncertainty and the raw sweeps)
  --json          print the profile on stdout (the summary then goes to stderr)
  --quick         about half the chip time (about ${Math.round(plannedChipTimeMs(makePlan('quick')) / 1000)} s instead of ${Math.round(plannedChipTimeMs(makePlan('normal')) / 1000)} s), less precise
  --force-stop    a chip found running trials (or in FAULT) is stopped and RESET
                  instead of refused
  --apply FILE    put a saved profile's settings in force (with --save: store them);
                  the profile must validate and belong to this chip

${deviceOptionsUsage}

A simulated chip (--simulate) starts calibrated; add --sim-uncalibrated for a new one.
Exit codes: 0 done (saved or not: the summary says which), 2 usage or bad profile,
3 device error or a step failed (the chip is reset to its previous calibration).`;

const specs = {
  ...deviceOptionSpecs,
  save: { type: 'boolean' },
  report: { type: 'string' },
  profile: { type: 'string' },
  json: { type: 'boolean' },
  quick: { type: 'boolean' },
  'force-stop': { type: 'boolean' },
  apply: { type: 'string' },
} as const;

async function writeOutput(path: string, text: string, what: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (e) {
    throw new InputError(
      'OUTPUT_UNWRITABLE',
      `cannot write ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
}

/** The file can be written: it exists and is writable, or its directory exists and is writable. Nothing is created. */
function checkWritable(path: string, what: string): void {
  try {
    accessSync(existsSync(path) ? path : dirname(resolve(path)), constants.W_OK);
    if (existsSync(path) && statSync(path).isDirectory())
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  } catch (e) {
    throw new InputError(
      'OUTPUT_UNWRITABLE',
      `cannot write ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  const selection = deviceSelection(values);
  const reportPath = values.report !== undefined ? validateOption('report', pathValue, values.report) : undefined;
  const profilePath = values.profile !== undefined ? validateOption('profile', pathValue, values.profile) : undefined;
  const applyPath = values.apply !== undefined ? validateOption('apply', pathValue, values.apply) : undefined;
  if (applyPath !== undefined) {
    const clash = (['report', 'profile', 'json', 'quick'] as const).find((k) => values[k] !== undefined);
    if (clash) throw new UsageError(`--apply and --${clash} cannot be combined (--apply measures nothing)`);
  }
  // Outputs that cannot be written are refused before the chip is touched: found only after the run, they
  // cost the whole calibration (and with --save the chip is already changed) and lose its results.
  if (profilePath !== undefined) checkWritable(profilePath, 'profile');
  if (reportPath !== undefined) checkWritable(reportPath, 'report');
  // A bad profile is refused before the chip is touched.
  const toApply: CalibrationProfile | undefined = applyPath !== undefined ? await loadProfile(applyPath) : undefined;

  const device = await openDevice(selection);
  try {
    if (toApply) {
      await applyProfile(device, toApply, { save: values.save === true, forceStop: values['force-stop'] === true });
      io.stdout.write(
        `applied ${applyPath} to ${device.info.serial}: ${values.save ? 'saved in the chip (SAVE_CALIBRATION)' : 'in force until RESET or power-off (not saved: add --save)'}\n`,
      );
      return 0;
    }
    const bars = io.isTTY ? new ProgressBars(io.stderr) : undefined;
    let profile: CalibrationProfile;
    try {
      profile = await calibrate(device, {
        plan: makePlan(values.quick ? 'quick' : 'normal'),
        save: values.save === true,
        forceStop: values['force-stop'] === true,
        onProgress: (step, done, total, chipMs) => bars?.update(step, done, total, chipMs),
        onStepDone: (step, chipMs) => bars?.finish(step, chipMs),
      });
    } catch (e) {
      bars?.abort();
      throw e;
    }
    if (profilePath) await writeOutput(profilePath, `${JSON.stringify(profile, null, 2)}\n`, 'profile');
    if (reportPath) await writeOutput(reportPath, renderReport(profile), 'report');
    if (values.json) {
      io.stdout.write(`${JSON.stringify(profile, null, 2)}\n`);
      io.stderr.write(summaryText(profile));
    } else {
      io.stdout.write(summaryText(profile));
    }
    return 0;
  } finally {
    await device.close().catch(() => undefined);
  }
}
