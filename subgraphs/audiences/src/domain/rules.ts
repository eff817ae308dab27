/**
 * The audience rule language: JSON rules over the shared profile, compiled once (validated, with
 * what they read, which audiences and computed traits they need) and evaluated per profile view.
 * Pure: no I/O. `nextChangeAt` gives the time a rule's truth can next change with no event, so
 * membership is re-evaluated when time alone matters (a window emptying, a decayed affinity
 * crossing a threshold, inactivity reaching a duration) instead of by a periodic scan.
 */
import { evalCondition } from '@growthbook/growthbook';
import type { ConditionInterface } from '@growthbook/growthbook';
import { definitionProblems, inlineTraitName, parseWindow } from '../../../../lib/contracts/computed-traits.js';
import type { ComputedTraitDefinition, ComputedTraitValueView } from '../../../../lib/contracts/computed-traits.js';
import { CodedError } from '../../../../lib/contracts/errors.js';
import { scoreAt } from '../../../../lib/contracts/decay.js';
import type { AffinityView, RankingFeatures } from '../../../../lib/contracts/ranking-features.js';

/** What the rules read of a user, built from one entity fetch through the graph. */
export interface ProfileView {
  userId: string;
  version: number;
  /** Epoch ms of the latest event. */
  lastEventAt: number | null;
  traits: Record<string, unknown>;
  /** Affinity scores are anchored at their `lastSeenAt`; rules decay them to their own `now`. */
  features: RankingFeatures;
  /** By trait name; values as of `asOf`. */
  computed: Record<string, ComputedTraitValueView>;
  /** When the computed values were computed. */
  asOf: number;
  skus: { sku: string; purchased: number; addedToCart: number; viewed: number; lastSeenAt: number }[];
}

/** Membership in other audiences, as the caller knows it when it evaluates. */
export interface RuleContext {
  isMember(audienceId: string): boolean;
}

export interface RuleProblem {
  /** The node or field at fault, for example `$.all[1].affinity.gte`. */
  path: string;
  message: string;
}

