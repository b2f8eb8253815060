/**
 * The service through the package's public API: device.entropyService()
 * mounted in a plain Node server, fetchRandom() as the client.
 */
import { createServer } from 'node:http';
import { expect, it } from 'vitest';
import { Device, fetchRandom } from '../../src/index.ts';

it('serves certified bytes covered by certificates the caller wrote first', async () => {
  const device = await Device.open({ simulate: { seed: 61 } });
  const lines: string[] = [];
  const { service, handler } = device.entropyService({
    blockTrials: 2 ** 21,
    writeCertificate: async (line) => {
      lines.push(line);
    },
  });
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    service.start();
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    const r = await fetchRandom(url, 1000, { waitS: 30 });
    expect(r.bytes.length).toBe(1000);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(r.certificates[0]!.blockIndex).toBe(0);
  } finally {
    handler.closeEvents();
    await new Promise((r) => server.close(r));
    await service.stop();
    await device.close();
  }
}, 120_000);
