/**
 * What every command handler receives. Handlers never read process.env or construct clients
 * themselves: main.ts validates the environment once and builds these lazily.
 */
import type { Config } from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';

export interface Output {
  /** stdout: results only (one JSON object with --json). */
  out(text: string): void;
  /** stderr: logs, progress, tables. */
  err(text: string): void;
  readonly isTTY: boolean;
}

export interface CliContext {
  config: Config;
  io: Output;
  /** Built on first use from config (S3 adapter). */
  store(): BlobStore;
  /** Process environment for entry-point-only needs (e.g. passing through to child processes). */
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/** Exit codes (docs/cli-contract.md). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_NO = 2;

/** A command: parsed argv after the command words; returns the exit code. */
export type CommandHandler = (argv: string[], ctx: CliContext) => Promise<number>;
