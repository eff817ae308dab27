/**
 * The User view: find a user, see the profile, and watch the live row re-rank as events arrive,
 * with the same user's BASELINE row (ranked on last night's batch snapshot) beside it.
 */
import { useMutation, useQuery, useSubscription } from '@apollo/client/react';
import { useEffect, useState } from 'react';
import type { ChangeEvent, FormEvent } from 'react';
import { navigate } from '../router';
import type { Session } from '../session';
import { Empty, ErrorNote, Loading } from '../ui/status';
import { CatalogPanel } from './catalog-panel';
import { eventFor } from './events';
import type { ItemAction } from './events';
import { ProfilePanel } from './profile-panel';
import { INGEST, USER_LIVE, USER_QUERY, USERS_QUERY } from './queries';
import type { CatalogItem, ConsoleUser, UsersPage } from './queries';
import { useRerankTimer } from './rerank-timer';
import { RowView } from './row-view';
import { inputValue } from '../ui/forms';

export function UserView({ session, userId }: { session: Session; userId: string | null }) {
  // A user token reads only its own user.
  const id = session.role === 'user' ? session.subject : userId;
  return (
    <div className="user-view">
      {session.role === 'service' ? <UserFinder current={id} /> : null}
      {id ? <UserDetail key={id} id={id} canSend={session.role === 'service'} /> : <Empty>Choose a user, or type any id (a new one starts with an empty profile).</Empty>}
    </div>
  );
}

function UserFinder({ current }: { current: string | null }) {
  const [typed, setTyped] = useState(current ?? '');
  const { data, error } = useQuery<UsersPage>(USERS_QUERY, { fetchPolicy: 'cache-and-network' });
  const open = (e: FormEvent) => {
    e.preventDefault();
    if (typed.trim()) navigate('user', typed.trim());
  };
  return (
    <form className="finder" onSubmit={open} role="search">
      <label htmlFor="user-id">User id</label>
      <input id="user-id" list="known-users" value={typed} onChange={(e: ChangeEvent) => setTyped(inputValue(e))} autoComplete="off" />
      <datalist id="known-users">{data?.users.nodes.map((u) => <option key={u.id} value={u.id} />)}</datalist>
      <button type="submit">Open</button>
      {error ? <ErrorNote error={error} /> : null}
      {data ? (
        <span className="known" aria-label="Stored users">
          {data.users.nodes.slice(0, 12).map((u) => <a key={u.id} href={`#/user/${encodeURIComponent(u.id)}`} aria-current={u.id === current ? 'page' : undefined}>{u.id}</a>)}
          {data.users.totalCount != null ? <small>{data.users.totalCount} stored</small> : null}
        </span>
      ) : null}
    </form>
  );
}

function UserDetail({ id, canSend }: { id: string; canSend: boolean }) {
  const { data, loading, error } = useQuery<{ user: ConsoleUser | null }>(USER_QUERY, { variables: { id } });
  const user = data?.user ?? null;
  // Subscribe from the version first loaded: resubscribing on each version would miss updates.
  const [since, setSince] = useState<number | null>(null);
  useEffect(() => {
    if (user && since === null) setSince(user.profile.version);
  }, [user, since]);
  const live = useSubscription(USER_LIVE, { variables: { id, since }, skip: since === null });
  const timer = useRerankTimer(user?.recommendedFor?.profileVersion ?? null);
  const [ingest, ingestState] = useMutation<{ ingestEvents: { accepted: number; rejected: Array<{ code: string; message: string }> } }>(INGEST);
  const send = (action: ItemAction, item: CatalogItem) => {
    if (!user) return;
    timer.start(user.recommendedFor?.profileVersion ?? user.profile.version);
    void ingest({ variables: { events: [eventFor(id, action, item)] } });
  };
  if (loading && !user) return <Loading what={`user ${id}`} />;
  if (error && !user) return <ErrorNote title={`Could not read ${id}`} error={error} />;
  if (!user) return <Empty>No user {id}.</Empty>;
  const rejected = ingestState.data?.ingestEvents.rejected ?? [];
  const liveRowIsBatch = user.recommendedFor?.model === 'BASELINE';
  return (
    <div className="user-detail">
      <ProfilePanel user={user} />
      <div className="rows">
        <p className="live-status" role="status" aria-live="polite">
          {live.error ? <span className="error">Live updates stopped: {live.error.message}</span> : since === null ? 'Connecting…' : 'Live: the row updates as events are applied.'}
          {' '}
          <span data-testid="rerank-time">
            {timer.waiting ? 'Event sent, waiting for the re-ranked row…' : timer.lastMs != null ? `Click → re-ranked row on screen: ${Math.round(timer.lastMs)} ms` : ''}
          </span>
        </p>
        {ingestState.error ? <ErrorNote title="Event not sent" error={ingestState.error} /> : null}
        {rejected.length ? <ErrorNote title="Event rejected" error={rejected.map((r) => `${r.code}: ${r.message}`).join('; ')} /> : null}
        <div className="row-pair">
          <RowView
            row={user.recommendedFor}
            title="Recommended For You (live)"
            labelId="live-row"
            note={liveRowIsBatch ? <p className="note">This user is served the batch ranking (control variant or default model): the row follows the nightly snapshot, not each event.</p> : null}
            {...(canSend ? { onAction: send } : {})}
          />
          <RowView
            row={user.baseline}
            title="BASELINE: the batch profile's ranking"
            labelId="baseline-row"
            note={<p className="note">The same user ranked on the last batch snapshot{user.profile.batchSnapshot ? ` (v${user.profile.batchSnapshot.version})` : ' (none taken yet)'}: what the control variant sees.</p>}
          />
        </div>
        {canSend ? <CatalogPanel onAction={send} /> : null}
      </div>
    </div>
  );
}
