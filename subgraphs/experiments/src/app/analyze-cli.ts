/**
 * The logic of `npm run analyze` (the entry is ../analyze-main.ts; see README, Analysis CLI): reads
 * experiment analyses as JSON and answers each with the experiments subgraph's own analysis engine
 * (domain/analysis: `analyze`, which validates its input first), with no server and no store.
 *
 * Input is either one JSON value (an analysis object, possibly pretty-printed over many lines, or
 * an array of them) or JSON lines (one analysis per line). `AnalyzeStream` takes the input line by
 * line and hands back output as soon as it is known, so thousands of lines need memory for one
 * line (or one multi-line value) only:
 *
 * - The first non-blank line decides. If it is a complete JSON value on its own, or invalid JSON
 *   within itself, the input is JSON lines: every non-blank line is one record, blank lines are
 *   skipped. Otherwise (an incomplete but valid start, such as `{`), records are JSON values that
 *   may span lines: one pretty-printed object, or several in a row (e.g. `jq .` output).
 * - Exactly one record in the whole input: one answer, indented with `pretty`. More than one: one
 *   compact JSON line per record, in input order. The first answer is therefore held until a
 *   second record starts (or the input ends); all later ones are emitted at once.
 * - An answer is `analyze()`'s result, or `{ error: { code, message, field } }` for an invalid
 *   record (JSON_INVALID with the line in the message and field "", or the validator's
 *   ANALYSIS_INVALID with the field path); an array gives an array of those. Processing continues
 *   after an invalid record; `invalid` counts them (array elements one by one).
 * - A multi-line value that becomes invalid at a line which is a complete JSON value by itself
 *   (a truncated first line of JSON lines) switches to JSON lines for the lines read so far. Any
 *   other error in a multi-line value gives one JSON_INVALID record; reading resumes at the next
 *   line that starts (column 1) with `{` or `[`.
 */
import { parseArgs } from 'node:util';
import { AnalysisInvalidError, analyze } from '../domain/analysis/index.js';
import type { AnalysisInput, AnalysisResult } from '../domain/analysis/index.js';

// ---------------------------------------------------------------------------------------------
// One record

export type AnalyzeErrorCode = 'JSON_INVALID' | 'ANALYSIS_INVALID' | 'ANALYSIS_FAILED';

export interface AnalyzeError {
  code: AnalyzeErrorCode;
  message: string;
  /** The offending input field (e.g. `variants[1].sumSquares`); "" for JSON errors. */
  field: string;
}

export type AnalysisOutcome = AnalysisResult | { error: AnalyzeError };
/** The answer to one record: an outcome, or one per element for an array. */
export type AnalyzeAnswer = AnalysisOutcome | AnalysisOutcome[];

function analyzeOne(raw: unknown): AnalysisOutcome {
  try {
    // analyze() validates its input (the validator's error, naming the field, when it refuses it).
    return analyze(raw as AnalysisInput);
  } catch (e) {
    if (e instanceof AnalysisInvalidError) return { error: e.detail };
    return { error: { code: 'ANALYSIS_FAILED', message: e instanceof Error ? e.message : String(e), field: '' } };
  }
}

/** Answer one parsed JSON value: an analysis input, or an array of them. */
export function analyzeValue(raw: unknown): AnalyzeAnswer {
  return Array.isArray(raw) ? raw.map(analyzeOne) : analyzeOne(raw);
}

const jsonError = (message: string): AnalysisOutcome => ({ error: { code: 'JSON_INVALID', message, field: '' } });

/** Invalid outcomes in an answer (array elements counted one by one). */
export function countInvalid(answer: AnalyzeAnswer): number {
  return (Array.isArray(answer) ? answer : [answer]).filter((a) => 'error' in a).length;
}

// ---------------------------------------------------------------------------------------------
// Incremental JSON syntax check (to find where a multi-line value ends, or fails, line by line)

