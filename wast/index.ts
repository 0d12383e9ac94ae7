/** The `.wast` script runner: the specification's test-suite format, run through the public API. */
export { parseWast, readSExprs, parseIntText, WastSyntaxError, MAX_SCRIPT_NESTING } from './script.ts';
export type { WastCommand, WastAction, WastModule, WastModuleSource, WastValue, WastExpected, SExpr, ScriptPosition } from './script.ts';
export { runWast } from './runner.ts';
export type { WastOptions, WastReport, WastOutcome, WastStatus } from './runner.ts';
export { spectestExports } from './spectest.ts';
