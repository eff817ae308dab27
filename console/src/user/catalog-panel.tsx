/** Any catalog item, to send an event for what is not in the row yet (episode 1 of a new series). */
import { useQuery } from '@apollo/client/react';
import { useState } from 'react';
import type { ChangeEvent } from 'react';
import { ErrorNote, Loading } from '../ui/status';
import { actionsFor } from './events';
import type { ItemAction } from './events';
import { CATALOG_QUERY } from './queries';
import type { CatalogItem } from './queries';
import { inputValue } from '../ui/forms';

const KINDS = ['EPISODE', 'MOVIE', 'PRODUCT'] as const;

export function CatalogPanel({ onAction }: { onAction: (action: ItemAction, item: CatalogItem) => void }) {
  const [kind, setKind] = useState<(typeof KINDS)[number]>('EPISODE');
  const { data, loading, error } = useQuery<{ items: { totalCount: number; edges: Array<{ node: CatalogItem }> } }>(CATALOG_QUERY, { variables: { filter: { kind } } });
  return (
    <section className="catalog" aria-labelledby="catalog-title">
      <h3 id="catalog-title">Catalog</h3>
      <label>
        Kind{' '}
        <select value={kind} onChange={(e: ChangeEvent) => setKind(inputValue(e) as (typeof KINDS)[number])}>
          {KINDS.map((k) => <option key={k} value={k}>{k.toLowerCase()}</option>)}
        </select>
      </label>
      {loading && !data ? <Loading what="the catalog" /> : null}
      {error ? <ErrorNote error={error} /> : null}
      <ul className="catalog-list">
        {data?.items.edges.map(({ node }) => (
          <li key={node.id}>
            <span className="title">{node.title ?? node.id}</span>
            {actionsFor(node).map((a) => (
              <button key={a} type="button" onClick={() => onAction(a, node)} aria-label={`${a} ${node.title ?? node.id}`}>{a}</button>
            ))}
          </li>
        ))}
      </ul>
    </section>
  );
}
