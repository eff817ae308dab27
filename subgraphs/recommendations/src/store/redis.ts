/** Redis adapter of the catalog store: one hash of item documents (the indexes live in memory). */
import type { RedisClient } from '../../../../lib/redis/connection.js';
import type { CatalogItem } from '../domain/catalog.js';
import type { CatalogStore } from './ports.js';

export class RedisCatalogStore implements CatalogStore {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.key = `${prefix}catalog`;
  }

  async upsert(items: readonly CatalogItem[]): Promise<void> {
    if (items.length === 0) return;
    await this.redis.hset(this.key, Object.fromEntries(items.map((i) => [i.id, JSON.stringify(i)])));
  }

  async loadAll(): Promise<CatalogItem[]> {
    const items: CatalogItem[] = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.key, cursor, 'COUNT', 1000);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) items.push(JSON.parse(flat[i]!) as CatalogItem);
    } while (cursor !== '0');
    return items;
  }

  async close(): Promise<void> {}
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