const S_VALUE = 0; // a value is expected (top level, after ':' or ',' in an array)
const S_ARRAY_FIRST = 1; // after '[': a value or ']'
const S_OBJECT_FIRST = 2; // after '{': a key or '}'
const S_KEY = 3; // after ',' in an object: a key
const S_COLON = 4;
const S_AFTER_VALUE = 5; // in a container after a value: ',' or the closing bracket
const S_DONE = 6; // the top-level value is complete: whitespace only
const S_STRING = 7;
const S_ESCAPE = 8;
const S_UNICODE = 9;
const S_LITERAL = 10;
const S_N_MINUS = 11; // number states: after '-'
const S_N_ZERO = 12; // a leading 0
const S_N_INT = 13;
const S_N_DOT = 14;
const S_N_FRAC = 15;
const S_N_E = 16;
const S_N_ESIGN = 17;
const S_N_EXP = 18;

const isWs = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const isDigit = (c: string) => c >= '0' && c <= '9';
const isHex = (c: string) => isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
const NUMBER_END_OK = new Set([S_N_ZERO, S_N_INT, S_N_FRAC, S_N_EXP]);

export type ScanStatus = { status: 'incomplete' } | { status: 'complete' } | { status: 'error'; column: number; message: string };

/**
 * A JSON syntax checker fed text in pieces (one line plus its newline at a time): tells whether the
 * one top-level value is complete, still open, or wrong at a given column of the last piece.
 * It checks syntax only; JSON.parse builds the value once it is complete.
 */
export class JsonScanner {
  private state = S_VALUE;
  private readonly stack: string[] = [];
  private stringIsKey = false;
  private pending = 0; // unicode hex digits left
  private literal = ''; // the rest of true/false/null still expected
  private failed: ScanStatus | null = null;

  feed(text: string): ScanStatus {
    if (this.failed) return this.failed;
    for (let i = 0; i < text.length; i++) {
      const message = this.step(text[i]!);
      if (message !== null) {
        this.failed = { status: 'error', column: i + 1, message };
        return this.failed;
      }
    }
    return this.state === S_DONE ? { status: 'complete' } : { status: 'incomplete' };
  }

  private endValue(): void {
    this.state = this.stack.length === 0 ? S_DONE : S_AFTER_VALUE;
  }

  private startValue(c: string): string | null {
    if (c === '{') {
      this.stack.push('}');
      this.state = S_OBJECT_FIRST;
    } else if (c === '[') {
      this.stack.push(']');
      this.state = S_ARRAY_FIRST;
    } else if (c === '"') {
      this.stringIsKey = false;
      this.state = S_STRING;
    } else if (c === '-') this.state = S_N_MINUS;
    else if (c === '0') this.state = S_N_ZERO;
    else if (isDigit(c)) this.state = S_N_INT;
    else if (c === 't' || c === 'f' || c === 'n') {
      this.literal = c === 't' ? 'rue' : c === 'f' ? 'alse' : 'ull';
      this.state = S_LITERAL;
    } else return `unexpected ${describe(c)} (a value was expected)`;
    return null;
  }

  private close(c: string): string | null {
    const expected = this.stack.pop();
    if (c !== expected) return `unexpected ${describe(c)}`;
    this.endValue();
    return null;
  }

