import type { CatalogItem } from '../domain/catalog.js';
import type { CatalogStore } from './ports.js';

export class MemoryCatalogStore implements CatalogStore {
  private readonly items = new Map<string, CatalogItem>();

  async upsert(items: readonly CatalogItem[]): Promise<void> {
    for (const item of items) this.items.set(item.id, item);
  }

  async loadAll(): Promise<CatalogItem[]> {
    return [...this.items.values()];
  }

  async close(): Promise<void> {}
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
