/**
 * The one place where the service meets the certified pipeline: a chip run
 * as an async iterable of certified chunks, each its certificate line (and
 * that line's SHA-256) with the bytes the certificate covers.
 *
 *   Device --certifiedStream (certify + extract)--> { line, sha256, certificate, bytes } ...
 *
 * The pairing is output/with-certificates.ts's, the library's too. Ending
 * the iteration (break, return) stops the chip: STOP, then its ACK.
 */
import type { Device, Run } from '../device/index.ts';
import type { RefusedBlock } from '../certify/index.ts';
import { certifiedStream, type CertifiedStreamOptions, type StreamProgress } from '../output/certified-stream.ts';
import { withCertificates, type CertifiedChunk } from '../output/with-certificates.ts';

/** The pipeline options the service passes through (the run's length is the service's business). */
export type BlockSourceOptions = Omit<CertifiedStreamOptions, 'bytes' | 'onCertificate' | 'onEnough'> & {
  onRefused?: (block: RefusedBlock) => void;
  onProgress?: (p: Readonly<StreamProgress>) => void;
  onRun?: (run: Run) => void;
};

/** One chip run's certified blocks, until the caller stops iterating, the chip ends the run or certification keeps failing. */
export function certifiedBlocks(device: Device, opts: BlockSourceOptions): AsyncGenerator<CertifiedChunk, void, void> {
  return withCertificates((onCertificate) => certifiedStream(device, { ...opts, onCertificate }));
}