  /** Consume one character; a message when it is not valid JSON here. */
  private step(c: string): string | null {
    switch (this.state) {
      case S_VALUE:
        return isWs(c) ? null : this.startValue(c);
      case S_ARRAY_FIRST:
        if (isWs(c)) return null;
        return c === ']' ? this.close(c) : this.startValue(c);
      case S_OBJECT_FIRST:
      case S_KEY:
        if (isWs(c)) return null;
        if (c === '"') {
          this.stringIsKey = true;
          this.state = S_STRING;
          return null;
        }
        if (c === '}' && this.state === S_OBJECT_FIRST) return this.close(c);
        return `unexpected ${describe(c)} (a property name in double quotes was expected)`;
      case S_COLON:
        if (isWs(c)) return null;
        if (c === ':') {
          this.state = S_VALUE;
          return null;
        }
        return `unexpected ${describe(c)} (":" was expected)`;
      case S_AFTER_VALUE:
        if (isWs(c)) return null;
        if (c === ',') {
          this.state = this.stack[this.stack.length - 1] === '}' ? S_KEY : S_VALUE;
          return null;
        }
        if (c === '}' || c === ']') return this.close(c);
        return `unexpected ${describe(c)} ("," or "${this.stack[this.stack.length - 1]}" was expected)`;
      case S_DONE:
        return isWs(c) ? null : `unexpected ${describe(c)} after the end of the JSON value`;
      case S_STRING:
        if (c === '"') {
          if (this.stringIsKey) this.state = S_COLON;
          else this.endValue();
        } else if (c === '\\') this.state = S_ESCAPE;
        else if (c < ' ') return c === '\n' ? 'unterminated string' : `control character ${describe(c)} in a string`;
        return null;
      case S_ESCAPE:
        if (c === 'u') {
          this.pending = 4;
          this.state = S_UNICODE;
        } else if ('"\\/bfnrt'.includes(c)) this.state = S_STRING;
        else return `bad escape \\${c} in a string`;
        return null;
      case S_UNICODE:
        if (!isHex(c)) return `bad \\u escape in a string`;
        if (--this.pending === 0) this.state = S_STRING;
        return null;
      case S_LITERAL:
        if (c !== this.literal[0]) return `unexpected ${describe(c)}`;
        this.literal = this.literal.slice(1);
        if (this.literal === '') this.endValue();
        return null;
      default:
        return this.number(c);
    }
  }

  private number(c: string): string | null {
    const s = this.state;
    if (isDigit(c)) {
      if (s === S_N_ZERO) return 'a number cannot have leading zeros';
      this.state = s === S_N_MINUS ? (c === '0' ? S_N_ZERO : S_N_INT) : s === S_N_DOT ? S_N_FRAC : s === S_N_E || s === S_N_ESIGN ? S_N_EXP : s;
      return null;
    }
    if (c === '.' && (s === S_N_ZERO || s === S_N_INT)) {
      this.state = S_N_DOT;
      return null;
    }
    if ((c === 'e' || c === 'E') && (s === S_N_ZERO || s === S_N_INT || s === S_N_FRAC)) {
      this.state = S_N_E;
      return null;
    }
    if ((c === '+' || c === '-') && s === S_N_E) {
      this.state = S_N_ESIGN;
      return null;
    }
    if (!NUMBER_END_OK.has(s)) return `unexpected ${describe(c)} in a number`;
    this.endValue();
    return this.step(c);
  }
}

function describe(c: string): string {
  if (c === '\n') return 'end of line';
  const code = c.charCodeAt(0);
  return code < 0x20 ? `U+${code.toString(16).padStart(4, '0')}` : JSON.stringify(c);
}

// ---------------------------------------------------------------------------------------------
// The line processor

export interface AnalyzeOptions {
  /** Indent the answer when the input is a single record (JSON lines stay one per line). */
  pretty?: boolean;
}

type Mode = 'start' | 'lines' | 'values';

interface HeldRecord {
  answer: AnalyzeAnswer;
  line: number;
}

interface OpenValue {
  scanner: JsonScanner;
  startLine: number;
  lines: string[];
}

/**
 * Push input lines (without their line break), collect output chunks (each a complete line of
 * output, newline included). `end()` flushes what is held. See the module comment for the rules.
 */
export class AnalyzeStream {
  /** Records answered (a JSON value, or an invalid line). */
  records = 0;
  /** Invalid outcomes (array elements counted one by one). */
  invalid = 0;
  /** Line of the first invalid record. */
  firstInvalidLine: number | null = null;

  private mode: Mode = 'start';
  private lineNo = 0;
  private held: HeldRecord | null = null;
  private open: OpenValue | null = null;
  /** After an error inside a multi-line value: skip to a line starting with `{` or `[`. */
  private resync = false;
  private readonly pretty: boolean;

  constructor(options: AnalyzeOptions = {}) {
    this.pretty = options.pretty ?? false;
  }

