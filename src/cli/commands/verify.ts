/**
 * `epqrng verify FILE --certs CERTS [--output OUT] [--extractor-seed SEED]`:
 * recomputes every certificate (and, with --output, every output byte and
 * hash) from the recording by replaying it (replay.ts: the live pipeline),
 * and compares them with what the live run wrote.
 *
 * Exit 0 only when every certificate line and output byte matches; else exit
 * 1 with one line naming the first mismatch: its block, the field or byte,
 * both values (a recording that does not replay with these options, its
 * divergence named, is a mismatch too). Certificates are compared as canonical JSON (keys sorted), so
 * a re-formatted but equal line still matches.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { CertificationRefusedError, DeviceError, InputError, UsageError } from '../../errors.ts';
import { canonicalJson } from '../../certify/index.ts';
import type { ChainedBlock } from '../../output/pipeline.ts';
import { escapeControls, type CommandIo } from '../framework.ts';
import { parseCommandLine, pathValue, validateOption } from '../options.ts';
import { planReplay, replayBytes, replayOptionSpecs } from './replay.ts';
import { streamOptionsUsage } from '../stream-options.ts';

export const summary = 'recompute every certificate and output hash from a recording; exit 0 only if all match';
export const usage = `usage: epqrng verify FILE --certs CERTS [--output OUT] [--extractor-seed SEED] [stream options]
  FILE                    the recording (or raw capture) the certificates were made from
  --certs CERTS           the certificate lines to check (JSON lines, as stream/replay wrote them)
  --output OUT            also check the certified bytes in OUT, block by block
  --bytes N               as for replay (default: as recorded)
${streamOptionsUsage
  .split('\n')
  .filter((l) => !l.trimStart().startsWith('--certs'))
  .join('\n')}
The extractor seed must be the one the certificates name: --extractor-seed FILE,
or embedded in the recording. Exit 0: all match; 1: a mismatch (named); 2: bad input.`;

const specs = { ...replayOptionSpecs, output: { type: 'string' } } as const;

export class VerifyMismatch extends CertificationRefusedError {
  constructor(message: string) {
    super('VERIFY_MISMATCH', `verify: ${message}`);
  }
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? 'absent';
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The first path where two JSON values differ, with both values. */
export function firstDifference(
  given: unknown,
  recomputed: unknown,
  path = '',
): { path: string; given: unknown; recomputed: unknown } | null {
  if (given === recomputed) return null;
  const bothObjects =
    given !== null && recomputed !== null && typeof given === 'object' && typeof recomputed === 'object';
  if (bothObjects && Array.isArray(given) === Array.isArray(recomputed)) {
    const keys = Array.isArray(given)
      ? Array.from({ length: Math.max(given.length, (recomputed as unknown[]).length) }, (_, i) => String(i))
      : [...new Set([...Object.keys(given as object), ...Object.keys(recomputed as object)])].sort();
    // Own fields only: JSON.parse makes "__proto__" an own field, which an inherited lookup would not see.
    const own = (o: object, k: string): unknown =>
      Object.hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined;
    for (const k of keys) {
      const d = firstDifference(own(given as object, k), own(recomputed as object, k), path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  return { path: path || '(whole line)', given, recomputed };
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, specs, { minPositionals: 1, maxPositionals: 1 });
  const file = positionals[0]!;
  if (values.certs === undefined) throw new UsageError('--certs CERTS is required');
  if (values.out !== undefined) throw new UsageError('--out is not a verify option (did you mean --output OUT?)');
  const certsPath = validateOption('certs', pathValue, values.certs);
  const outputPath = values.output === undefined ? undefined : validateOption('output', pathValue, values.output);

  let certText: string;
  try {
    certText = await readFile(certsPath, 'utf8');
  } catch (e) {
    throw new InputError(
      'CERTS_UNREADABLE',
      `cannot read certificates ${certsPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
  const lines = certText.split('\n').filter((l) => l.trim() !== '');
  let output: FileHandle | undefined;
  if (outputPath !== undefined) {
    try {
      output = await open(outputPath, 'r');
      // open() succeeds on a directory; its first read would fail with a raw EISDIR (an internal error).
      if ((await output.stat()).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    } catch (e) {
      await output?.close();
      throw new InputError(
        'OUTPUT_UNREADABLE',
        `cannot read output ${outputPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
  }
  const warn = (m: string): void => void io.stderr.write(`epqrng: warning: ${escapeControls(m)}\n`);
  try {
    const plan = await planReplay(file, values, { requireRecordedSeed: true, onWarning: warn });
    let checked = 0;
    let outputOffset = 0;
    let current: ChainedBlock | undefined;

    const checkCertificate = (line: string, block: ChainedBlock): void => {
      current = block;
      const i = checked++;
      const blockName = `block ${block.certificate.blockIndex}`;
      if (i >= lines.length)
        throw new VerifyMismatch(
          `${blockName}: the recording certifies it, ${certsPath} ends after ${lines.length} certificates`,
        );
      let given: unknown;
      try {
        given = JSON.parse(lines[i]!);
      } catch {
        throw new VerifyMismatch(`${blockName}: line ${i + 1} of ${certsPath} is not JSON`);
      }
      // Field by field as well as canonically: canonicalJson rebuilds objects by assignment, which drops a
      // "__proto__" field (it sets the prototype), so a line with one added would otherwise verify.
      const d = firstDifference(given, JSON.parse(line));
      if (d === null && canonicalJson(given) === line) return;
      throw new VerifyMismatch(
        `${blockName} (line ${i + 1} of ${certsPath}): ${d?.path ?? '(whole line)'} is ${show(d?.given)} in the certificate, ${show(d?.recomputed)} recomputed from the recording`,
      );
    };

    const checkOutput = async (bytes: Uint8Array): Promise<void> => {
      if (!output || !current) return;
      const got = Buffer.alloc(bytes.length);
      const { bytesRead } = await output.read(got, 0, bytes.length, outputOffset);
      const blockName = `block ${current.certificate.blockIndex}`;
      const span = `bytes ${outputOffset}..${outputOffset + bytes.length - 1} of ${outputPath}`;
      if (bytesRead < bytes.length)
        throw new VerifyMismatch(
          `${blockName}: ${outputPath} ends at byte ${outputOffset + bytesRead}, the block's output runs to byte ${outputOffset + bytes.length}`,
        );
      if (!got.equals(bytes)) {
        let at = 0;
        while (got[at] === bytes[at]) at++;
        const full = bytes.length === current.bytes.length;
        const hash = createHash('sha256').update(got).digest('hex');
        throw new VerifyMismatch(
          `${blockName}: output byte ${outputOffset + at} of ${outputPath} differs from the certified output` +
            (full
              ? ` (SHA-256 of ${span} is ${hash}, the certificate says ${current.certificate.extraction.outputSha256})`
              : ''),
        );
      }
      outputOffset += bytes.length;
    };

    let refusedAtEnd: CertificationRefusedError | undefined;
    const stream = replayBytes(plan, { onWarning: warn, onCertificate: checkCertificate });
    try {
      for (;;) {
        const r = await stream.next();
        if (r.done) break;
        await checkOutput(r.value);
      }
    } catch (e) {
      // A mismatch found in the bytes leaves the replay suspended: end it (closes the recording and the replayed device).
      await stream.return(undefined).catch(() => undefined);
      if (e instanceof VerifyMismatch) throw e;
      // The live run ended the same way (its certificates stop there too); the counts below decide.
      if (e instanceof CertificationRefusedError) refusedAtEnd = e;
      // The recording does not replay with these options: nothing can be recomputed, so nothing matches.
      else if (e instanceof DeviceError && (e.code === 'REPLAY_DIVERGED' || e.code === 'REPLAY_ENDED'))
        throw new VerifyMismatch(`${file} does not replay: ${e.message}`);
      else throw e;
    }
    if (checked < lines.length) {
      throw new VerifyMismatch(
        `line ${checked + 1} of ${certsPath}: the recording certifies ${checked} blocks, ${certsPath} holds ${lines.length} certificates`,
      );
    }
    if (output) {
      const { size } = await output.stat();
      if (size > outputOffset)
        throw new VerifyMismatch(
          `${outputPath} holds ${size - outputOffset} bytes beyond the ${outputOffset} certified ones`,
        );
    }
    io.stdout.write(
      `verified ${checked} certificates${output ? ` and ${outputOffset} output bytes` : ''} against ${file}: all match` +
        (refusedAtEnd ? ` (the run then ended refused, as live: ${refusedAtEnd.message})` : '') +
        '\n',
    );
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
