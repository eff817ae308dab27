/** The Audiences view: live sizes, the rule editor, one audience's members and its live feed. */
import { useQuery, useSubscription } from '@apollo/client/react';
import { useState } from 'react';
import { href } from '../router';
import { Empty, ErrorNote, Loading, Panel } from '../ui/status';
import { AUDIENCES_QUERY, MEMBERS_QUERY, MEMBERSHIP_LIVE } from './queries';
import type { AudienceSummary, MembershipChange } from './queries';
import { RuleEditor } from './rule-editor';

/** Subscribed per listed audience: each message brings the audience's size into the cache. */
function LiveSize({ audience }: { audience: AudienceSummary }) {
  useSubscription(MEMBERSHIP_LIVE, { variables: { id: audience.id } });
  return <strong className="size" data-testid={`size-${audience.id}`}>{audience.size}</strong>;
}

export function AudiencesView({ audienceId }: { audienceId: string | null }) {
  const { data, loading, error } = useQuery<{ audiences: AudienceSummary[] }>(AUDIENCES_QUERY, { fetchPolicy: 'cache-and-network' });
  return (
    <div className="split">
      <Panel title="Audiences" labelId="audiences-title">
        {loading && !data ? <Loading what="audiences" /> : null}
        {error ? <ErrorNote error={error} /> : null}
        <ul className="list" aria-labelledby="audiences-title">
          {data?.audiences.map((a) => (
            <li key={a.id}>
              <a href={href('audiences', a.id)} aria-current={a.id === audienceId ? 'page' : undefined}>{a.name}</a>
              <LiveSize audience={a} /> <small>members</small>
              <span className={`badge status-${a.status}`}>{a.status}</span>
            </li>
          ))}
        </ul>
        <RuleEditor />
      </Panel>
      {audienceId ? <AudienceDetail key={audienceId} id={audienceId} rule={data?.audiences.find((a) => a.id === audienceId)?.rule} /> : <Empty>Choose an audience to see its members and live changes.</Empty>}
    </div>
  );
}

interface MembersPage {
  audience: {
    id: string;
    name: string;
    status: string;
    size: number;
    backfill: { scanned: number; total: number | null; finishedAt: string | null };
    members: { totalCount: number; edges: Array<{ since: string; node: { id: string } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  } | null;
}

const FEED_LENGTH = 50;

function AudienceDetail({ id, rule }: { id: string; rule: unknown }) {
  // Cursors of the pages before the current one, so Previous goes back.
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const after = cursors[cursors.length - 1] ?? null;
  const { data, loading, error, refetch } = useQuery<MembersPage>(MEMBERS_QUERY, { variables: { id, after } });
  const [feed, setFeed] = useState<MembershipChange[]>([]);
  useSubscription<{ audienceMembershipChanged: MembershipChange }>(MEMBERSHIP_LIVE, {
    variables: { id },
    onData: ({ data: message }) => {
      const change = message.data?.audienceMembershipChanged;
      if (!change) return;
      setFeed((f) => [change, ...f].slice(0, FEED_LENGTH));
      void refetch();
    },
  });
  const audience = data?.audience;
  if (loading && !audience) return <Loading what={`audience ${id}`} />;
  if (error && !audience) return <ErrorNote error={error} />;
  if (!audience) return <Empty>No audience {id}.</Empty>;
  const page = audience.members;
  return (
    <Panel title={audience.name} labelId="audience-title">
      <p>
        <span className={`badge status-${audience.status}`}>{audience.status}</span> <strong>{audience.size}</strong> members · backfill {audience.backfill.scanned}
        {audience.backfill.total != null ? ` / ${audience.backfill.total}` : ''} profiles{audience.backfill.finishedAt ? ', done' : ''}
      </p>
      <pre className="rule" aria-label="Rule">{JSON.stringify(rule, null, 2)}</pre>
      <div className="pair">
        <section aria-labelledby="members-title">
          <h3 id="members-title">Members ({page.totalCount})</h3>
          <table>
            <thead><tr><th scope="col">user</th><th scope="col">since</th></tr></thead>
            <tbody>{page.edges.map((e) => <tr key={e.node.id}><th scope="row"><a href={href('user', e.node.id)}>{e.node.id}</a></th><td>{new Date(e.since).toLocaleString()}</td></tr>)}</tbody>
          </table>
          <div className="actions">
            <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>Previous</button>
            <button type="button" disabled={!page.pageInfo.hasNextPage} onClick={() => setCursors((c) => [...c, page.pageInfo.endCursor])}>Next</button>
          </div>
        </section>
        <section aria-labelledby="feed-title">
          <h3 id="feed-title">Live changes</h3>
          {feed.length === 0 ? <p className="empty">Waiting for someone to enter or exit…</p> : null}
          <ol className="feed" aria-live="polite">
            {feed.map((c) => (
              <li key={`${c.user.id}-${c.at}-${c.entered}`} className={c.entered ? 'entered' : 'exited'}>
                <strong>{c.user.id}</strong> {c.entered ? 'entered' : 'exited'} <small>({c.reason}, {new Date(c.at).toLocaleTimeString()})</small>
              </li>
            ))}
          </ol>
        </section>
      </div>
    </Panel>
  );
}