/** A rule that does not compile; `problems` lists every problem found, not just the first. */
export class RuleError extends CodedError {
  declare readonly code: 'RULE_INVALID';
  constructor(readonly problems: RuleProblem[]) {
    // The problems as data too (`extensions.problems`), so a client can point at each node.
    super('RULE_INVALID', `invalid audience rule: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { details: { problems } });
  }
}

export interface RuleLimits {
  maxNodes: number;
  maxDepth: number;
  /** Length of the rule's JSON text. */
  maxBytes: number;
}

export const DEFAULT_RULE_LIMITS: RuleLimits = Object.freeze({ maxNodes: 200, maxDepth: 10, maxBytes: 16_384 });

export interface CompiledRule {
  /** The rule as given (a JSON copy). */
  source: unknown;
  /** Profile fields it depends on, named as `ProfileUpdated.changed` names them. */
  reads: ReadonlySet<string>;
  /** Audience ids referenced (for cycle checks and re-evaluation when their membership changes). */
  audiences: readonly string[];
  /** Computed trait names referenced, named and inline ones. */
  traitNames: readonly string[];
  /** Definitions the rule needs to exist in the profile (inline windows and purchases). */
  inlineTraits: readonly ComputedTraitDefinition[];
  /** Whether its truth can change with no event. */
  timeDependent: boolean;
}

type Order = 'gte' | 'gt' | 'lte' | 'lt';
const ORDERS: readonly Order[] = ['gte', 'gt', 'lte', 'lt'];
type Threshold = { op: Order; value: number };
type Comparison = Threshold | { op: 'eq'; value: number | string };
type Dimension = 'genre' | 'category' | 'facet';

/** The compiled tree; `computed` also stands for inline `events` and purchases by category. */
type Node =
  | { t: 'all' | 'any'; of: Node[] }
  | { t: 'not'; of: Node }
  | { t: 'traits'; condition: ConditionInterface }
  | { t: 'affinity'; dimension: Dimension; facet: string; key: string; cmp: Threshold }
  | { t: 'computed'; trait: string; cmp: Comparison }
  | { t: 'series'; seriesId: string | null; cmp: Threshold }
  | { t: 'sku'; sku: string; cmp: Threshold }
  | { t: 'lastEventWithin' | 'inactiveFor'; ms: number }
  | { t: 'audience'; id: string };

const NODE_KINDS = ['all', 'any', 'not', 'traits', 'affinity', 'computed', 'events', 'series', 'purchased', 'lastEventWithin', 'inactiveFor', 'audience'] as const;
type NodeKind = (typeof NODE_KINDS)[number];

const DIMENSIONS: Record<Dimension, string> = { genre: 'genreAffinities', category: 'categoryAffinities', facet: 'facetAffinities' };
const SHORT = 128;

/** Every GrowthBook operator; which ones apply where is checked by `checkCondition`. */
const GROWTHBOOK_OPERATORS = new Set([
  '$eq', '$ne', '$lt', '$lte', '$gt', '$gte', '$veq', '$vne', '$vgt', '$vgte', '$vlt', '$vlte', '$exists', '$in', '$nin', '$ini', '$nini',
  '$all', '$alli', '$elemMatch', '$size', '$regex', '$regexi', '$not', '$and', '$or', '$nor', '$type', '$inGroup', '$notInGroup',
]);
const GROWTHBOOK_TYPES = ['null', 'array', 'string', 'number', 'boolean', 'object', 'undefined'];
/** Attribute path segments that would reach into prototypes (GrowthBook walks paths with `in`). */
const RESERVED_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A path step: `.name` for plain keys, `["a.b"]` otherwise. */
const seg = (key: string): string => (/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`);
const own = <T>(record: Record<string, T>, key: string): T | undefined => (Object.hasOwn(record, key) ? record[key] : undefined);

/** Compiled trees of the rules compileRule returned; a copy of a rule is compiled again from `source`. */
const trees = new WeakMap<CompiledRule, Node>();
/** A copy's source compiled before, under whatever limits were given then. */
const UNLIMITED: RuleLimits = { maxNodes: Infinity, maxDepth: Infinity, maxBytes: Infinity };

/** Validates and compiles a rule; throws RuleError listing every problem, each with its node path. */
export function compileRule(raw: unknown, limits: RuleLimits = DEFAULT_RULE_LIMITS): CompiledRule {
  let text: string | undefined;
  try {
    text = JSON.stringify(raw);
  } catch {
    throw new RuleError([{ path: '$', message: 'a rule is a JSON value' }]);
  }
  if (text === undefined) throw new RuleError([{ path: '$', message: 'a rule is a JSON object' }]);
  if (text.length > limits.maxBytes) throw new RuleError([{ path: '$', message: `the rule is ${text.length} bytes of JSON, more than ${limits.maxBytes}` }]);
  const source: unknown = JSON.parse(text);
  const compiler = new Compiler(limits);
  const root = compiler.node(source, '$', 1);
  if (compiler.problems.length > 0 || root === null) throw new RuleError(compiler.problems);
  const rule: CompiledRule = Object.freeze({
    source,
    reads: compiler.reads,
    audiences: Object.freeze([...compiler.audiences]),
    traitNames: Object.freeze([...compiler.traitNames]),
    inlineTraits: Object.freeze([...compiler.inlineTraits.values()]),
    timeDependent: compiler.timeDependent,
  });
  trees.set(rule, root);
  return rule;
}

class Compiler {
  readonly problems: RuleProblem[] = [];
  readonly reads = new Set<string>();
  readonly audiences = new Set<string>();
  readonly traitNames = new Set<string>();
  readonly inlineTraits = new Map<string, ComputedTraitDefinition>();
  timeDependent = false;
  private nodes = 0;

  constructor(private readonly limits: RuleLimits) {}

  private bad(path: string, message: string): null {
    this.problems.push({ path, message });
    return null;
  }

  node(raw: unknown, path: string, depth: number): Node | null {
    if (depth > this.limits.maxDepth) return this.bad(path, `the rule is nested more than ${this.limits.maxDepth} levels deep`);
    if (++this.nodes === this.limits.maxNodes + 1) this.bad(path, `the rule has more than ${this.limits.maxNodes} nodes`);
    if (!isObject(raw)) return this.bad(path, `a rule node is an object with one key: ${NODE_KINDS.join(', ')}`);
    const keys = Object.keys(raw);
    if (keys.length !== 1) return this.bad(path, `a rule node has exactly one key, got ${keys.length === 0 ? 'none' : keys.join(', ')}`);
    const kind = keys[0]!;
    const at = `${path}${seg(kind)}`;
    // Array.includes, not `in`: `__proto__` and `constructor` must be unknown kinds.
    if (!(NODE_KINDS as readonly string[]).includes(kind)) return this.bad(at, `unknown rule node "${kind}"; expected one of ${NODE_KINDS.join(', ')}`);
    return this.kind(kind as NodeKind, raw[kind], at, depth);
  }

  private kind(kind: NodeKind, v: unknown, at: string, depth: number): Node | null {
    switch (kind) {
      case 'all':
      case 'any': {
        if (!Array.isArray(v) || v.length === 0) return this.bad(at, `${kind} takes a non-empty list of nodes`);
        const of = v.map((child, i) => this.node(child, `${at}[${i}]`, depth + 1));
        return of.every((n) => n !== null) ? { t: kind, of: of as Node[] } : null;
      }
      case 'not': {
        const of = this.node(v, at, depth + 1);
        return of && { t: 'not', of };
      }
      case 'traits':
        this.reads.add('traits');
        return this.checkCondition(v, at) ? { t: 'traits', condition: v as ConditionInterface } : null;
      case 'affinity':
        return this.affinity(v, at);
      case 'computed':
        return this.computed(v, at);
      case 'events':
        return this.events(v, at);
      case 'series':
        return this.series(v, at);
      case 'purchased':
        return this.purchased(v, at);
      case 'lastEventWithin':
      case 'inactiveFor': {
        this.reads.add('lastEventAt');
        this.timeDependent = true;
        const ms = parseWindow(v);
        return ms === null ? this.bad(at, `${kind} takes a duration such as "90s", "30m", "12h", "7d" or "2w"`) : { t: kind, ms };
      }
      case 'audience': {
        const id = this.string(v, at);
        if (id === null) return null;
        this.audiences.add(id);
        return { t: 'audience', id };
      }
    }
  }

  /** A leaf's object: unknown fields are problems. */
  private fields(v: unknown, at: string, allowed: readonly string[]): Record<string, unknown> | null {
    if (!isObject(v)) return this.bad(at, `takes an object with fields ${allowed.join(', ')}`);
    for (const key of Object.keys(v)) if (!allowed.includes(key)) this.bad(`${at}${seg(key)}`, `unknown field; expected one of ${allowed.join(', ')}`);
    return v;
  }

  private string(v: unknown, at: string): string | null {
    return typeof v === 'string' && v.length > 0 && v.length <= SHORT ? v : this.bad(at, `must be a non-empty string of at most ${SHORT} characters`);
  }

  /** Exactly one of gte, gt, lte, lt (and eq when `eq`), or `fallback` when none is given. */
  private comparison(o: Record<string, unknown>, at: string, eq: false, fallback?: Threshold): Threshold | null;
  private comparison(o: Record<string, unknown>, at: string, eq: true): Comparison | null;
  private comparison(o: Record<string, unknown>, at: string, eq: boolean, fallback?: Threshold): Comparison | null {
    const ops: readonly (Order | 'eq')[] = eq ? [...ORDERS, 'eq'] : ORDERS;
    const given = ops.filter((op) => Object.hasOwn(o, op));
    if (given.length === 0) return fallback ?? this.bad(at, `needs one comparison: ${ops.join(', ')}`);
    if (given.length > 1) return this.bad(at, `takes one comparison, got ${given.join(', ')}`);
    const op = given[0]!;
    const value = o[op];
    if (op === 'eq' && (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)))) return { op, value };
    if (op !== 'eq' && typeof value === 'number' && Number.isFinite(value)) return { op, value };
    return this.bad(`${at}.${op}`, op === 'eq' ? 'eq takes a number or a string' : `${op} takes a finite number`);
  }

