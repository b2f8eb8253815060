/**
 * src/serve: the local entropy service (`epqrng serve`), below the CLI and
 * after the output stage: pool, HTTP API, SSE, Prometheus exposition,
 * dashboard, and a small client.
 */
export {
  EntropyService,
  DEFAULT_POOL_BYTES,
  type ChipReturn,
  type ServiceOptions,
  type ServiceState,
} from './service.ts';
export { EntropyPool, type CoveredRange, type Taken } from './pool.ts';
export { certifiedBlocks, type BlockSourceOptions } from './source.ts';
export type { CertifiedChunk } from '../output/with-certificates.ts';
export { createHandler, MAX_REQUEST_BYTES, COVERAGE_HEADER, type HandlerOptions } from './http.ts';
export { listen, DEFAULT_HOST, DEFAULT_PORT, type ListenOptions, type EntropyServer } from './server.ts';
export { fetchRandom, parseCoverage, type RandomResult, type CertificateReference } from './client.ts';
