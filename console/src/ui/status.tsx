/** Loading and error states, announced to screen readers. */
import type { ReactNode } from 'react';

export function Loading({ what }: { what: string }) {
  return <p className="status" role="status" aria-live="polite">Loading {what}…</p>;
}

function messageOf(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error && typeof error.message === 'string') return error.message;
  return String(error);
}

export function ErrorNote({ error, title }: { error: unknown; title?: string }) {
  return (
    <div className="error" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {messageOf(error)}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Panel({ title, children, actions, labelId }: { title: string; children: ReactNode; actions?: ReactNode; labelId?: string }) {
  return (
    <section className="panel" aria-labelledby={labelId}>
      <header className="panel-head">
        <h2 id={labelId}>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}
