/*
 * `npm run analyze` (subgraphs/experiments/src/analyze-main.ts + app/analyze-cli.ts): the real CLI
 * as a child process (stdin piped) and the pure line processor. gbstats' published cases (the
 * expected values of test/unit/analysis-gbstats.test.ts, from growthbook/growthbook
 * packages/stats/tests) are reproduced through the CLI to 4 decimals.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { analyze } from '../../subgraphs/experiments/src/domain/analysis/index.js';
import type { AnalysisInput, AnalysisResult } from '../../subgraphs/experiments/src/domain/analysis/index.js';
import { ANALYZE_EXAMPLE, AnalyzeStream, JsonScanner, analyzeInput, analyzeText, exitCodeFor, parseAnalyzeArgs } from '../../subgraphs/experiments/src/app/analyze-cli.js';
import type { AnalysisOutcome } from '../../subgraphs/experiments/src/app/analyze-cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = 'subgraphs/experiments/src/analyze-main.ts';

const children = new Set<ReturnType<typeof spawn>>();
// A failed test must not leave its CLI waiting on stdin.
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
  children.clear();
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Start the CLI; `feed` writes its stdin (and must end it). Resolves when the process exits. */
function startCli(args: string[], feed: (stdin: NodeJS.WritableStream, stdout: NodeJS.ReadableStream) => void | Promise<void>): Promise<CliRun> {
  const child = spawn(process.execPath, ['--import', './scripts/ts/register.mjs', MAIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  child.stderr.on('data', (d: string) => (stderr += d));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  return Promise.resolve(feed(child.stdin, child.stdout)).then(() => done);
}

const runCli = (args: string[], input: string) =>
  startCli(args, (stdin) => {
    stdin.end(input);
  });

const close = (actual: number | null | undefined, expected: number) => {
  expect(actual).toBeTypeOf('number');
  expect(actual as number).toBeCloseTo(expected, 4);
};

const lines = (out: string) => out.split('\n').filter((l) => l !== '');

// gbstats tests/frequentist/test_tests.py fixtures
const TTEST: AnalysisInput = {
  engine: 'frequentist',
  metric: 'mean',
  variants: [
    { n: 3407, sum: 1396.87, sumSquares: 52377.9767 },
    { n: 3461, sum: 2422.7, sumSquares: 134698.29 },
  ],
};
const SEQUENTIAL: AnalysisInput = {
  engine: 'frequentist',
  metric: 'mean',
  sequential: true,
  sequentialTuning: 1000,
  variants: [
    { n: 3000, sum: 1396.87, sumSquares: 52377.9767 },
    { n: 3461, sum: 2422.7, sumSquares: 134698.29 },
  ],
};
const SEQUENTIAL_PROP: AnalysisInput = {
  engine: 'frequentist',
  metric: 'proportion',
  sequential: true,
  variants: [
    { n: 3000, sum: 1396 },
    { n: 3461, sum: 2422 },
  ],
};
// gbstats tests/bayesian/test_tests.py
const BAYES_BINOM: AnalysisInput = {
  engine: 'bayesian',
  metric: 'proportion',
  variants: [
    { n: 100, sum: 49 },
    { n: 100, sum: 51 },
  ],
};
const BAYES_INFORMATIVE: AnalysisInput = {
  engine: 'bayesian',
  metric: 'mean',
  prior: { mean: 0.1, stddev: Math.sqrt(0.1), proper: true },
  variants: [
    { n: 10, sum: 100, sumSquares: 1002.25 },
    { n: 10, sum: 105, sumSquares: 1111.5 },
  ],
};

function expectTTest(r: AnalysisResult) {
  const c = r.comparisons[0]!;
  expect(c.variant).toBe(1);
  close(c.relative.estimate, 0.70732);
  close(c.relative.low, -0.03526);
  close(c.relative.high, 1.44989);
  close(c.relative.pValue, 0.06191);
  close(c.absolute.estimate, 0.7 - 0.41);
  close(c.absolute.low, 0.04538);
  close(c.absolute.high, 0.53462);
  close(c.absolute.pValue, 0.02016);
  expect(c.chanceToWin).toBeNull();
  expect(c.risk).toBeNull();
}

function expectSequential(r: AnalysisResult) {
  const c = r.comparisons[0]!.relative;
  close(c.estimate, 0.50336);
  close(c.low, -0.55844);
  close(c.high, 1.56516);
  close(c.pValue, 1);
}

function expectSequentialProp(r: AnalysisResult) {
  const c = r.comparisons[0]!.relative;
  close(c.estimate, 0.50386);
  close(c.low, 0.40098);
  close(c.high, 0.60675);
  close(c.pValue, 0);
}

function expectBayesBinom(r: AnalysisResult) {
  const c = r.comparisons[0]!;
  close(c.relative.estimate, 0.04082);
  close(c.relative.low, -0.24779);
  close(c.relative.high, 0.32943);
  expect(c.relative.pValue).toBeNull();
  close(c.chanceToWin, 0.60918);
  close(c.risk!.control, 0.0814);
  close(c.risk!.treatment, 0.04058);
}

function expectBayesInformative(r: AnalysisResult) {
  const c = r.comparisons[0]!;
  close(c.relative.estimate, 0.05063);
  close(c.relative.low, -0.01893);
  close(c.relative.high, 0.12019);
  close(c.chanceToWin, 0.92315);
  close(c.risk!.control, 0.05186);
  close(c.risk!.treatment, 0.00123);
}

/** A valid analysis that differs per i (so that order is visible in the answers). */
const nth = (i: number): AnalysisInput =>
  i % 3 === 2
    ? { engine: 'bayesian', metric: 'proportion', variants: [{ n: 1000 + i, sum: 300 + (i % 50) }, { n: 1000, sum: 310 + (i % 70) }] }
    : {
        engine: 'frequentist',
        metric: 'mean',
        sequential: i % 3 === 1,
        variants: [
          { n: 500 + i, sum: 1000 + i, sumSquares: 5000 + 7 * i },
          { n: 520, sum: 1100 + 0.5 * i, sumSquares: 5600 + 3 * i },
        ],
      };

/** What the CLI must print for an analysis: analyze()'s output through JSON. */
const expected = (input: AnalysisInput): unknown => JSON.parse(JSON.stringify(analyze(input)));

describe('npm run analyze (the CLI as a child process)', () => {
  it('one pretty-printed object: gbstats test_two_sided_ttest, --pretty output, exit 0', async () => {
    const run = await runCli(['--pretty'], `${JSON.stringify(TTEST, null, 2)}\n`);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').length).toBeGreaterThan(10); // indented
    const result = JSON.parse(run.stdout) as AnalysisResult;
    expectTTest(result);
    expect(result).toEqual(expected(TTEST));
  });

  it('JSON lines: frequentist, sequential and Bayesian gbstats cases answered in order, one line each', async () => {
    const input = [TTEST, SEQUENTIAL, SEQUENTIAL_PROP, BAYES_BINOM, BAYES_INFORMATIVE].map((a) => JSON.stringify(a)).join('\n');
    const run = await runCli([], `${input}\n`);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const out = lines(run.stdout).map((l) => JSON.parse(l) as AnalysisResult);
    expect(out).toHaveLength(5);
    expectTTest(out[0]!);
    expectSequential(out[1]!);
    expectSequentialProp(out[2]!);
    expectBayesBinom(out[3]!);
    expectBayesInformative(out[4]!);
  });

  it('1,000 analyses as JSON lines in one run: every answer, in order, equal to analyze()', async () => {
    const inputs = Array.from({ length: 1000 }, (_, i) => nth(i));
    const run = await runCli([], `${inputs.map((a) => JSON.stringify(a)).join('\n')}\n`);
    expect(run.code).toBe(0);
    const out = lines(run.stdout);
    expect(out).toHaveLength(1000);
    out.forEach((l, i) => expect(JSON.parse(l)).toEqual(expected(inputs[i]!)));
  });

  it('an invalid analysis and a malformed line in the middle: error objects in their place, the rest answered, exit 1', async () => {
    const inputs: string[] = Array.from({ length: 1000 }, (_, i) => JSON.stringify(nth(i)));
    const bad = nth(499);
    bad.variants[1]!.sumSquares = -1;
    inputs[499] = JSON.stringify(bad);
    inputs[699] = '{"engine": "frequentist", "metric": mean}';
    // Blank lines are skipped (no answer for them).
    const text = `${inputs.slice(0, 300).join('\n')}\n\n  \n${inputs.slice(300).join('\n')}\n`;
    const run = await runCli([], text);
    expect(run.code).toBe(1);
    const out = lines(run.stdout).map((l) => JSON.parse(l) as AnalysisOutcome);
    expect(out).toHaveLength(1000);
    expect(out[499]).toEqual({ error: { code: 'ANALYSIS_INVALID', message: 'variants[1].sumSquares: must be ≥ 0', field: 'variants[1].sumSquares' } });
    const malformed = out[699] as { error: { code: string; message: string; field: string } };
    expect(malformed.error.code).toBe('JSON_INVALID');
    expect(malformed.error.field).toBe('');
    expect(malformed.error.message).toMatch(/^line 702: /); // two blank lines before it
    out.forEach((o, i) => {
      if (i !== 499 && i !== 699) expect(o).toEqual(expected(nth(i)));
    });
    expect(run.stderr).toContain('2 invalid');
  });

  it('streams: answers come out while stdin is still open', async () => {
    const run = await startCli([], async (stdin, stdout) => {
      let seen = '';
      const twoAnswers = new Promise<void>((resolve) => {
        const onData = (d: string) => {
          seen += d;
          if (lines(seen).length >= 2) {
            stdout.off('data', onData);
            resolve();
          }
        };
        stdout.on('data', onData);
      });
      stdin.write(`${JSON.stringify(nth(0))}\n${JSON.stringify(nth(1))}\n`);
      await twoAnswers; // would never resolve if the CLI read all of stdin first
      stdin.end(`${JSON.stringify(nth(2))}\n`);
    });
    expect(run.code).toBe(0);
    expect(lines(run.stdout).map((l) => JSON.parse(l))).toEqual([0, 1, 2].map((i) => expected(nth(i))));
  });

  it('malformed single JSON document: one JSON_INVALID error with the line, exit 1', async () => {
    const text = JSON.stringify(TTEST, null, 2).replace('"metric"', 'metric');
    const run = await runCli([], text);
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout) as { error: { code: string; message: string; field: string } };
    expect(out.error.code).toBe('JSON_INVALID');
    expect(out.error.field).toBe('');
    expect(out.error.message).toMatch(/^line 3, column 3: /);
    expect(lines(run.stdout)).toHaveLength(1);
  });

  it('an invalid single object: the validator error naming the field, exit 1', async () => {
    const run = await runCli([], JSON.stringify({ ...TTEST, engine: 'bayesian', sequential: true }));
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      error: { code: 'ANALYSIS_INVALID', message: 'sequential: sequential testing is only available with the frequentist engine', field: 'sequential' },
    });
  });

  it('usage: --help lists the fields and exits 0; an unknown option or no input exits 2', async () => {
    const help = await runCli(['--help'], '');
    expect(help.code).toBe(0);
    for (const field of ['engine', 'sequential', 'sequentialTuning', 'alpha', 'metric', 'cuped', 'differenceType', 'inverse', 'prior', 'variants', 'sumSquares', 'weight', 'denominatorSum', 'denominatorSumSquares', 'sumProducts', 'covariateSum', 'covariateSumSquares', 'covariateSumProducts']) {
      expect(help.stdout).toContain(field);
    }
    expect(help.stdout).toContain(ANALYZE_EXAMPLE);
    const unknown = await runCli(['--round'], JSON.stringify(TTEST));
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain('--round');
    const empty = await runCli([], '\n\n');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('no input');
  });
});

