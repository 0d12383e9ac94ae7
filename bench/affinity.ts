/**
 * CPU affinity of the calling thread (Linux `sched_getaffinity`/`sched_setaffinity` through
 * koffi), for benches that compare a run in this process with a child process's run: a child
 * inherits the affinity of the thread that spawns it, so with this thread pinned, both runs
 * land on the same CPU. On this project's shared virtual machine the two virtual CPUs ran the
 * same native code up to 1.6× apart in speed for minutes at a time (docs/benchmarks.md,
 * 2026-12-07, 20:03–20:51): a ratio of two runs made on different CPUs measures the CPUs, not the code.
 */
import koffi from 'koffi';

const MASK_BYTES = 128; // 1,024 CPUs, glibc's cpu_set_t

interface Libc {
  getaffinity: (pid: number, size: number, mask: Uint8Array) => number;
  setaffinity: (pid: number, size: number, mask: Uint8Array) => number;
}

let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const lib = koffi.load('libc.so.6');
    libc = {
      getaffinity: lib.func('int sched_getaffinity(int pid, size_t size, _Out_ uint8_t *mask)'),
      setaffinity: lib.func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)'),
    };
  } catch {
    libc = null; // not Linux/glibc: callers measure unpinned
  }
  return libc;
}

/** The CPUs this thread may run on, ascending; null where affinity is unavailable. */
export function allowedCpus(): number[] | null {
  const c = load();
  if (!c) return null;
  const mask = new Uint8Array(MASK_BYTES);
  if (c.getaffinity(0, MASK_BYTES, mask) !== 0) return null;
  const cpus: number[] = [];
  for (let i = 0; i < MASK_BYTES * 8; i++) if (mask[i >> 3] & (1 << (i & 7))) cpus.push(i);
  return cpus;
}

/** Restricts this thread (and the processes it spawns from now on) to `cpus`; false if it cannot. */
export function pinTo(cpus: readonly number[]): boolean {
  const c = load();
  if (!c || cpus.length === 0) return false;
  const mask = new Uint8Array(MASK_BYTES);
  for (const cpu of cpus) mask[cpu >> 3] |= 1 << (cpu & 7);
  return c.setaffinity(0, MASK_BYTES, mask) === 0;
}

/**
 * Runs `body` once per CPU this thread may use, pinned to that CPU (the CPU's number passed
 * in; -1, once, where pinning is unavailable), and restores the affinity afterwards.
 */
export function onEachCpu<T>(body: (cpu: number) => T): T[] {
  const cpus = allowedCpus();
  if (!cpus || cpus.length === 0 || !pinTo([cpus[0]])) return [body(-1)];
  const out: T[] = [];
  try {
    for (const cpu of cpus) {
      if (!pinTo([cpu])) throw new Error(`bench: cannot pin this thread to CPU ${cpu}`);
      out.push(body(cpu));
    }
  } finally {
    pinTo(cpus);
  }
  return out;
}
