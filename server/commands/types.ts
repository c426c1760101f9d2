/** A CLI command: its options (node:util parseArgs), help text and implementation. */
import type { ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Extra help: options and examples. */
  details: string;
  options: Options;
  /** Returns the exit code. */
  run(ctx: CommandContext): Promise<number>;
}
