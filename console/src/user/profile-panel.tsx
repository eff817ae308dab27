/** The profile as pictures: affinities as bars, series progress, SKUs, computed traits, audiences. */
import { Bars } from '../ui/bars';
import type { ConsoleUser } from './queries';

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '—');

function SeriesProgress({ series }: { series: ConsoleUser['profile']['series'] }) {
  if (series.length === 0) return <p className="empty">No series watched yet.</p>;
  return (
    <ul className="series">
      {series.map((s) => (
        <li key={s.seriesId}>
          <span>{s.title ?? s.seriesId}</span>
          <span className="episodes" aria-label={`episodes watched: ${s.episodesWatched.join(', ')}`}>
            {Array.from({ length: Math.max(s.lastEpisode, ...s.episodesWatched) }, (_, i) => (
              <span key={i} className={s.episodesWatched.includes(i + 1) ? 'ep watched' : 'ep'} aria-hidden="true">{i + 1}</span>
            ))}
          </span>
        </li>
      ))}
    </ul>
  );
}

function formatTrait(value: unknown): string {
  if (value === null || value === undefined) return '—';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export function ProfilePanel({ user }: { user: ConsoleUser }) {
  const p = user.profile;
  return (
    <section className="profile" aria-labelledby="profile-title">
      <h2 id="profile-title">Profile of {user.id}</h2>
      <dl className="facts">
        <div><dt>version</dt><dd data-testid="profile-version">{p.version}</dd></div>
        <div><dt>events</dt><dd>{p.eventCount}</dd></div>
        <div><dt>last event</dt><dd>{when(p.lastEventAt)}</dd></div>
        <div><dt>batch snapshot</dt><dd>{p.batchSnapshot ? `v${p.batchSnapshot.version}, ${when(p.batchSnapshot.takenAt)}` : 'none yet'}</dd></div>
      </dl>
      <Bars caption="Genre affinities (decayed)" bars={p.genreAffinities.map((a) => ({ label: a.key, value: a.score, detail: `${a.count}×` }))} />
      {p.categoryAffinities.length ? <Bars caption="Category affinities (decayed)" bars={p.categoryAffinities.map((a) => ({ label: a.key, value: a.score, detail: `${a.count}×` }))} /> : null}
      {p.facetAffinities.filter((f) => f.affinities.length).map((f) => (
        <Bars key={f.facet} caption={`${f.facet} affinities`} bars={f.affinities.map((a) => ({ label: a.key, value: a.score, detail: `${a.count}×` }))} />
      ))}
      <h3>Series progress</h3>
      <SeriesProgress series={p.series} />
      {p.skus.length ? (
        <table>
          <caption>SKUs</caption>
          <thead><tr><th scope="col">SKU</th><th scope="col">viewed</th><th scope="col">in cart</th><th scope="col">bought</th></tr></thead>
          <tbody>{p.skus.map((s) => <tr key={s.sku}><th scope="row">{s.sku}</th><td>{s.viewed}</td><td>{s.addedToCart}</td><td>{s.purchased}</td></tr>)}</tbody>
        </table>
      ) : null}
      <table>
        <caption>Traits and computed traits</caption>
        <tbody>
          {Object.entries(p.traits).map(([k, v]) => <tr key={`t-${k}`}><th scope="row">{k}</th><td>{formatTrait(v)}</td></tr>)}
          {p.computedTraits.map((t) => <tr key={`c-${t.name}`}><th scope="row">{t.name} <small>(computed)</small></th><td>{formatTrait(t.value)}</td></tr>)}
        </tbody>
      </table>
      <h3>Audiences</h3>
      {user.audiences.length ? (
        <ul className="audiences" aria-label="Audiences of this user">
          {user.audiences.map((m) => <li key={m.audience.id}><strong>{m.audience.name}</strong> since {when(m.since)}</li>)}
        </ul>
      ) : <p className="empty">In no audience.</p>}
    </section>
  );
}
