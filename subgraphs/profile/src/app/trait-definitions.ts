/**
 * The computed-trait definitions every write path folds events with. Shared by the processes of
 * the profile service through the TraitDefinitionStore: each process checks the set's version at
 * most once per `refreshMs` when it is about to apply events (one cheap read, no timer), and
 * reloads the set when it moved. A definition counts the events applied after a process learned
 * of it (README: computed traits), so a new one is in force everywhere within `refreshMs`.
 */
import { definitionProblems, MAX_COMPUTED_TRAITS } from '../../../../lib/contracts/computed-traits.js';
import type { ComputedTraitDefinition } from '../../../../lib/contracts/computed-traits.js';
import { CodedError } from '../../../../lib/contracts/errors.js';
import type { ReducerConfig } from '../domain/config.js';
import type { StoredTraitDefinition, TraitDefinitionStore } from '../store/ports.js';

export class TraitDefinitions {
  private version = -1;
  private definitions: StoredTraitDefinition[] = [];
  private current: ReducerConfig;
  private checkedAt = -Infinity;
  private checking: Promise<void> | null = null;

  constructor(
    private readonly store: TraitDefinitionStore,
    private readonly base: ReducerConfig,
    private readonly refreshMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.current = base;
  }

  /** The reducer configuration with the definitions as last loaded. */
  get config(): ReducerConfig {
    return this.current;
  }

  list(): readonly StoredTraitDefinition[] {
    return this.definitions;
  }

  /** Resolves once the definitions are at most `refreshMs` old. */
  fresh(): Promise<void> {
    if (this.now() - this.checkedAt < this.refreshMs) return Promise.resolve();
    return (this.checking ??= this.check().finally(() => (this.checking = null)));
  }

  private async check(): Promise<void> {
    const version = await this.store.version();
    if (version !== this.version) await this.reload();
    this.checkedAt = this.now();
  }

  private async reload(): Promise<void> {
    const { version, definitions } = await this.store.list();
    this.version = version;
    this.definitions = definitions;
    // A new object per set: the reducer caches its matchers per definitions array.
    this.current = { ...this.base, computedTraits: definitions.map(withoutCreatedAt) };
  }

  /**
   * Creates a definition, or returns the same one when it exists (defining twice is a no-op, so
   * audiences can ensure the traits their rules need). A different definition under a taken name
   * is refused: its state was built by the other one.
   */
  async define(raw: ComputedTraitDefinition): Promise<StoredTraitDefinition> {
    const problems = definitionProblems(raw);
    if (problems.length > 0) {
      throw new CodedError('COMPUTED_TRAIT_INVALID', problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; '));
    }
    await this.reload();
    if (this.definitions.length >= MAX_COMPUTED_TRAITS && !this.definitions.some((d) => d.name === raw.name)) {
      throw new CodedError('COMPUTED_TRAIT_LIMIT', `at most ${MAX_COMPUTED_TRAITS} computed traits can be defined; delete one first`);
    }
    const stored = await this.store.putIfAbsent({ ...canonical(raw), createdAt: this.now() });
    if (JSON.stringify(withoutCreatedAt(stored)) !== JSON.stringify(canonical(raw))) {
      throw new CodedError('COMPUTED_TRAIT_EXISTS', `a different computed trait is already named ${raw.name}; delete it first or choose another name`);
    }
    await this.reload();
    this.checkedAt = this.now();
    return stored;
  }

  async remove(name: string): Promise<boolean> {
    const removed = await this.store.delete(name);
    await this.reload();
    this.checkedAt = this.now();
    return removed;
  }
}

/** One spelling per definition (fields in one order, absent ones left out), so equal ones compare equal. */
function canonical(d: ComputedTraitDefinition): ComputedTraitDefinition {
  const filter = Object.fromEntries(
    (['genre', 'category', 'kind', 'seriesId', 'sku', 'facet'] as const).filter((k) => d.filter[k] !== undefined).map((k) => [k, k === 'facet' ? { name: d.filter.facet!.name, value: d.filter.facet!.value } : d.filter[k]]),
  );
  return {
    name: d.name,
    kind: d.kind,
    eventTypes: [...new Set(d.eventTypes)].sort(),
    filter,
    windowMs: d.windowMs,
    ...(d.property !== undefined ? { property: d.property } : {}),
    ...(d.of !== undefined ? { of: d.of } : {}),
    ...(d.facetName !== undefined ? { facetName: d.facetName } : {}),
  };
}

function withoutCreatedAt(d: StoredTraitDefinition): ComputedTraitDefinition {
  const { createdAt: _createdAt, ...definition } = d;
  return canonical(definition);
}
