/**
 * Use cases of the recommendations service: keep the catalog, learn popularity, trending and
 * co-occurrence from the event stream, and rank rows for users from the features the graph
 * delivers (`@requires`), never from the profile store.
 */
import { issueImpression } from '../../../../lib/contracts/impression.js';
import type { ProfileEvent } from '../../../../lib/contracts/event.js';
import { checkItem } from '../../../../lib/contracts/validate.js';
import { CodedError } from '../../../../lib/contracts/errors.js';
import type { RankingFeatures } from '../../../../lib/contracts/ranking-features.js';
import { CatalogIndex } from '../domain/catalog.js';
import type { CatalogItem } from '../domain/catalog.js';
import { CoOccurrence } from '../domain/co-occurrence.js';
import { ItemStats, interactionWeight } from '../domain/item-stats.js';
import { RANKERS, rank } from '../domain/ranker.js';
import type { RankingEnv } from '../domain/ranker.js';
import type { CatalogStore } from '../store/ports.js';

export type ServedModel = 'REALTIME' | 'BASELINE';

export interface RecommendationConfig {
  defaultModel: ServedModel;
  impressionSecret: string;
  trendingHalfLifeMs: number;
  facets: readonly string[];
  /** How often popularity and trending orderings may be rebuilt. */
  orderingRefreshMs: number;
  /** The experiment whose variant picks the model, and the model of each variant. */
  rankingExperiment: string;
  variantModels: Record<string, ServedModel>;
}

export interface AssignmentRef {
  experimentKey: string;
  variant: string;
  inExperiment: boolean;
}

export interface RowItem {
  position: number;
  score: number;
  reasons: string[];
  item: CatalogItem;
}

export interface RecommendationRow {
  unitId: string;
  impressionId: string;
  model: ServedModel;
  experimentKey: string | null;
  variant: string | null;
  profileVersion: number;
  generatedAt: number;
  items: RowItem[];
}

export interface RowRequest {
  userId: string;
  unitId: string;
  limit: number;
  live: RankingFeatures | null;
  batch: RankingFeatures | null;
  /** Forces a model (tools, benchmarks); otherwise the assignment or the configured default decides. */
  model?: ServedModel;
  assignments?: readonly AssignmentRef[];
}

export interface ItemRejection {
  index: number;
  itemId: string | null;
  code: string;
  message: string;
}

export const MAX_UPSERT = 1000;


export class RecommendationService {
  readonly stats: ItemStats;
  readonly catalog: CatalogIndex;
  readonly env: RankingEnv;

  constructor(
    private readonly store: CatalogStore,
    readonly config: RecommendationConfig,
    private readonly now: () => number = Date.now,
    /** The one ranking function every model goes through (a seam for tests that watch its calls). */
    private readonly ranker: typeof rank = rank,
  ) {
    this.stats = new ItemStats(config.trendingHalfLifeMs);
    this.catalog = new CatalogIndex(config.facets, this.stats, config.orderingRefreshMs);
    this.env = { catalog: this.catalog, coOccurrence: new CoOccurrence() };
  }

  /** Loads the stored catalog into the retrieval indexes. */
  async init(): Promise<void> {
    this.catalog.upsert(await this.store.loadAll());
  }

  async upsertItems(raw: readonly unknown[]): Promise<{ upserted: number; rejected: ItemRejection[] }> {
    if (raw.length > MAX_UPSERT) {
      throw new CodedError('BATCH_TOO_LARGE', `at most ${MAX_UPSERT} items per call; got ${raw.length}`);
    }
    const valid: CatalogItem[] = [];
    const rejected: ItemRejection[] = [];
    raw.forEach((value, index) => {
      const id = typeof (value as { id?: unknown })?.id === 'string' ? (value as { id: string }).id : null;
      const checked = checkItem(value);
      if (!checked.ok) return rejected.push({ index, itemId: id, code: checked.code, message: checked.message });
      const year = (value as { releaseYear?: unknown }).releaseYear;
      if (year !== undefined && year !== null && (!Number.isInteger(year) || (year as number) < 1800 || (year as number) > 2200)) {
        return rejected.push({ index, itemId: id, code: 'ITEM_INVALID', message: 'releaseYear must be an integer between 1800 and 2200' });
      }
      valid.push(year == null ? checked.item : { ...checked.item, releaseYear: year as number });
    });
    if (valid.length > 0) {
      await this.store.upsert(valid);
      this.catalog.upsert(valid);
    }
    return { upserted: valid.length, rejected };
  }

  /** Bulk load (seed data, MovieLens): upserts in batches and fails on any invalid item. */
  async importCatalog(items: readonly CatalogItem[]): Promise<void> {
    for (let i = 0; i < items.length; i += MAX_UPSERT) {
      const result = await this.upsertItems(items.slice(i, i + MAX_UPSERT));
      if (result.rejected.length > 0) throw new Error(`catalog import rejected items: ${JSON.stringify(result.rejected.slice(0, 3))}`);
    }
  }

  /** Learns from accepted events (the event stream consumer). */
  consume(events: readonly ProfileEvent[]): void {
    for (const e of events) {
      if (!e.item) continue;
      const weight = interactionWeight(e);
      if (weight <= 0) continue;
      this.stats.record(e.item.id, weight, e.occurredAt);
      this.env.coOccurrence.observe(e.userId, e.item.id);
    }
  }

  /** The ranking experiment's variant for this user, when they are in it. */
  private rankingAssignment(assignments: readonly AssignmentRef[] | undefined): AssignmentRef | undefined {
    return assignments?.find((a) => a.experimentKey === this.config.rankingExperiment && a.inExperiment);
  }

  recommend(req: RowRequest): RecommendationRow {
    const assignment = req.model ? undefined : this.rankingAssignment(req.assignments);
    const model = req.model ?? (assignment && this.config.variantModels[assignment.variant]) ?? this.config.defaultModel;
    const features = RANKERS[model].features({ live: req.live, batch: req.batch });
    const now = this.now();
    // Consumption is a business rule, not a model feature: always from the live profile.
    const exclude = new Set(req.live?.consumed ?? []);
    const ranked = this.ranker(this.env, { features, exclude, limit: req.limit, now });
    const experimentKey = assignment?.experimentKey ?? null;
    const variant = assignment?.variant ?? null;
    const items = ranked.map((r, i) => ({ position: i + 1, score: r.score, reasons: r.reasons, item: r.item }));
    return {
      unitId: req.unitId,
      model,
      experimentKey,
      variant,
      profileVersion: features?.version ?? 0,
      generatedAt: now,
      items,
      impressionId: issueImpression(
        {
          userId: req.userId,
          unitId: req.unitId,
          model,
          experimentKey,
          variant,
          itemIds: items.map((i) => i.item.id),
          issuedAt: now,
        },
        this.config.impressionSecret,
      ),
    };
  }
}
