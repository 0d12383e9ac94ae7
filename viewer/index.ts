/**
 * viewer/: a run as data and as a page. RunRecorder records a run on a Store (timeline, frames
 * at safepoints and collections, snapshots of what each collection read); renderPage/writePage
 * turn records into one self-contained HTML file; replayGc runs gc/'s collector again on a
 * snapshot, with edited stack maps; frameSvg draws a frame. See viewer/README.md.
 */
export {
  RunRecorder, frameRecord, RUN_RECORD_FORMAT, DEFAULT_RECORD_LIMIT, DEFAULT_SAFEPOINT_LIMIT,
  type RunRecord, type ArchRun, type TimelineEvent, type FrameRecord, type RecordedFunction, type RecordedInstruction, type RecorderOptions,
} from './record.ts';
export { renderPage, writePage, viewerBundle, ViewerPageError } from './page.ts';
export { captureGcState, replayGc, withRunStackMaps, SnapshotError, SnapshotMachine, type GcSnapshot, type SnapshotStackMaps, type MapEdit, type ReplayOutcome } from './snapshot.ts';
export { frameSvg, type FrameSvgOptions } from './frame-svg.ts';
export {
  findSafepoint, selectSafepoints, SafepointSelectError, type FoundSafepoint, type SafepointSearch, type SafepointSearchOptions,
} from './safepoint-search.ts';
export { traceModule, traceOpened, type ModuleTraceOptions } from './trace.ts';