  private affinity(v: unknown, at: string): Node | null {
    const o = this.fields(v, at, ['dimension', 'facet', 'key', ...ORDERS]);
    if (!o) return null;
    this.timeDependent = true;
    const dimension = o.dimension as Dimension;
    const known = typeof dimension === 'string' && Object.hasOwn(DIMENSIONS, dimension);
    if (known) this.reads.add(DIMENSIONS[dimension]);
    else this.bad(`${at}.dimension`, `dimension must be one of ${Object.keys(DIMENSIONS).join(', ')}`);
    let facet = '';
    if (dimension === 'facet') facet = this.string(o.facet, `${at}.facet`) ?? '';
    else if (o.facet !== undefined) this.bad(`${at}.facet`, 'facet is only for dimension "facet"');
    const key = this.string(o.key, `${at}.key`);
    const cmp = this.comparison(o, at, false);
    if (!known || (dimension === 'facet' && !facet) || key === null || cmp === null) return null;
    return { t: 'affinity', dimension, facet, key, cmp };
  }

  private computed(v: unknown, at: string): Node | null {
    const o = this.fields(v, at, ['trait', ...ORDERS, 'eq']);
    if (!o) return null;
    this.reads.add('computedTraits');
    // The trait's definition is not known here: it may be windowed.
    this.timeDependent = true;
    const nameProblem = this.nameProblem(o.trait);
    const trait = nameProblem === undefined ? (o.trait as string) : this.bad(`${at}.trait`, nameProblem);
    const cmp = this.comparison(o, at, true);
    if (trait === null || cmp === null) return null;
    this.traitNames.add(trait);
    return { t: 'computed', trait, cmp };
  }

