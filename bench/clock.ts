/**
 * The clock bench/ times runs with. Wall time by default; `useCpuClock()` switches every timed
 * section of bare.ts and machine-run.ts in this process to process CPU time (user + system,
 * `process.cpuUsage`). On a machine other jobs load, wall time counts the time the scheduler
 * gave to them; CPU time counts only this process's own work, so a ratio of two runs — or a
 * MIPS figure — depends much less on the load. Both are single-threaded runs (the emulator,
 * the native hooks and the JavaScript model all run on the calling thread); V8's helper
 * threads (concurrent GC) count against the run, which only makes a figure conservative.
 */
let cpu = false;

/** Times every following bench section of this process by CPU time. */
export function useCpuClock(on = true): void {
  cpu = on;
}

/** Which clock `now()` reads. */
export function clockName(): 'cpu' | 'wall' {
  return cpu ? 'cpu' : 'wall';
}

/** Seconds on the current clock (an arbitrary origin: only differences mean anything). */
export function now(): number {
  if (!cpu) return performance.now() / 1000;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
