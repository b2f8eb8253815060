/**
 * src/device public API: one EPQ-1 over any serialport binding.
 * See device.ts (commands, faults, unplug), run.ts (runs as batched async
 * iterables, replay of raw bytes) and discovery.ts (USB ids, serial numbers).
 */
export { Device } from './device.ts';
export { DeviceFaultError, FAULT_NAMES, faultNames } from './faults.ts';
export { RunWatchdog, WATCHDOG_PERIODS, watchdogIntervalMs } from './watchdog.ts';
export type { DeviceOpenOptions, DeviceStats, MeasureCountsOptions, StartOptions } from './device.ts';
export {
  Run,
  RunEventAssembler,
  DeviceSeqTracker,
  runEventsFromBytes,
  emptyRunStats,
  perFrameEvents,
  TrialsBatch,
  trialsBatchOf,
} from './run.ts';
export type { RunEvent, RunStats, RunOptions, RunControl } from './run.ts';
export {
  listDevices,
  findBySerial,
  isEpq1Port,
  defaultLister,
  withSysfsFallback,
  EPQ1_VENDOR_ID,
  EPQ1_PRODUCT_ID,
} from './discovery.ts';
export { listFromSysfs } from './sysfs.ts';
export type { DiscoveredDevice, PortLister } from './discovery.ts';
