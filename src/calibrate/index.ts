/**
 * `epqrng calibrate` as a library: run a calibration on any Device (or
 * anything with its commands), render its report, load and apply profiles.
 */
export { calibrate, beatsPrevious, CalibrationFailedError, type CalibrateOptions } from './procedure.ts';
export { makePlan, plannedChipTimeMs, STEP_ORDER, STEP_TITLES, type CalibrationPlan, type StepName } from './plan.ts';
export { profileSchema, parseProfile, loadProfile, type CalibrationProfile, type ProfileSettings } from './profile.ts';
export { applyProfile, type ApplyOptions } from './apply.ts';
export { renderReport } from './report.ts';
export { summaryText, ProgressBars } from './progress.ts';
export type { CalibrationPort } from './port.ts';