describe('analyzeText / AnalyzeStream (the pure processor)', () => {
  it('reproduces the gbstats cases', () => {
    expectTTest(JSON.parse(analyzeText(JSON.stringify(TTEST))) as AnalysisResult);
    expectSequential(JSON.parse(analyzeText(JSON.stringify(SEQUENTIAL, null, 2))) as AnalysisResult);
    expectSequentialProp(JSON.parse(analyzeText(JSON.stringify(SEQUENTIAL_PROP))) as AnalysisResult);
    expectBayesBinom(JSON.parse(analyzeText(JSON.stringify(BAYES_BINOM))) as AnalysisResult);
    expectBayesInformative(JSON.parse(analyzeText(JSON.stringify(BAYES_INFORMATIVE, null, 4))) as AnalysisResult);
  });

  it('single mode: compact by default, indented with pretty; numbers as computed', () => {
    const compact = analyzeText(JSON.stringify(TTEST));
    expect(compact).toBe(`${JSON.stringify(analyze(TTEST))}\n`);
    expect(analyzeText(JSON.stringify(TTEST, null, 2), { pretty: true })).toBe(`${JSON.stringify(analyze(TTEST), null, 2)}\n`);
    // CRLF and a byte order mark
    expect(analyzeText(`\uFEFF${JSON.stringify(TTEST, null, 2).replace(/\n/g, '\r\n')}\r\n`)).toBe(compact);
  });

  it('an array gives an array of answers (an invalid element in its place)', () => {
    const r = analyzeInput(JSON.stringify([TTEST, { ...BAYES_BINOM, alpha: 2 }, BAYES_BINOM], null, 2));
    expect(r.invalid).toBe(1);
    expect(exitCodeFor(r)).toBe(1);
    const out = JSON.parse(r.output) as AnalysisOutcome[];
    expect(out).toHaveLength(3);
    expect(out[0]).toEqual(expected(TTEST));
    expect(out[1]).toEqual({ error: { code: 'ANALYSIS_INVALID', message: 'alpha: must be < 1', field: 'alpha' } });
    expect(out[2]).toEqual(expected(BAYES_BINOM));
  });

  it('several pretty-printed objects in a row (jq . output): one line per object', () => {
    const r = analyzeInput(`${JSON.stringify(TTEST, null, 2)}\n${JSON.stringify(BAYES_BINOM, null, 2)}\n\n${JSON.stringify(SEQUENTIAL)}\n`);
    expect(r.records).toBe(3);
    expect(lines(r.output).map((l) => JSON.parse(l))).toEqual([expected(TTEST), expected(BAYES_BINOM), expected(SEQUENTIAL)]);
  });

  it('a truncated first line of JSON lines is one error; the following lines are answered', () => {
    const r = analyzeInput(`{"engine": "frequentist",\n${JSON.stringify(TTEST)}\n${JSON.stringify(BAYES_BINOM)}\n`);
    const out = lines(r.output).map((l) => JSON.parse(l) as AnalysisOutcome);
    expect(out).toHaveLength(3);
    expect(out[0]).toMatchObject({ error: { code: 'JSON_INVALID', field: '' } });
    expect((out[0] as { error: { message: string } }).error.message).toMatch(/^line 1: /);
    expect(out.slice(1)).toEqual([expected(TTEST), expected(BAYES_BINOM)]);
  });

  it('an unclosed object: end-of-input error; a following object is still answered', () => {
    const open = JSON.stringify(TTEST, null, 2).slice(0, -2);
    const alone = analyzeInput(open);
    expect(alone.invalid).toBe(1);
    expect((JSON.parse(alone.output) as { error: { message: string } }).error.message).toContain('not closed');
    const then = analyzeInput(`${open}\n${JSON.stringify(BAYES_BINOM, null, 2)}\n`);
    const out = lines(then.output).map((l) => JSON.parse(l) as AnalysisOutcome);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ error: { code: 'JSON_INVALID' } });
    expect(out[1]).toEqual(expected(BAYES_BINOM));
  });

  it('JSON lines: the first answer waits for the second record, the rest go out at once', () => {
    const s = new AnalyzeStream();
    expect(s.push(JSON.stringify(TTEST))).toEqual([]);
    expect(s.push('')).toEqual([]);
    expect(s.push(JSON.stringify(BAYES_BINOM))).toEqual([`${JSON.stringify(analyze(TTEST))}\n`, `${JSON.stringify(analyze(BAYES_BINOM))}\n`]);
    expect(s.push('not json')).toHaveLength(1);
    expect(s.end()).toEqual([]);
    expect({ records: s.records, invalid: s.invalid, firstInvalidLine: s.firstInvalidLine }).toEqual({ records: 3, invalid: 1, firstInvalidLine: 4 });
  });

  it('no input, and the arguments', () => {
    expect(analyzeInput(' \n\n')).toEqual({ output: '', records: 0, invalid: 0 });
    expect(exitCodeFor({ records: 0, invalid: 0 })).toBe(2);
    expect(parseAnalyzeArgs(['--pretty'])).toEqual({ ok: true, help: false, pretty: true });
    expect(parseAnalyzeArgs(['-h'])).toEqual({ ok: true, help: true, pretty: false });
    expect(parseAnalyzeArgs(['file.json']).ok).toBe(false);
  });

  it('JsonScanner agrees with JSON.parse (complete exactly when JSON.parse accepts)', () => {
    const verdict = (text: string) => {
      const scanner = new JsonScanner();
      let status = 'incomplete';
      for (const line of text.split('\n')) {
        status = scanner.feed(`${line}\n`).status;
        if (status === 'error') break;
      }
      return status;
    };
    const parses = (text: string) => {
      try {
        JSON.parse(text);
        return true;
      } catch {
        return false;
      }
    };
    fc.assert(
      fc.property(fc.json(), fc.boolean(), fc.nat(), fc.string({ maxLength: 2 }), fc.boolean(), (json, pretty, at, insert, del) => {
        const text = pretty ? JSON.stringify(JSON.parse(json), null, 2) : json;
        expect(verdict(text)).toBe('complete');
        const k = at % (text.length + 1);
        const mutated = text.slice(0, k) + insert + text.slice(del ? k + 1 : k);
        expect(verdict(mutated) === 'complete').toBe(parses(mutated));
      }),
      { seed: 20240611, numRuns: 2000 },
    );
  });
});
