/** What a benchmark reads about the processes it runs and the Redis it uses (Linux /proc, INFO). */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RedisClient } from '../../lib/redis/connection.js';

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU seconds (user + system) a process has used, from /proc (Linux); undefined elsewhere. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  try {
    // Fields after the command name in parentheses: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) of each named process now, NaN where they cannot be read. */
export function cpuNow<K extends string>(pids: Record<K, number | undefined>): Record<K, number> {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid as number | undefined) ?? NaN])) as Record<K, number>;
}

/** Cores each process used between two cpuNow readings `seconds` apart. */
export function coresUsed<K extends string>(before: Record<K, number>, after: Record<K, number>, seconds: number): Record<K, number> {
  return Object.fromEntries(Object.keys(after).map((name) => [name, (after[name as K] - before[name as K]) / Math.max(1e-9, seconds)])) as Record<K, number>;
}

/** Resident set size of a process, in bytes (ps); NaN when it cannot be read. */
export function rssOf(pid: number): number {
  try {
    return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) * 1024;
  } catch {
    return NaN;
  }
}

/** Redis's own counters: CPU seconds, commands processed, network bytes in and out. */
export interface RedisCounters {
  cpuSeconds: number;
  commands: number;
  netInputBytes: number;
  netOutputBytes: number;
}

export async function redisCounters(redis: RedisClient): Promise<RedisCounters> {
  const text = String(await (redis as unknown as { info(section: string): Promise<string> }).info('all'));
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    cpuSeconds: field('used_cpu_user') + field('used_cpu_sys'),
    commands: field('total_commands_processed'),
    netInputBytes: field('total_net_input_bytes'),
    netOutputBytes: field('total_net_output_bytes'),
  };
}

export function redisDelta(before: RedisCounters, after: RedisCounters): RedisCounters {
  return {
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    commands: after.commands - before.commands,
    netInputBytes: after.netInputBytes - before.netInputBytes,
    netOutputBytes: after.netOutputBytes - before.netOutputBytes,
  };
}