  push(rawLine: string): string[] {
    this.lineNo++;
    const out: string[] = [];
    const line = this.lineNo === 1 && rawLine.charCodeAt(0) === 0xfeff ? rawLine.slice(1) : rawLine;
    this.consume(line, this.lineNo, out);
    return out;
  }

  end(): string[] {
    const out: string[] = [];
    if (this.open) {
      const { startLine } = this.open;
      this.open = null;
      this.emit(jsonError(`line ${this.lineNo}: unexpected end of input (the JSON value starting at line ${startLine} is not closed)`), startLine, out);
    }
    if (this.held) {
      const { answer } = this.held;
      this.held = null;
      out.push(`${JSON.stringify(answer, null, this.pretty ? 2 : undefined)}\n`);
    }
    return out;
  }

  private consume(line: string, lineNo: number, out: string[]): void {
    const blank = line.trim() === '';
    if (this.mode === 'start') {
      if (blank) return;
      const trimmed = line.trim();
      const parsed = parseJson(trimmed);
      if (parsed.ok) {
        this.mode = 'lines';
        this.emit(analyzeValue(parsed.value), lineNo, out);
        return;
      }
      const status = new JsonScanner().feed(`${line}\n`);
      this.mode = status.status === 'error' ? 'lines' : 'values';
    }
    if (this.mode === 'lines') {
      if (blank) return;
      const parsed = parseJson(line.trim());
      this.emit(parsed.ok ? analyzeValue(parsed.value) : jsonError(`line ${lineNo}: ${parsed.message}`), lineNo, out);
      return;
    }
    this.consumeValueLine(line, lineNo, blank, out);
  }

  private consumeValueLine(line: string, lineNo: number, blank: boolean, out: string[]): void {
    if (!this.open) {
      if (blank) return;
      if (this.resync && !(line.startsWith('{') || line.startsWith('['))) return;
      this.resync = false;
      this.open = { scanner: new JsonScanner(), startLine: lineNo, lines: [] };
    }
    const open = this.open;
    open.lines.push(line);
    const status = open.scanner.feed(`${line}\n`);
    if (status.status === 'incomplete') return;
    this.open = null;
    if (status.status === 'complete') {
      const parsed = parseJson(open.lines.join('\n'));
      this.emit(parsed.ok ? analyzeValue(parsed.value) : jsonError(`line ${open.startLine}: ${parsed.message}`), open.startLine, out);
      return;
    }
    // A truncated first line of JSON lines: the line that broke the value is a value by itself.
    if (this.records === 0 && lineNo > open.startLine && parseJson(line.trim()).ok) {
      this.mode = 'lines';
      open.lines.forEach((l, k) => this.consume(l, open.startLine + k, out));
      return;
    }
    this.emit(jsonError(`line ${lineNo}, column ${status.column}: ${status.message}`), open.startLine, out);
    // Resume at the next value: this line if it starts one (the previous value was not closed).
    if (lineNo > open.startLine && (line.startsWith('{') || line.startsWith('['))) {
      this.consumeValueLine(line, lineNo, blank, out);
    } else {
      this.resync = true;
    }
  }

  private emit(answer: AnalyzeAnswer, line: number, out: string[]): void {
    this.records++;
    const bad = countInvalid(answer);
    this.invalid += bad;
    if (bad > 0 && this.firstInvalidLine === null) this.firstInvalidLine = line;
    if (this.records === 1) {
      this.held = { answer, line };
      return;
    }
    if (this.held) {
      out.push(`${JSON.stringify(this.held.answer)}\n`);
      this.held = null;
    }
    out.push(`${JSON.stringify(answer)}\n`);
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}

export interface AnalyzeTextResult {
  output: string;
  records: number;
  invalid: number;
}

/** The whole CLI on a string: what it would print for this stdin, and the counts. */
export function analyzeInput(text: string, options: AnalyzeOptions = {}): AnalyzeTextResult {
  const stream = new AnalyzeStream(options);
  const chunks: string[] = [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) chunks.push(...stream.push(line));
  chunks.push(...stream.end());
  return { output: chunks.join(''), records: stream.records, invalid: stream.invalid };
}

/** What the CLI prints for this stdin. */
export function analyzeText(text: string, options: AnalyzeOptions = {}): string {
  return analyzeInput(text, options).output;
}

/** The exit code: 0 when every analysis was valid, 1 when any was invalid, 2 for no input. */
export function exitCodeFor(result: { records: number; invalid: number }): 0 | 1 | 2 {
  if (result.records === 0) return 2;
  return result.invalid > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Arguments and usage

export type AnalyzeArgs = { ok: true; help: boolean; pretty: boolean } | { ok: false; message: string };

export function parseAnalyzeArgs(argv: readonly string[]): AnalyzeArgs {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { help: { type: 'boolean', short: 'h', default: false }, pretty: { type: 'boolean', default: false } },
      allowPositionals: false,
      strict: true,
    });
    return { ok: true, help: values.help ?? false, pretty: values.pretty ?? false };
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}

