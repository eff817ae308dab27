/** Benchmark processes: a TypeScript entry run in its own Node process. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface BenchChild<Info> {
  process: ChildProcess;
  /** The JSON object the child printed as its first line (its URLs), when `ready` was asked for. */
  info: Info;
  stop(): Promise<void>;
}

export interface ChildOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Node flags, for example --max-semi-space-size=128. */
  nodeFlags?: string[];
  /** Write a CPU profile to this directory. */
  cpuProfileDir?: string;
  /** Wait for the child's first stdout line (a JSON object) before resolving. */
  ready?: boolean;
  /** With `ready`: give up (and kill the child) after this many milliseconds. */
  readyTimeoutMs?: number;
}

/** How a child runs TypeScript: as npm start does. */
const LOADER = new URL('../../scripts/ts/register.mjs', import.meta.url).href;

export async function startChild<Info = Record<string, unknown>>(entry: URL, options: ChildOptions = {}): Promise<BenchChild<Info>> {
  const profiling = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), ...profiling, '--import', LOADER, entry.pathname, ...(options.args ?? [])], {
    stdio: ['ignore', options.ready ? 'pipe' : 'ignore', 'inherit'],
    env: options.env ?? process.env,
  });
  let info = {} as Info;
  if (options.ready) {
    // The first line that is a JSON object (Node flags such as --trace-gc may print before it).
    const lines = createInterface({ input: child.stdout! });
    // A child that exits before its ready line fails the start instead of leaving it waiting.
    const name = `${entry.pathname} ${options.args?.join(' ') ?? ''}`;
    const exited = once(child, 'exit').then(([code, signal]) => {
      throw new Error(`${name} exited before it was ready (${signal ?? `code ${code}`})`);
    });
    exited.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      if (options.readyTimeoutMs === undefined) return;
      timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`${name} did not start within ${options.readyTimeoutMs} ms`));
      }, options.readyTimeoutMs);
    });
    timedOut.catch(() => undefined);
    for (;;) {
      const [line] = (await Promise.race([once(lines, 'line'), exited, timedOut]).finally(() => clearTimeout(timer))) as [string];
      if (line.startsWith('{')) {
        info = JSON.parse(line) as Info;
        break;
      }
      process.stderr.write(`${line}\n`);
    }
    // Later output (GC traces, diagnostics) goes to stderr with the child's role.
    lines.on('line', (l) => process.stderr.write(`[${options.args?.[0] ?? 'child'}] ${l}\n`));
  }
  return {
    process: child,
    info,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return; // exited, or killed by a signal
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
