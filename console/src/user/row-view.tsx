/** One ranked row: position, title, reasons, and (for the service role) event buttons per item. */
import type { ReactNode } from 'react';
import { actionsFor } from './events';
import type { ItemAction } from './events';
import type { CatalogItem, Row } from './queries';

export function RowView({ row, title, labelId, note, onAction }: { row: Row | null; title: string; labelId: string; note?: ReactNode; onAction?: (action: ItemAction, item: CatalogItem) => void }) {
  return (
    <section className="row-panel" aria-labelledby={labelId}>
      <h3 id={labelId}>{title}</h3>
      {row ? (
        <p className="row-meta">
          model <strong className={`model model-${row.model}`}>{row.model}</strong>
          {row.experimentKey ? <> · {row.experimentKey}: <strong>{row.variant}</strong></> : <> · no experiment</>}
          {' '}· ranked on profile v{row.profileVersion}
        </p>
      ) : null}
      {note}
      {!row ? (
        <p className="empty">No row (the recommendations subgraph did not answer).</p>
      ) : (
        <ol className="row" aria-label={title}>
          {row.items.map((r) => (
            <li key={r.item.id} className="row-item" data-item-id={r.item.id}>
              <span className="pos" aria-hidden="true">{r.position}</span>
              <div className="row-body">
                <span className="title">{r.item.title ?? r.item.id}</span>
                <span className="kind">{r.item.kind}{r.item.genres.length ? ` · ${r.item.genres.join(', ')}` : ''}{r.item.category ? ` · ${r.item.category}` : ''}</span>
                {r.reasons.length ? <span className="reasons">{r.reasons.join(' · ')}</span> : null}
              </div>
              {onAction ? (
                <span className="actions">
                  {actionsFor(r.item).map((a) => (
                    <button key={a} type="button" onClick={() => onAction(a, r.item)} aria-label={`${a} ${r.item.title ?? r.item.id}`}>{a}</button>
                  ))}
                </span>
              ) : null}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
