/** The open options every EPQ-1 binding reports, checked the same way for the simulator and the replay bindings. */
import { expect } from 'vitest';
import { withOpenDefaults } from '../../src/protocol/transport.ts';

/** A port opened with { path, baudRate: 921600 } reports serialport's defaults: 8N1, no flow control, locked, HUPCL. */
export function expectEpq1OpenOptions(port: { openOptions: unknown }, path: string): void {
  expect(port.openOptions).toEqual(withOpenDefaults({ path, baudRate: 921600 }));
  expect(port.openOptions).toMatchObject({
    dataBits: 8,
    stopBits: 1,
    parity: 'none',
    rtscts: false,
    lock: true,
    hupcl: true,
  });
}
