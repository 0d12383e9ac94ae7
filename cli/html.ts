/**
 * `--html FILE` and `--arch both` for run, explain and gc: the commands record their runs with
 * viewer/'s RunRecorder and write one page at the end. viewer/ is loaded only when --html is
 * given (it bundles the page's code with esbuild the first time).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ARCHES, parseArch, type Arch } from '../isa/arch.ts';
import type { Module, Store } from '../runtime/api.ts';
import type { ArchRun, RunRecorder } from '../viewer/index.ts';
import { UsageError, type ParsedArgs } from './args.ts';
import type { Output } from './output.ts';

type Viewer = typeof import('../viewer/index.ts');

/** The arches a command runs on: --arch both means x64 then aarch64 (only with --html). Undefined: the command's default. */
export function archesOf(args: ParsedArgs, command: string): Array<Arch | undefined> {
  const a = args.flags.get('arch');
  if (a === 'both') {
    if (!args.flags.has('html')) throw new UsageError('--arch both records the run on both arches for a page: give --html FILE too', command);
    if (args.flags.has('json')) throw new UsageError('--arch both cannot be combined with --json (one JSON document per run)', command);
    return [...ARCHES];
  }
  if (typeof a === 'string' && !parseArch(a)) throw new UsageError(`--arch: unknown architecture '${a}' (x64, aarch64 or both)`, command);
  return [typeof a === 'string' ? parseArch(a) : undefined];
}

/** The page being made: one recording per arch. */
export class HtmlPage {
  readonly runs: ArchRun[] = [];

  private constructor(
    readonly file: string,
    private readonly viewer: Viewer,
    private readonly command: string,
    /** `--trace=insn` (run) records every instruction instead of every block. */
    private readonly granularity: 'block' | 'insn',
  ) {}

  /** `--html FILE`, or undefined. */
  static async fromArgs(args: ParsedArgs, command: string): Promise<HtmlPage | undefined> {
    const file = args.flags.get('html');
    if (file === undefined) return undefined;
    if (typeof file !== 'string' || file === '') throw new UsageError('--html needs a file name', command);
    // Said before the run rather than after it.
    const dir = dirname(resolve(file));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--html ${file}: no directory ${dir} to write the page into`, command);
    return new HtmlPage(file, await import('../viewer/index.ts'), command, args.flags.get('trace') === 'insn' ? 'insn' : 'block');
  }

  /** Starts recording `store` running `module` (compiled from `sourceFile` when it is WAT). */
  record(store: Store, module: Module, sourceFile: string): RunRecorder {
    const source = /\.wat$/i.test(sourceFile) && existsSync(sourceFile) ? { file: basename(sourceFile), text: readFileSync(sourceFile, 'utf8') } : undefined;
    return new this.viewer.RunRecorder({ store, module, moduleName: basename(sourceFile), granularity: this.granularity, ...(source ? { source } : {}) });
  }

  add(run: ArchRun): void {
    this.runs.push(run);
  }

  /** Writes the page and says where (on stderr when stdout carries JSON). */
  async write(out: Output, title: string, argv: readonly string[], json: boolean): Promise<string | undefined> {
    if (this.runs.length === 0) return undefined; // every run failed before it started
    const path = await this.viewer.writePage(this.file, {
      format: this.viewer.RUN_RECORD_FORMAT, title, command: ['stackscope', this.command, ...argv].join(' '), runs: this.runs,
    });
    const line = `page: ${path} (${this.runs.map((r) => r.arch).join(' and ')}; open it in a browser)`;
    if (json) out.error(line);
    else out.text(line);
    return path;
  }
}
