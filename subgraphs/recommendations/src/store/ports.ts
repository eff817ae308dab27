/** Storage ports of the recommendations service (memory adapter here, Redis with the Redis issue). */
import type { Closable } from '../../../../lib/dispose.js';
import type { CatalogItem } from '../domain/catalog.js';

export interface CatalogStore extends Closable {
  /** Inserts or replaces items by id. */
  upsert(items: readonly CatalogItem[]): Promise<void>;
  /** Every stored item (the service keeps its retrieval indexes in memory). */
  loadAll(): Promise<CatalogItem[]>;
}
