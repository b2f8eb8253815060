/**
 * `verify`'s work, for the command and the package API alike: replays a
 * recording (the live pipeline, given as `replay`) and compares every
 * certificate line and output byte with what the live run wrote
 * (block-check.ts), up to what its end record says was delivered.
 *
 * Resolves to the one-line report; a mismatch throws VerifyMismatch (exit
 * 1), bad input its InputError (exit 2).
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { CertificationRefusedError, DeviceError, type EpqError, InputError } from '../errors.ts';
import type { ChainedBlock } from '../output/pipeline.ts';
import { BlockCheck, VerifyMismatch } from './block-check.ts';
import { classifyEnding, readSessionEnd } from './ending.ts';
import type { SessionEnd } from './format.ts';

/** How the recording replays (planned once the certificates and output have been opened). */
export interface PlannedReplay {
  /** A raw capture has no end record to read. */
  raw: boolean;
  /** Each run starts a new certificate chain (serve). */
  chainRestarts: boolean;
  /** The replayed pipeline: certified bytes, each block's certificate line first. */
  replay: (hooks: {
    onWarning: (m: string) => void;
    onCertificate: (line: string, block: ChainedBlock) => void;
  }) => AsyncGenerator<Uint8Array, unknown, void>;
}

export interface VerifyInput {
  /** The recording (or raw capture). */
  file: string;
  certsPath: string;
  outputPath?: string | undefined;
  plan: () => Promise<PlannedReplay>;
  onWarning: (m: string) => void;
}

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

/** Verifies `o.file` against its certificates (and output); resolves to the report line. */
export async function verifyRecording(o: VerifyInput): Promise<string> {
  const { file, certsPath, outputPath, onWarning: warn } = o;
  const certs = await readCertificates(certsPath);
  const output = await openOutput(outputPath);
  try {
    const plan = await o.plan();
    const end = plan.raw ? null : await readSessionEnd(file);
    // No end record: the host never closed the recording (killed, crashed). Check up to its last whole block.
    const crashed = !plan.raw && end === null;
    if (crashed)
      warn(
        `${file} has no end record (its host was killed or crashed): verifying up to the last whole block of ${certsPath}`,
      );
    const check = new BlockCheck({
      file,
      certsPath,
      outputPath,
      output,
      ...certs,
      crashed,
      chainRestarts: plan.chainRestarts,
    });
    const endedAsLive = await replayChecked(o, plan, check, end?.session);
    return await check.finish(end?.session, endedAsLive, warn);
  } finally {
    await output?.close();
  }
}

/** A recording that does not replay as recorded (RECONNECT_REFUSED: its second run's chip is not its first's). */
const REPLAY_FAILURES = new Set(['REPLAY_DIVERGED', 'REPLAY_ENDED', 'REPLAY_STALLED', 'RECONNECT_REFUSED']);

/**
 * Replays the recording through `check`. Returns the error the replay ended
 * with when the live session ended the same way (refused, a device fault:
 * its certificates stop there too), else undefined; a recording that does
 * not replay is a mismatch.
 */
async function replayChecked(
  o: VerifyInput,
  plan: PlannedReplay,
  check: BlockCheck,
  session: SessionEnd | undefined,
): Promise<EpqError | undefined> {
  const stream = plan.replay({ onWarning: o.onWarning, onCertificate: check.onCertificate });
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
      throw new VerifyMismatch(`${o.file} does not replay: ${e.message}`);
    throw e;
  }
}
