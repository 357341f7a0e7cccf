/**
 * Every command and subcommand answers --help with its options and an example, from the very
 * option specs it parses with; and every seqtrain command line in the README parses with the CLI.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KNOWN_KEYS } from '@seqtrain/contracts';
import { COMMAND_HELP, helpKey, helpText, parseCommandLine, SUBCOMMANDS } from './help';
import { cli } from '../test/test-cli';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

/** Splits a shell command line into words: double and single quotes, no expansion. */
function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let inWord = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unbalanced quote in ${line}`);
  if (inWord) out.push(cur);
  return out;
}

/** The seqtrain command lines of the README's shell blocks (`./dev X`, `pnpm seqtrain X`, `a | b` alternatives). */
async function readmeCommandLines(): Promise<string[][]> {
  const text = await fsp.readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const blocks = [...text.matchAll(/```(?:sh|bash|shell)\n([^]*?)```/g)].map((m) => m[1] ?? '');
  const lines: string[][] = [];
  for (const block of blocks) {
    const joined = block.replace(/\\\n\s*/g, ' ');
    for (const raw of joined.split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      const m = /^(?:[A-Z_]+=("[^"]*"|\S+)\s+)*(?:\.\/dev|pnpm seqtrain|seqtrain)\s+(.*)$/.exec(line);
      if (!m?.[2]) continue;
      // `./dev runs list | runs show ID | ...` lists alternatives of one command.
      for (const alt of m[2].split(/\s+\|\s+/)) lines.push(words(alt));
    }
  }
  return lines;
}

describe('seqtrain --help', () => {
  it('every command and subcommand has usage, options and an example', () => {
    for (const key of Object.keys(COMMAND_HELP)) {
      const text = helpText(key);
      expect(text, key).toMatch(new RegExp(`^usage: seqtrain ${key}\\b`));
      expect(text, key).toMatch(/\noptions:\n/);
      expect(text, key).toMatch(/\nexamples?:\n {2}.*\bseqtrain /);
      for (const name of Object.keys(COMMAND_HELP[key]!.options)) expect(text, key).toContain(`--${name}`);
      // The examples themselves parse with the command's options.
      for (const example of COMMAND_HELP[key]!.examples) {
        const argv = words(example.replace(/^.*?seqtrain\s+/, ''));
        expect(() => parseCommandLine(argv), example).not.toThrow();
        expect(helpKey(argv), example).toBe(key);
      }
    }
    for (const [cmd, subs] of Object.entries(SUBCOMMANDS)) {
      const text = helpText(cmd);
      for (const sub of subs) expect(text).toContain(`seqtrain ${cmd} ${sub}`);
    }
  });

  it('answers --help from the real CLI, for a command, a subcommand and a command with subcommands', async () => {
    const imp = await cli(['dataset', 'import', '--help'], {});
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toMatch(/^usage: seqtrain dataset import SOURCE --name NAME/);
    expect(imp.stdout).toContain('--value-columns A,B');
    const train = await cli(['train', '-h'], {});
    expect(train.code).toBe(0);
    expect(train.stdout).toContain('-c, --config SPEC.yaml');
    const runs = await cli(['runs', '--help'], {});
    expect(runs.code).toBe(0);
    expect(runs.stdout).toContain('seqtrain runs report ID');
  }, 60_000);

  it('refuses an option a command does not have, naming it', () => {
    expect(() => parseCommandLine(['train', '-c', 'x.yaml', '--epochs', '3'])).toThrow(/--epochs/);
  });
});

describe('the README', () => {
  it('documents every configuration variable in its Configuration table', async () => {
    const text = await fsp.readFile(path.join(repoRoot, 'README.md'), 'utf8');
    const section = /\n## Configuration\n([^]*?)\n## /.exec(text)?.[1] ?? '';
    const documented = new Set([...section.matchAll(/^\| `(SEQTRAIN_[A-Z0-9_]+)`/gm)].map((m) => m[1]));
    expect([...KNOWN_KEYS].filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented].filter((k) => !(KNOWN_KEYS as readonly string[]).includes(k!))).toEqual([]);
  });

  it('has a Mermaid architecture diagram, concepts, production notes and troubleshooting', async () => {
    const text = await fsp.readFile(path.join(repoRoot, 'README.md'), 'utf8');
    for (const heading of ['## Concepts', '## Configuration', '## Production', '## Troubleshooting'])
      expect(text).toContain(`\n${heading}\n`);
    expect(text).toMatch(/```mermaid\nflowchart /);
  });

  it('every seqtrain command line in it parses with the CLI', async () => {
    const lines = await readmeCommandLines();
    const commands = lines.filter((argv) => argv[0] !== 'test' && argv[0] !== 'setup');
    // The README's usage section has at least these.
    expect(commands.length).toBeGreaterThan(15);
    const keys = new Set<string>();
    for (const argv of commands) {
      const parsed = (() => {
        try {
          return parseCommandLine(argv);
        } catch (err) {
          throw new Error(`README: seqtrain ${argv.join(' ')}: ${(err as Error).message}`);
        }
      })();
      keys.add(parsed.key);
    }
    for (const key of [
      'up',
      'dataset import',
      'train',
      'runs report',
      'models promote',
      'registry serve',
      'predict',
    ])
      expect(keys).toContain(key);
  });
});
