/**
 * Certified bytes paired with their certificates, for consumers that want
 * both in one item: the library's certifiedBytes() and replay(), and the
 * entropy service's pool.
 *
 *   delivery (certifiedStream, replayBytes) --onCertificate(line, block), then that block's bytes--> { bytes, line, sha256, certificate }
 *
 * The delivery calls onCertificate with a block's line before it yields
 * that block's bytes (the last block's may be cut to the bytes asked for),
 * so each chunk is paired with the line written just before it.
 */
import { hashCertificate, type Certificate } from '../certify/certificate.ts';
import type { ChainedBlock } from './pipeline.ts';

/** One certified block's output (the last one may be cut) and the certificate that covers it. */
export interface CertifiedChunk {
  bytes: Uint8Array;
  /** The certificate as written: one canonical JSON line, no newline (the hash chain is over these lines). */
  line: string;
  /** SHA-256 of the line (hashCertificate): how the certificate is named. */
  sha256: string;
  certificate: Certificate;
}

/** A delivery, given the hook that hears each certificate line before its block's bytes. */
export type Delivery = (
  onCertificate: (line: string, block: ChainedBlock) => void,
) => AsyncGenerator<Uint8Array, unknown, void>;

/** Pairs each chunk of a delivery with its certificate; ending the loop early returns the delivery (STOP/ACK for a live run). */
export async function* withCertificates(delivery: Delivery): AsyncGenerator<CertifiedChunk, void, void> {
  let pending: { line: string; certificate: Certificate } | undefined;
  const it = delivery((line, block) => {
    pending = { line, certificate: block.certificate };
  });
  try {
    for (let r = await it.next(); !r.done; r = await it.next()) {
      if (!pending) throw new Error('certified bytes without a certificate line');
      const { line, certificate } = pending;
      pending = undefined;
      yield { bytes: r.value, line, sha256: hashCertificate(line), certificate };
    }
  } finally {
    await it.return(undefined);
  }
}
