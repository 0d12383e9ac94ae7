/**
 * `npm run examples [-- NAME...]`: recompiles every example's .wat to its committed images
 * (`<name>.x64.o`, `<name>.aarch64.o`), runs each image through its driver and writes
 * `expected.<arch>.txt`. examples/examples.test.ts checks that both are up to date.
 *
 * `npm run examples -- --print NAME... [--arch x64|aarch64]` only runs the committed images and
 * prints their output; nothing is written.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import {
  ARCHES, EXAMPLES_DIR, EXAMPLE_NAMES, ExampleError, compileExample, exampleFiles, runCommittedExample, runExample, type Arch,
} from './harness.ts';

const USAGE = 'usage: npm run examples [-- [--print] [--arch x64|aarch64] [NAME...]]';

async function main(argv: readonly string[]): Promise<number> {
  let printOnly = false;
  let arches: readonly Arch[] = ARCHES;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--print') printOnly = true;
    else if (a === '--arch' && (argv[i + 1] === 'x64' || argv[i + 1] === 'aarch64')) arches = [argv[++i] as Arch];
    else if (a.startsWith('-')) {
      process.stderr.write(`examples: unknown or incomplete option '${a}'\n${USAGE}\n`);
      return 2;
    } else names.push(a);
  }
  if (!names.length) names.push(...EXAMPLE_NAMES);
  for (const name of names) {
    let files;
    try {
      files = exampleFiles(name);
    } catch (e) {
      if (e instanceof ExampleError) {
        process.stderr.write(`examples: ${e.message}\n`);
        return 2;
      }
      throw e;
    }
    for (const arch of arches) {
      if (printOnly) {
        process.stdout.write(`== ${name} on ${arch} ==\n${await runCommittedExample(name, arch)}`);
        continue;
      }
      const image = await compileExample(name, arch);
      writeFileSync(files.image(arch), image);
      // The expected output comes from the image just written, as the test runs it.
      const output = await runExample(name, arch, image);
      writeFileSync(files.expected(arch), output);
      process.stdout.write(`${relative(EXAMPLES_DIR, files.image(arch))}: ${image.length} bytes; ` +
        `${relative(EXAMPLES_DIR, files.expected(arch))}: ${output.split('\n').length - 1} lines\n`);
    }
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
