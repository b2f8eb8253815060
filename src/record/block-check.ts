/**
 * `epqrng verify`'s comparison: each block the replay recomputes against the
 * certificate line and the output bytes the live run wrote, and at the end
 * what the recording's end record says the session delivered.
 *
 * A recording without an end record (its host was killed: SIGKILL, a crash)
 * is checked up to the last whole block of the certificate file. The live
 * host wrote each certificate line, then its block's bytes, and the recording
 * is always ahead of both (src/record/writer.ts), so at the kill:
 * - the recording may certify blocks beyond the certificate file;
 * - the last certificate line may be cut (a proper prefix of the recomputed
 *   line, with no newline after it);
 * - the output may end inside, or before, the last certified block.
 * Everything present must still match byte for byte: an edited byte is a
 * mismatch, whatever the ending.
 */
import type { FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { canonicalJson, hashCertificate } from '../certify/index.ts';
import { CertificationRefusedError, type EpqError } from '../errors.ts';
import type { ChainedBlock } from '../output/pipeline.ts';
import { describeEnding } from './ending.ts';
import type { SessionEnd } from './format.ts';

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

function parses(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

export interface BlockCheckOptions {
  /** The recording (for messages). */
  file: string;
  certsPath: string;
  /** The certificate lines of certsPath; `torn` when the file does not end with a newline. */
  lines: string[];
  torn: boolean;
  outputPath?: string | undefined;
  output?: FileHandle | undefined;
  /** The recording has no end record: check up to the last whole block (see above). */
  crashed: boolean;
  /** Each run starts a new chain (serve: every START); else one chain runs through every run. */
  chainRestarts?: boolean;
}

export class BlockCheck {
  /** Certificate lines matched. */
  private checked = 0;
  private outputOffset = 0;
  private current: ChainedBlock | undefined;
  /** Blocks recomputed past the certificate file (a killed host only). */
  private beyond = 0;
  private tornLine = false;
  /** Where the output ended inside (or before) a certified block's bytes (a killed host only). */
  private shortOutput: { block: number; at: number } | null = null;
  private lastHash: string | null = null;

  constructor(private readonly o: BlockCheckOptions) {}

  /** Pass as the replay's onCertificate. */
  readonly onCertificate = (line: string, block: ChainedBlock): void => {
    this.current = block;
    const { lines, certsPath, crashed, torn } = this.o;
    const i = this.checked;
    const blockName = `block ${block.certificate.blockIndex}`;
    if (this.beyond > 0 || this.tornLine || i >= lines.length) {
      if (crashed) {
        this.beyond++;
        return;
      }
      throw new VerifyMismatch(
        `${blockName}: the recording certifies it, ${certsPath} ends after ${lines.length} certificates`,
      );
    }
    const text = lines[i]!;
    if (crashed && torn && i === lines.length - 1 && !parses(text) && line.startsWith(text)) {
      this.tornLine = true;
      return;
    }
    let given: unknown;
    try {
      given = JSON.parse(text);
    } catch {
      throw new VerifyMismatch(`${blockName}: line ${i + 1} of ${certsPath} is not JSON`);
    }
    // Field by field as well as canonically: canonicalJson rebuilds objects by assignment, which drops a
    // "__proto__" field (it sets the prototype), so a line with one added would otherwise verify.
    const d = firstDifference(given, JSON.parse(line));
    if (d === null && canonicalJson(given) === line) {
      this.checkChain(block, blockName, i);
      this.checked++;
      this.lastHash = hashCertificate(line);
      return;
    }
    throw new VerifyMismatch(
      `${blockName} (line ${i + 1} of ${certsPath}): ${d?.path ?? '(whole line)'} is ${show(d?.given)} in the certificate, ${show(d?.recomputed)} recomputed from the recording`,
    );
  };

  /**
   * The chain, across runs too: each certificate names the hash of the line
   * before it; only the first, and (serve) the first of each run, start a
   * chain (null).
   */
  private checkChain(block: ChainedBlock, blockName: string, i: number): void {
    const prev = block.certificate.extraction.prevCertificateSha256;
    if (prev === this.lastHash) return;
    if (prev === null && this.o.chainRestarts && block.certificate.blockIndex === 0) return;
    throw new VerifyMismatch(
      `${blockName} (line ${i + 1} of ${this.o.certsPath}): the chain is broken: prevCertificateSha256 is ${prev ?? 'null'}, the line before hashes to ${this.lastHash ?? 'nothing'}`,
    );
  }

  /** Each block's bytes, as the replay yields them (after its certificate). */
  async output(bytes: Uint8Array): Promise<void> {
    const { output, outputPath, crashed } = this.o;
    const current = this.current;
    if (!output || !current || this.beyond > 0 || this.tornLine) return;
    const blockName = `block ${current.certificate.blockIndex}`;
    if (this.shortOutput)
      throw new VerifyMismatch(
        `${blockName}: ${outputPath} ends at byte ${this.shortOutput.at}, inside block ${this.shortOutput.block}, and the certificates go on`,
      );
    const got = Buffer.alloc(bytes.length);
    const { bytesRead } = await output.read(got, 0, bytes.length, this.outputOffset);
    const span = `bytes ${this.outputOffset}..${this.outputOffset + bytes.length - 1} of ${outputPath}`;
    if (bytesRead < bytes.length && !crashed)
      throw new VerifyMismatch(
        `${blockName}: ${outputPath} ends at byte ${this.outputOffset + bytesRead}, the block's output runs to byte ${this.outputOffset + bytes.length}`,
      );
    const have = got.subarray(0, bytesRead);
    if (!have.equals(bytes.subarray(0, bytesRead))) {
      let at = 0;
      while (have[at] === bytes[at]) at++;
      const full = bytesRead === bytes.length && bytes.length === current.bytes.length;
      const hash = createHash('sha256').update(got).digest('hex');
      throw new VerifyMismatch(
        `${blockName}: output byte ${this.outputOffset + at} of ${outputPath} differs from the certified output` +
          (full
            ? ` (SHA-256 of ${span} is ${hash}, the certificate says ${current.certificate.extraction.outputSha256})`
            : ''),
      );
    }
    this.outputOffset += bytesRead;
    if (bytesRead < bytes.length) this.shortOutput = { block: current.certificate.blockIndex, at: this.outputOffset };
  }

  /**
   * After the replay: the counts, then what the end record says was
   * delivered. Returns the report line; throws VerifyMismatch.
   */
  async finish(
    session: SessionEnd | undefined,
    endedAsLive: EpqError | undefined,
    warn: (m: string) => void,
  ): Promise<string> {
    const { file, certsPath, lines, output, outputPath } = this.o;
    const whole = lines.length - (this.tornLine ? 1 : 0);
    if (this.checked < whole) {
      throw new VerifyMismatch(
        `line ${this.checked + 1} of ${certsPath}: the recording certifies ${this.checked} blocks, ${certsPath} holds ${lines.length} certificates`,
      );
    }
    if (output) {
      const { size } = await output.stat();
      if (size > this.outputOffset)
        throw new VerifyMismatch(
          `${outputPath} holds ${size - this.outputOffset} bytes beyond the ${this.outputOffset} certified ones`,
        );
    }
    if (session) this.checkDelivered(session);
    if (this.checked === 0)
      throw new VerifyMismatch(
        endedAsLive ? `no block certified: ${endedAsLive.message}` : `no block certified: ${file} certifies no block`,
      );
    if (this.tornLine) warn(`the last line of ${certsPath} is cut (the host stopped while writing it): not verified`);
    if (this.shortOutput)
      warn(`${outputPath} ends inside block ${this.shortOutput.block} (the host stopped while writing it)`);
    if (this.beyond > 0)
      warn(
        `${file} certifies ${this.beyond} more blocks than ${certsPath} holds (its host stopped before writing them)`,
      );
    return (
      `verified ${this.checked} certificates${output ? ` and ${this.outputOffset} output bytes` : ''} against ${file}: all match` +
      (endedAsLive
        ? ` (the run then ended ${endedAsLive instanceof CertificationRefusedError ? 'refused' : 'in error'}, as live: ${endedAsLive.message})`
        : '') +
      (session ? `; ${describeEnding(session)}` : '')
    );
  }

  /** The end record's account of what was delivered must be what the files hold. */
  private checkDelivered(session: SessionEnd): void {
    const { file, certsPath, output, outputPath } = this.o;
    const d = session.delivered;
    if (d.blocks !== this.checked)
      throw new VerifyMismatch(
        `${certsPath} holds ${this.checked} certificates, the end record of ${file} says ${d.blocks} blocks were delivered`,
      );
    if (output && d.bytes !== this.outputOffset)
      throw new VerifyMismatch(
        `${outputPath} holds ${this.outputOffset} certified bytes, the end record of ${file} says ${d.bytes} were delivered`,
      );
    if (d.lastCertificateSha256 !== this.lastHash)
      throw new VerifyMismatch(
        `the last certificate of ${certsPath} hashes to ${this.lastHash ?? 'nothing'}, the end record of ${file} names ${d.lastCertificateSha256 ?? 'none'}`,
      );
  }
}