export const ANALYZE_EXAMPLE =
  '{"engine":"frequentist","metric":"mean","variants":[{"n":3407,"sum":1396.87,"sumSquares":52377.9767},{"n":3461,"sum":2422.7,"sumSquares":134698.29}]}';

export const ANALYZE_USAGE = `Usage: npm run -s analyze [-- --pretty] < input.json
       node --import ./scripts/ts/register.mjs subgraphs/experiments/src/analyze-main.ts [--pretty] [--help]

Analyses an A/B test from sufficient statistics with the experiments subgraph's engine
(GrowthBook gbstats: t-test, sequential t-test, Bayesian; CUPED; SRM check).

Input on stdin, either
  - one JSON value: an analysis object (may span many lines) or an array of them; one answer
    (an array for an array), indented with --pretty; or
  - JSON lines: one analysis per line (blank lines skipped); one compact answer line per input
    line, in order, written as it goes.

An analysis object:
  engine            "frequentist" | "bayesian"                        (required)
  metric            "mean" | "proportion" | "ratio"                   (required)
  sequential        true for the always-valid sequential t-test (frequentist only)
  sequentialTuning  tuning parameter of the sequential test (default 5000)
  alpha             significance level / 1 - credibility (default 0.05)
  cuped             true for CUPED (regression adjustment on a pre-exposure covariate)
  differenceType    "relative" | "absolute": the scale of chanceToWin and risk (default relative)
  inverse           true when lower is better
  prior             { mean, stddev, proper, type: "relative"|"absolute" } (Bayesian; default
                    improper, i.e. mean 0, stddev 0.3, proper false)
  variants          [control, treatment, ...], each (sums over units):
    n                        units (integer, required)
    sum                      sum of the metric (successes for a proportion; required)
    sumSquares               sum of squares (mean and ratio metrics)
    weight                   expected traffic share for the SRM check (all variants or none)
    denominatorSum, denominatorSumSquares, sumProducts (numerator x denominator)   ratio metric
    covariateSum, covariateSumSquares, covariateSumProducts (metric x covariate)   cuped
    denominatorPreSum, denominatorPreSumSquares, mainPostDenominatorPreSumProducts,
    mainPreDenominatorPostSumProducts, mainPreDenominatorPreSumProducts,
    denominatorPostDenominatorPreSumProducts                                       cuped ratio

An answer: { "comparisons": [ { variant, controlMean, treatmentMean,
  absolute: { estimate, low, high, pValue }, relative: { estimate, low, high, pValue },
  chanceToWin, risk: { control, treatment }, cuped?: { theta, varianceReduction },
  errorMessage? } ], "srm": { chiSquare, pValue } }
(one comparison per treatment against variant 0; pValue null under Bayesian, chanceToWin and risk
null under frequentist), or, for an invalid analysis,
  { "error": { "code": "JSON_INVALID" | "ANALYSIS_INVALID", "message": "...", "field": "variants[1].sumSquares" } }

Exit code: 0 all analyses valid, 1 at least one invalid (the others are still answered),
2 usage error (unknown option, no input).

Example:
  echo '${ANALYZE_EXAMPLE}' | npm run -s analyze
`;
