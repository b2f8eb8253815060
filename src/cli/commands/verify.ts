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
import { UsageError } from '../../errors.ts';
import { verifyRecording, type PlannedReplay } from '../../record/verify.ts';
import { escapeControls, type CommandIo } from '../framework.ts';
import { parseCommandLine, pathValue, validateOption } from '../options.ts';
import { planReplay, replayBytes, replayOptionSpecs, type ReplayPlan } from './replay.ts';
import { extractorSeedUsage, streamOptionsUsage, targetBitsUsage } from '../stream-options.ts';
import { VerifyMismatch } from '../../record/block-check.ts';

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

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, specs, { minPositionals: 1, maxPositionals: 1 });
  const file = positionals[0]!;
  if (values.certs === undefined) throw new UsageError('--certs CERTS is required');
  if (values.out !== undefined) throw new UsageError('--out is not a verify option (did you mean --output OUT?)');
  const certsPath = validateOption('certs', pathValue, values.certs);
  const outputPath = values.output === undefined ? undefined : validateOption('output', pathValue, values.output);
  const warn = (m: string): void => void io.stderr.write(`epqrng: warning: ${escapeControls(m)}\n`);
  try {
    const plan = () => planReplay(file, values, { requireRecordedSeed: true, onWarning: warn });
    const summary = await verifyRecording({ file, certsPath, outputPath, onWarning: warn, plan: plannedReplay(plan) });
    io.stdout.write(`${summary}\n`);
    return 0;
  } catch (e) {
    if (e instanceof VerifyMismatch) {
      io.stderr.write(`epqrng: ${escapeControls(e.message)}\n`);
      return 1;
    }
    throw e;
  }
}

/** What verifyRecording needs of a replay plan (the package API's verify() does the same). */
export function plannedReplay(plan: () => Promise<ReplayPlan>): () => Promise<PlannedReplay> {
  return async () => {
    const p = await plan();
    return {
      raw: p.kind === 'raw',
      chainRestarts: p.kind === 'serve',
      replay: (hooks) => replayBytes(p, hooks),
    };
  };
}
