/**
 * `npm run -s analyze [-- --pretty]`: experiment analyses from sufficient statistics, JSON on stdin
 * (one object, or JSON lines) to JSON on stdout, with the subgraph's analysis engine. The logic is
 * app/analyze-cli.ts; this reads stdin line by line (node:readline, which pauses stdin while lines
 * wait) and writes each answer as it comes, waiting for stdout to drain. Exit code 0 when every
 * analysis was valid, 1 when any was invalid, 2 for a usage error. See README, Analysis CLI.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { ANALYZE_USAGE, AnalyzeStream, exitCodeFor, parseAnalyzeArgs } from './app/analyze-cli.js';

function usageError(message: string): void {
  process.stderr.write(`analyze: ${message}\nRun with --help for the input format.\n`);
  process.exitCode = 2;
}

async function write(chunks: readonly string[]): Promise<void> {
  for (const chunk of chunks) {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  }
}

async function main(): Promise<void> {
  const args = parseAnalyzeArgs(process.argv.slice(2));
  if (!args.ok) return usageError(args.message);
  if (args.help) {
    process.stdout.write(ANALYZE_USAGE);
    return;
  }
  // A reader that went away (`| head`) ends the run quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  if (process.stdin.isTTY) process.stderr.write('analyze: reading JSON from stdin (end with Ctrl-D; --help for the format)\n');
  const stream = new AnalyzeStream({ pretty: args.pretty });
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  try {
    for await (const line of lines) await write(stream.push(line));
  } catch (err) {
    return usageError(`cannot read stdin: ${err instanceof Error ? err.message : String(err)}`);
  }
  await write(stream.end());
  const code = exitCodeFor(stream);
  if (code === 2) return usageError('no input on stdin');
  if (stream.invalid > 0) {
    process.stderr.write(`analyze: ${stream.invalid} invalid analysis input(s) of ${stream.records} record(s), the first at line ${stream.firstInvalidLine}\n`);
  }
  process.exitCode = code;
}

await main();
