/**
 * `epqrng verify FILE --certs CERTS [--output OUT] [--extractor-seed SEED]`:
 * recomputes every certificate (and, with --output, every output byte and
 * hash) from the recording by replaying it (replay.ts: the live pipeline),
 * and compares them with what the live run wrote.
 *
 * Exit 0 only when at least one block verified and every certificate line
 * and output byte matches, up to what the session delivered (the recording's
 * end record says how it ended and what it delivered; one without an end
 * record, its host killed, is checked up to its last whole block, with a
 * warning); else exit 1 with one line naming the first mismatch: its block,
 * the field or byte, both values (a recording that does not replay with
 * these options, its divergence named, is a mismatch too). Certificates are
 * compared as canonical JSON (keys sorted), so a re-formatted but equal line
 * still matches.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { CertificationRefusedError, DeviceError, type EpqError, InputError, UsageError } from '../../errors.ts';
import { classifyEnding, readSessionEnd } from '../../record/ending.ts';
import type { SessionEnd } from '../../record/format.ts';
import { escapeControls, type CommandIo } from '../framework.ts';
import { parseCommandLine, pathValue, validateOption } from '../options.ts';
import { planReplay, replayBytes, replayOptionSpecs, type ReplayPlan } from './replay.ts';
import { extractorSeedUsage, streamOptionsUsage, targetBitsUsage } from '../stream-options.ts';
import { BlockCheck, VerifyMismatch } from '../../record/block-check.ts';

export const usage = `usage: epqrng verify FILE --certs CERTS [--output OUT] [--extractor-seed SEED] [stream options]
  FILE                    the recording (or raw capture) the certificates were made from
  --certs CERTS           the certificate lines to check (JSON lines, as stream/replay wrote them)
  --output OUT            also check the certified bytes in OUT, block by block
  --bytes N               as for replay (default: as recorded)
${streamOptionsUsage
  .split('\n')
  .filter((l) => !l.trimStart().startsWith('--certs'))
  .join('\n')}
${targetBitsUsage}
${extractorSeedUsage('the recorded one')}
The extractor seed must be the one the certificates name (its SHA-256): --extractor-seed FILE,
the seed embedded in the recording, or the seed file it names if it is here.
The recording's end record says how the session ended and what it delivered:
verify checks up to there (no --bytes needed) and names the ending; a recording
without one (its host was killed) is checked up to the last whole block, with a warning.
Exit 0: all match, at least one block; 1: a mismatch (named) or no block certified;
2: bad input (a file with no EPQ-1 frame in its first 1 MiB).`;

const specs = { ...replayOptionSpecs, output: { type: 'string' } } as const;

export { firstDifference, VerifyMismatch } from '../../record/block-check.ts';

/** The certificate lines of CERTS; `torn` when the file does not end with a newline (a write cut by a crash). */
async function readCertificates(certsPath: string): Promise<{ lines: string[]; torn: boolean }> {
  let text: string;
  try {
    text = await readFile(certsPath, 'utf8');
  } catch (e) {
    throw new InputError(
      'CERTS_UNREADABLE',
      `cannot read certificates ${certsPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return { lines, torn: text.length > 0 && !text.endsWith('\n') };
}

async function openOutput(outputPath: string | undefined): Promise<FileHandle | undefined> {
  if (outputPath === undefined) return undefined;
  let output: FileHandle | undefined;
  try {
    output = await open(outputPath, 'r');
    // open() succeeds on a directory; its first read would fail with a raw EISDIR (an internal error).
    if ((await output.stat()).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return output;
  } catch (e) {
    await output?.close();
    throw new InputError(
      'OUTPUT_UNREADABLE',
      `cannot read output ${outputPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, specs, { minPositionals: 1, maxPositionals: 1 });
  const file = positionals[0]!;
  if (values.certs === undefined) throw new UsageError('--certs CERTS is required');
  if (values.out !== undefined) throw new UsageError('--out is not a verify option (did you mean --output OUT?)');
  const certsPath = validateOption('certs', pathValue, values.certs);
  const outputPath = values.output === undefined ? undefined : validateOption('output', pathValue, values.output);
  const certs = await readCertificates(certsPath);
  const output = await openOutput(outputPath);
  const warn = (m: string): void => void io.stderr.write(`epqrng: warning: ${escapeControls(m)}\n`);
  try {
    const plan = await planReplay(file, values, { requireRecordedSeed: true, onWarning: warn });
    const end = plan.kind === 'raw' ? null : await readSessionEnd(file);
    // No end record: the host never closed the recording (killed, crashed). Check up to its last whole block.
    const crashed = plan.kind !== 'raw' && end === null;
    if (crashed)
      warn(
        `${file} has no end record (its host was killed or crashed): verifying up to the last whole block of ${certsPath}`,
      );
    const check = new BlockCheck({ file, certsPath, outputPath, output, ...certs, crashed });
    const endedAsLive = await replayChecked(plan, check, end?.session, warn);
    const summary = await check.finish(end?.session, endedAsLive, warn);
    io.stdout.write(`${summary}\n`);
    return 0;
  } catch (e) {
    if (e instanceof VerifyMismatch) {
      io.stderr.write(`epqrng: ${escapeControls(e.message)}\n`);
      return 1;
    }
    throw e;
  } finally {
    await output?.close();
  }
}

/**
 * Replays the recording through `check`. Returns the error the replay ended
 * with when the live session ended the same way (refused, a device fault:
 * its certificates stop there too), else undefined; a recording that does
 * not replay is a mismatch.
 */
async function replayChecked(
  plan: ReplayPlan,
  check: BlockCheck,
  session: SessionEnd | undefined,
  warn: (m: string) => void,
): Promise<EpqError | undefined> {
  const stream = replayBytes(plan, { onWarning: warn, onCertificate: check.onCertificate });
  try {
    for (;;) {
      const r = await stream.next();
      if (r.done) return undefined;
      await check.output(r.value);
    }
  } catch (e) {
    // A mismatch found in the bytes leaves the replay suspended: end it (closes the recording and the replayed device).
    await stream.return(undefined).catch(() => undefined);
    if (e instanceof VerifyMismatch) throw e;
    // The live run ended the same way (its certificates stop there too); the counts decide.
    if (e instanceof CertificationRefusedError) return e;
    if (
      e instanceof DeviceError &&
      session &&
      classifyEnding({ wanted: 0, written: 0, error: e }).ending === session.ending
    )
      return e;
    // The recording does not replay with these options: nothing can be recomputed, so nothing matches.
    if (e instanceof DeviceError && REPLAY_FAILURES.has(e.code))
      throw new VerifyMismatch(`${plan.file} does not replay: ${e.message}`);
    throw e;
  }
}

const REPLAY_FAILURES = new Set(['REPLAY_DIVERGED', 'REPLAY_ENDED', 'REPLAY_STALLED']);
