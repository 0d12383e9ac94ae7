/**
 * `--profile v17|v31|v44`, shared by every command that compiles, runs, lays out or collects
 * (docs/cli.md). The record comes from profiles/; what a command does with it is the library's
 * business (Engine, compileModule, the layout view), so a profile a layer does not implement yet
 * fails there with ProfileUnsupportedError (exit 2), never as a silent v17 run.
 */
import { DEFAULT_PROFILE, PROFILES, PROFILE_NAMES, UnknownProfileError, profileNamed, type Profile } from '../profiles/profile.ts';
import { UsageError, type ParsedArgs } from './args.ts';

/** The help line every such command shows. */
export const PROFILE_OPTION_HELP = `--profile ${PROFILE_NAMES.join('|')}  the wasmtime era to reproduce (default ${DEFAULT_PROFILE}; docs/profiles.md)`;

/** The profile a command line asks for (`--profile NAME`), the default without one. */
export function profileFlag(args: ParsedArgs, command: string): Profile {
  const value = args.flags.get('profile');
  if (value === undefined) return PROFILES[DEFAULT_PROFILE];
  if (typeof value !== 'string') throw new UsageError(`--profile needs a value (${PROFILE_NAMES.join(' or ')})`, command);
  try {
    return profileNamed(value);
  } catch (e) {
    if (e instanceof UnknownProfileError) throw new UsageError(`--profile: '${value}' is not a profile (${PROFILE_NAMES.join(' or ')})`, command);
    throw e;
  }
}
