/**
 * The GC fuzzer's public API (docs/fuzzing.md): generate programs, run them against the
 * reference model on the real runtime, shrink failures, measure mutants.
 */
export { SeededChoices, ByteChoices, type Choices } from './random.ts';
export {
  HOST_IMPORTS, printWat, opCounts, statementCount, isReentrantTag,
  type Program, type FuncDef, type Stmt, type StmtKind, type RefExpr, type I32Expr,
} from './program.ts';
export {
  generateProgram, generateFrom, generateBounded, parseMix, resolveGeneratorOptions, DEFAULT_MIX, STMT_KINDS,
  type GeneratorOptions, type ResolvedGeneratorOptions,
} from './generate.ts';
export { runModel, MODEL_STEP_LIMIT, type ModelResult, type ModelObject } from './model.ts';
export { ArchRunner, prepareProgram, type PhaseTimes, type Failure, type ProgramOutcome, type RunStats, type Walker, type PreparedProgram } from './harness.ts';
export { shrinkProgram, type ShrinkOptions, type ShrinkResult } from './shrink.ts';
export {
  runCampaign, runPrepared, replayRecord, makeRecord, formatRecord, parseRecord, runArgs, recordFileName, parseShard, seedOf, closeRunners,
  type CampaignOptions, type CampaignProgress, type CampaignResult, type FailureRecord, type ReplayResult, type Shard,
} from './campaign.ts';
export { runParallel, type WorkerCommand, type ParallelResult, type WorkerLine, type WorkerCrash } from './parallel.ts';
export { fuzz, decodeProgram, replayCorpus, FuzzFindingError, MAX_INPUT_OPS, type CorpusReplay } from './libfuzzer.ts';
export { measureMutants, type MutantScore } from './mutation-score.ts';
export { FuzzUsageError } from './errors.ts';
export { MUTANTS, withMutant, setMutant, activeMutant, UnknownMutantError, type MutantName, type MutantInfo } from '../compiler/mutants.ts';
export { openPlan, runPiece, reportPieces, formatReport, pieceRange, cliChunkRunner, DEFAULT_PLAN, type PiecePlan, type PieceSummary, type ChunkSummary, type ChunkRunner, type PiecesReport } from './long-campaign.ts';
