/**
 * A small client for `epqrng serve`: `fetchRandom(url, n)` returns the n
 * bytes and the certificates that cover them, in the order of the bytes.
 */
import { COVERAGE_HEADER } from './http.ts';

export interface CertificateReference {
  /** The service's sequence number of the block (GET /certificates?since=seq). */
  seq: number;
  /** The block's index in its chip run (the certificate's blockIndex). */
  blockIndex: number;
  /** SHA-256 of the certificate line (GET /certificates/SHA256). */
  sha256: string;
  /** Where these bytes sit in the block's output. */
  offset: number;
  length: number;
}

export interface RandomResult {
  bytes: Uint8Array;
  certificates: CertificateReference[];
}

/** Parses the coverage header (`seq=.. block=.. sha256=.. offset=.. length=..`, comma separated). */
export function parseCoverage(header: string): CertificateReference[] {
  return header.split(',').map((part) => {
    const m = /^\s*seq=(\d+) block=(\d+) sha256=([0-9a-f]{64}) offset=(\d+) length=(\d+)\s*$/.exec(part);
    if (!m) throw new Error(`malformed ${COVERAGE_HEADER} entry '${part.trim().slice(0, 120)}'`);
    return { seq: +m[1]!, blockIndex: +m[2]!, sha256: m[3]!, offset: +m[4]!, length: +m[5]! };
  });
}

export interface FetchRandomOptions {
  /** Seconds the service may wait for its pool (the `wait` parameter). */
  waitS?: number;
  /** Bearer token. */
  token?: string;
  signal?: AbortSignal;
}

/** n certified bytes from the service at `url` (its base, e.g. http://127.0.0.1:8437/ or a mount point). Throws with the service's error line otherwise. */
export async function fetchRandom(url: string | URL, n: number, opts: FetchRandomOptions = {}): Promise<RandomResult> {
  // Relative to the base, so a service mounted under a path prefix works too.
  const base = String(url);
  const u = new URL('random', base.endsWith('/') ? base : `${base}/`);
  u.searchParams.set('bytes', String(n));
  if (opts.waitS !== undefined) u.searchParams.set('wait', String(opts.waitS));
  const res = await fetch(u, {
    headers: opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {},
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const body = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) {
    let why = new TextDecoder().decode(body);
    try {
      why = (JSON.parse(why) as { error: string }).error;
    } catch {}
    throw new Error(`epqrng serve: ${res.status} ${why}`);
  }
  const certificates = parseCoverage(res.headers.get(COVERAGE_HEADER) ?? '');
  const covered = certificates.reduce((a, c) => a + c.length, 0);
  if (body.length !== n || covered !== n)
    throw new Error(`epqrng serve: asked for ${n} bytes, got ${body.length} covered by ${covered}`);
  return { bytes: body, certificates };
}
