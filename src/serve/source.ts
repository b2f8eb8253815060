/**
 * The one place where the service meets the certified pipeline: a chip run
 * as an async iterable of certified blocks, each its certificate line (and
 * that line's SHA-256) with the bytes the certificate covers.
 *
 *   Device --certifiedStream (certify + extract)--> { line, sha256, certificate, bytes } ...
 *
 * certifiedStream calls onCertificate with a block's line before it yields
 * that block's bytes, so every yielded item pairs a line with its own bytes.
 * Ending the iteration (break, return) stops the chip: STOP, then its ACK.
 */
import type { Device, Run } from '../device/index.ts';
import { createHash } from 'node:crypto';
import type { Certificate, RefusedBlock } from '../certify/index.ts';
import { certifiedStream, type CertifiedStreamOptions, type StreamProgress } from '../output/certified-stream.ts';

export interface CertifiedBlock {
  /** The certificate as written (one canonical JSON line, no newline). */
  line: string;
  /** SHA-256 of the line (= hashCertificate(line)): how clients name the certificate. */
  sha256: string;
  certificate: Certificate;
  /** Exactly certificate.extraction.outputBytes bytes. */
  bytes: Uint8Array;
}

/** The pipeline options the service passes through (the run's length is the service's business). */
export type BlockSourceOptions = Omit<CertifiedStreamOptions, 'bytes' | 'onCertificate' | 'onEnough'> & {
  onRefused?: (block: RefusedBlock) => void;
  onProgress?: (p: Readonly<StreamProgress>) => void;
  onRun?: (run: Run) => void;
};

/** One chip run's certified blocks, until the caller stops iterating, the chip ends the run or certification keeps failing. */
export async function* certifiedBlocks(device: Device, opts: BlockSourceOptions): AsyncGenerator<CertifiedBlock> {
  let pending: { line: string; certificate: Certificate } | undefined;
  const stream = certifiedStream(device, {
    ...opts,
    onCertificate: (line, block) => {
      pending = { line, certificate: block.certificate };
    },
  });
  for await (const bytes of stream) {
    if (!pending) throw new Error('certified bytes without a certificate line');
    const { line, certificate } = pending;
    pending = undefined;
    // The line is already canonical JSON (formatCertificateLine), so its SHA-256 is the certificate's hash.
    yield { line, sha256: createHash('sha256').update(line).digest('hex'), certificate, bytes };
  }
}
