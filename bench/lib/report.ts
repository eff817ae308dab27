/**
 * `--report FILE` on a benchmark writes its figures there as JSON (the markdown table still goes
 * to stdout): `npm run bench` collects both into BENCHMARKS.md and BENCHMARKS.json.
 */
import { writeFileSync } from 'node:fs';

export function reportPath(argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf('--report');
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith('--report='))?.slice('--report='.length);
}

/** Writes the figures when `--report FILE` was given. */
export function saveReport(result: unknown): void {
  const path = reportPath();
  if (path) writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
}