  /** The contract's name check, so rules accept exactly the names definitions can have. */
  private nameProblem(name: unknown): string | undefined {
    return definitionProblems({ name, kind: 'COUNT', eventTypes: [], filter: {}, windowMs: null }).find((p) => p.path === 'name')?.message;
  }

  private events(v: unknown, at: string): Node | null {
    const o = this.fields(v, at, ['types', 'genre', 'category', 'kind', 'seriesId', 'sku', 'facet', 'within', 'count', 'sum', 'distinct', 'facetName', ...ORDERS]);
    if (!o) return null;
    const before = this.problems.length;
    if (!Array.isArray(o.types) || o.types.length === 0) this.bad(`${at}.types`, 'types must be a non-empty list of event types');
    else o.types.forEach((t, i, types) => {
      // Listed twice would give the same definition another inline name.
      if (types.indexOf(t) !== i) this.bad(`${at}.types[${i}]`, `${JSON.stringify(t)} is listed twice`);
    });
    const aggregations = (['count', 'sum', 'distinct'] as const).filter((k) => o[k] !== undefined);
    if (aggregations.length > 1) this.bad(at, `takes one of count, sum, distinct; got ${aggregations.join(', ')}`);
    if (o.count !== undefined && o.count !== true) this.bad(`${at}.count`, 'count is true (the default) or omitted');
    const filter = Object.fromEntries((['genre', 'category', 'kind', 'seriesId', 'sku', 'facet'] as const).filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
    const def = {
      kind: o.sum !== undefined ? 'SUM' : o.distinct !== undefined ? 'DISTINCT' : 'COUNT',
      eventTypes: Array.isArray(o.types) ? o.types : [],
      filter,
      windowMs: this.within(o.within, `${at}.within`),
      ...(o.sum !== undefined ? { property: o.sum } : {}),
      ...(o.distinct !== undefined ? { of: o.distinct } : {}),
      ...(o.facetName !== undefined ? { facetName: o.facetName } : {}),
    };
    const renamed: Record<string, string> = { eventTypes: 'types', windowMs: 'within', property: 'sum', of: 'distinct' };
    const cmp = this.comparison(o, at, false);
    const trait = this.inline(def, at, (p) => p.replace(/^eventTypes\.(\d+)$/, 'types[$1]').replace(/^filter\./, '').replace(/^\w+$/, (k) => renamed[k] ?? k));
    return this.problems.length === before && trait !== null && cmp !== null ? { t: 'computed', trait, cmp } : null;
  }

  /** A window: null for all time, undefined (after a problem) when invalid. */
  private within(v: unknown, at: string): number | null | undefined {
    if (v === undefined) return null;
    const ms = parseWindow(v);
    if (ms === null) this.bad(at, 'within takes a duration such as "30m", "12h", "7d" or "2w"');
    return ms ?? undefined;
  }

  /**
   * Registers an inline computed trait, validated by the contract (problems mapped to rule paths by
   * `rulePath`), and returns its name. An invalid window is already reported; the rest is still checked.
   */
  private inline(def: Record<string, unknown>, at: string, rulePath: (definitionPath: string) => string): string | null {
    const checked = { ...def, windowMs: def.windowMs ?? null } as unknown as Omit<ComputedTraitDefinition, 'name'>;
    const name = inlineTraitName(checked);
    const problems = definitionProblems({ name, ...checked });
    for (const p of problems) this.bad(`${at}.${rulePath(p.path)}`, p.message);
    if (problems.length > 0 || def.windowMs === undefined) return null;
    this.reads.add('computedTraits');
    if (checked.windowMs !== null) this.timeDependent = true;
    this.traitNames.add(name);
    // Event types in the canonical order: equal definitions are equal whichever node came first.
    this.inlineTraits.set(name, Object.freeze({ name, ...checked, eventTypes: [...checked.eventTypes].sort() }));
    return name;
  }

  private series(v: unknown, at: string): Node | null {
    const o = this.fields(v, at, ['seriesId', 'episodesWatched']);
    if (!o) return null;
    this.reads.add('series');
    const seriesId = o.seriesId === undefined ? null : this.string(o.seriesId, `${at}.seriesId`);
    const watched = this.fields(o.episodesWatched, `${at}.episodesWatched`, ORDERS);
    const cmp = watched && this.comparison(watched, `${at}.episodesWatched`, false);
    if ((o.seriesId !== undefined && seriesId === null) || !cmp) return null;
    return { t: 'series', seriesId, cmp };
  }

  private purchased(v: unknown, at: string): Node | null {
    const o = this.fields(v, at, ['sku', 'category', 'within', ...ORDERS]);
    if (!o) return null;
    const cmp = this.comparison(o, at, false, { op: 'gte', value: 1 });
    if ((o.sku === undefined) === (o.category === undefined)) return this.bad(at, 'purchased takes either sku or category');
    if (o.sku !== undefined) {
      this.reads.add('skus');
      if (o.within !== undefined) this.bad(`${at}.within`, 'within is only for category (sku purchases count for all time)');
      const sku = this.string(o.sku, `${at}.sku`);
      return sku !== null && cmp !== null && o.within === undefined ? { t: 'sku', sku, cmp } : null;
    }
    const def = { kind: 'COUNT', eventTypes: ['PURCHASE'], filter: { category: o.category }, windowMs: this.within(o.within, `${at}.within`) };
    const trait = this.inline(def, at, (p) => (p === 'windowMs' ? 'within' : p.replace(/^filter\./, '')));
    return trait !== null && cmp !== null ? { t: 'computed', trait, cmp } : null;
  }

  /** GrowthBook's syntax, checked up front: its evaluator would quietly treat mistakes as false. */
  private checkCondition(c: unknown, at: string): boolean {
    const before = this.problems.length;
    this.condition(c, at);
    return this.problems.length === before;
  }

  private condition(c: unknown, at: string): void {
    if (!isObject(c)) {
      this.bad(at, 'a GrowthBook condition is an object, for example { "plan": "premium" }');
      return;
    }
    for (const [key, v] of Object.entries(c)) {
      const p = `${at}${seg(key)}`;
      if (key === '$and' || key === '$or' || key === '$nor') this.conditions(v, p);
      else if (key === '$not') this.condition(v, p);
      else if (key.startsWith('$')) {
        this.bad(p, GROWTHBOOK_OPERATORS.has(key) ? `${key} compares an attribute's value: put it under an attribute` : `unknown GrowthBook operator ${key}`);
      } else if (key.split('.').some((s) => RESERVED_SEGMENTS.has(s) || s === '')) this.bad(p, 'not an attribute path');
      else this.value(v, p);
    }
  }

  private conditions(v: unknown, at: string): void {
    if (!Array.isArray(v)) this.bad(at, 'takes a list of conditions');
    else v.forEach((c, i) => this.condition(c, `${at}[${i}]`));
  }

  /** A condition on one value: a literal (compared as JSON) or an object of operators only. */
  private value(v: unknown, at: string): void {
    if (!isObject(v)) return;
    const keys = Object.keys(v);
    const operators = keys.filter((k) => k.startsWith('$'));
    if (operators.length === 0) return;
    if (operators.length < keys.length) {
      this.bad(at, 'mixes operators and plain fields (GrowthBook would compare it as a literal object)');
      return;
    }
    for (const [op, arg] of Object.entries(v)) this.operator(op, arg, `${at}${seg(op)}`);
  }

  private operator(op: string, arg: unknown, at: string): void {
    switch (op) {
      case '$eq': case '$ne': case '$lt': case '$lte': case '$gt': case '$gte':
        return;
      case '$veq': case '$vne': case '$vgt': case '$vgte': case '$vlt': case '$vlte':
        if (typeof arg !== 'string' && typeof arg !== 'number') this.bad(at, `${op} takes a version string`);
        return;
      case '$in': case '$nin': case '$ini': case '$nini':
        if (!Array.isArray(arg)) this.bad(at, `${op} takes a list`);
        return;
      case '$all': case '$alli':
        if (!Array.isArray(arg)) this.bad(at, `${op} takes a list`);
        else arg.forEach((a, i) => this.value(a, `${at}[${i}]`));
        return;
      case '$not': case '$size':
        this.value(arg, at);
        return;
      case '$elemMatch':
        if (!isObject(arg)) this.bad(at, '$elemMatch takes a condition');
        // As GrowthBook reads it: only operators, a condition on each element; else one on its fields.
        else if (Object.keys(arg).length > 0 && Object.keys(arg).every((k) => k.startsWith('$'))) this.value(arg, at);
        else this.condition(arg, at);
        return;
      case '$exists':
        if (typeof arg !== 'boolean') this.bad(at, '$exists takes true or false');
        return;
      case '$type':
        if (!GROWTHBOOK_TYPES.includes(arg as string)) this.bad(at, `$type takes one of ${GROWTHBOOK_TYPES.join(', ')}`);
        return;
      case '$inGroup': case '$notInGroup':
        if (typeof arg !== 'string') this.bad(at, `${op} takes a saved group id`);
        return;
      case '$regex': case '$regexi':
        if (typeof arg !== 'string') this.bad(at, `${op} takes a regular expression string`);
        else {
          try {
            new RegExp(arg);
          } catch (e) {
            this.bad(at, `${op} does not compile: ${(e as Error).message}`);
          }
        }
        return;
      default:
        this.bad(at, GROWTHBOOK_OPERATORS.has(op) ? `${op} combines conditions: use it at the condition level` : `unknown GrowthBook operator ${op}`);
    }
  }
}

function treeOf(rule: CompiledRule): Node {
  return trees.get(rule) ?? (trees.get(compileRule(rule.source, UNLIMITED)) as Node);
}

/** Whether the user is in the audience at `now`. */
export function evaluateRule(rule: CompiledRule, view: ProfileView, now: number, ctx: RuleContext): boolean {
  return holds(treeOf(rule), view, now, ctx);
}

function compare(op: Order, x: number, threshold: number): boolean {
  switch (op) {
    case 'gte': return x >= threshold;
    case 'gt': return x > threshold;
    case 'lte': return x <= threshold;
    case 'lt': return x < threshold;
  }
}

function affinityEntry(n: Extract<Node, { t: 'affinity' }>, features: RankingFeatures): AffinityView | undefined {
  const list = n.dimension === 'genre' ? features.genres : n.dimension === 'category' ? features.categories : own(features.facets, n.facet) ?? [];
  return list.find((a) => a.key === n.key);
}

/** The decayed score at `at`; an absent key scores 0. */
function affinityAt(entry: AffinityView | undefined, at: number, halfLifeMs: number): number {
  return entry ? scoreAt(entry, at, halfLifeMs) : 0;
}

/**
 * A computed trait's value against a comparison. A missing or null value (no events yet, or an
 * inline trait not yet created) counts as 0 for `lte`/`lt` only: "fewer than 3" includes none,
 * while `gte`, `gt` and `eq` need a value.
 */
function computedHolds(value: number | string | null, cmp: Comparison): boolean {
  if (cmp.op === 'eq') return value === cmp.value;
  if (typeof value === 'number') return compare(cmp.op, value, cmp.value);
  return value === null && (cmp.op === 'lte' || cmp.op === 'lt') && compare(cmp.op, 0, cmp.value);
}

function holds(n: Node, view: ProfileView, now: number, ctx: RuleContext): boolean {
  switch (n.t) {
    case 'all': return n.of.every((c) => holds(c, view, now, ctx));
    case 'any': return n.of.some((c) => holds(c, view, now, ctx));
    case 'not': return !holds(n.of, view, now, ctx);
    case 'traits': return evalCondition(view.traits, n.condition);
    case 'affinity': return compare(n.cmp.op, affinityAt(affinityEntry(n, view.features), now, view.features.halfLifeMs), n.cmp.value);
    case 'computed': return computedHolds(own(view.computed, n.trait)?.value ?? null, n.cmp);
    case 'series': {
      const counts = view.features.series.filter((s) => n.seriesId === null || s.seriesId === n.seriesId).map((s) => s.watched.length);
      return compare(n.cmp.op, Math.max(0, ...counts), n.cmp.value);
    }
    case 'sku': return compare(n.cmp.op, view.skus.find((s) => s.sku === n.sku)?.purchased ?? 0, n.cmp.value);
    case 'lastEventWithin': return view.lastEventAt !== null && now - view.lastEventAt < n.ms;
    case 'inactiveFor': return view.lastEventAt !== null && now - view.lastEventAt >= n.ms;
    case 'audience': return ctx.isMember(n.id);
  }
}

/**
 * The earliest whole ms after `now` at which the rule's value can change with no new event, or
 * null when it cannot. Never later than the true change; re-evaluating at the returned time sees
 * the change when one is due. `audience` leaves count as unchanging: a change of the referenced
 * audience's membership is itself a trigger for re-evaluation (`CompiledRule.audiences`).
 */
export function nextChangeAt(rule: CompiledRule, view: ProfileView, now: number, ctx: RuleContext): number | null {
  return next(treeOf(rule), view, now, ctx);
}

function next(n: Node, view: ProfileView, now: number, ctx: RuleContext): number | null {
  switch (n.t) {
    case 'all':
    case 'any': {
      // A child stuck at false keeps `all` false (stuck at true keeps `any` true): nothing is due.
      const stuck = n.t === 'any';
      let earliest: number | null = null;
      for (const c of n.of) {
        const at = next(c, view, now, ctx);
        if (at === null) {
          if (holds(c, view, now, ctx) === stuck) return null;
        } else earliest = earliest === null ? at : Math.min(earliest, at);
      }
      return earliest;
    }
    case 'not': return next(n.of, view, now, ctx);
    case 'affinity': return affinityNext(n, view, now);
    case 'computed': {
      const at = own(view.computed, n.trait)?.nextChangeAt ?? null;
      return at !== null && at > now ? at : null;
    }
    case 'lastEventWithin':
    case 'inactiveFor': {
      if (view.lastEventAt === null) return null;
      const at = view.lastEventAt + n.ms;
      return at > now ? at : null;
    }
    case 'traits':
    case 'series':
    case 'sku':
    case 'audience':
      return null;
  }
}

/**
 * When the decaying score crosses the threshold. |score| falls toward 0, so it crosses once, at
 * lastSeenAt + h·log2(score/threshold), and only when the threshold lies between 0 and the score.
 */
function affinityNext(n: Extract<Node, { t: 'affinity' }>, view: ProfileView, now: number): number | null {
  const entry = affinityEntry(n, view.features);
  const h = view.features.halfLifeMs;
  if (!entry || !(h > 0)) return null;
  const ratio = entry.score / n.cmp.value;
  if (!(ratio >= 1 && Number.isFinite(ratio))) return null;
  const crossing = entry.lastSeenAt + h * Math.log2(ratio);
  return firstFlip((t) => compare(n.cmp.op, affinityAt(entry, t, h), n.cmp.value), now, crossing);
}

/** Steps allowed around the computed crossing: floating point puts it within a fraction of a ms. */
const ROUNDING_STEPS = 3;

/**
 * The first whole ms after `now` at which `value` (monotone in time) differs from its value at
 * `now`, starting from the exact `crossing`: checked with the very evaluation `holds` uses, so
 * evaluating at the returned time flips. Null when the flip is already past.
 */
function firstFlip(value: (t: number) => boolean, now: number, crossing: number): number | null {
  const before = value(now);
  let t = Math.max(now + 1, Math.ceil(crossing));
  for (let i = 0; i < ROUNDING_STEPS && t - 1 > now && value(t - 1) !== before; i++) t--;
  for (let i = 0; i < ROUNDING_STEPS && value(t) === before; i++) t++;
  return value(t) !== before ? t : null;
}
