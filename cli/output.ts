/** Where commands write; tests capture it instead of stdout. */
export interface Output {
  text(line: string): void;
  json(value: unknown): void;
  error(line: string): void;
}

export const stdio: Output = {
  text: (line) => process.stdout.write(line + '\n'),
  json: (value) => process.stdout.write(JSON.stringify(value, null, 2) + '\n'),
  error: (line) => process.stderr.write(line + '\n'),
};

export function captureOutput(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout, stderr,
    text: (line) => stdout.push(line),
    json: (value) => stdout.push(JSON.stringify(value, null, 2)),
    error: (line) => stderr.push(line),
  };
}
