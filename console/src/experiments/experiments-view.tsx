/** The Experiments view: the list with status, one experiment's live results, create / start / stop. */
import { useMutation, useQuery, useSubscription } from '@apollo/client/react';
import { useState } from 'react';
import type { ChangeEvent } from 'react';
import { href } from '../router';
import { Empty, ErrorNote, Loading, Panel } from '../ui/status';
import { CreateExperimentForm } from './create-form';
import { ResultsPanel } from './results-panel';
import { EXPERIMENT_QUERY, EXPERIMENTS_QUERY, RESULTS_LIVE, START_EXPERIMENT, STOP_EXPERIMENT } from './queries';
import type { ExperimentDetail, ExperimentSummary, Results } from './queries';
import { inputValue } from '../ui/forms';

export function ExperimentsView({ experimentKey }: { experimentKey: string | null }) {
  const { data, loading, error } = useQuery<{ experiments: ExperimentSummary[] }>(EXPERIMENTS_QUERY, { fetchPolicy: 'cache-and-network' });
  return (
    <div className="split">
      <Panel title="Experiments" labelId="experiments-title">
        {loading && !data ? <Loading what="experiments" /> : null}
        {error ? <ErrorNote error={error} /> : null}
        <ul className="list" aria-labelledby="experiments-title">
          {data?.experiments.map((e) => (
            <li key={e.key}>
              <a href={href('experiments', e.key)} aria-current={e.key === experimentKey ? 'page' : undefined}>{e.name}</a>
              <span className={`badge status-${e.status}`}>{e.status}</span>
              <small>{e.variants.map((v) => `${v.key} ${Math.round(v.weight * 100)}%`).join(' / ')}</small>
            </li>
          ))}
        </ul>
        <CreateExperimentForm />
      </Panel>
      {experimentKey ? <ExperimentDetailView key={experimentKey} experimentKey={experimentKey} /> : <Empty>Choose an experiment to read its results.</Empty>}
    </div>
  );
}

function ExperimentDetailView({ experimentKey }: { experimentKey: string }) {
  const [unitId, setUnitId] = useState<string | null>(null);
  const variables = { key: experimentKey, unitId };
  const { data, loading, error } = useQuery<{ experiment: ExperimentDetail | null }>(EXPERIMENT_QUERY, { variables });
  // Results have no id of their own: the newest pushed results replace the queried ones.
  const live = useSubscription<{ experimentResultsUpdated: Results }>(RESULTS_LIVE, { variables });
  const [start, started] = useMutation(START_EXPERIMENT, { refetchQueries: [EXPERIMENTS_QUERY, EXPERIMENT_QUERY] });
  const [stop, stopped] = useMutation(STOP_EXPERIMENT, { refetchQueries: [EXPERIMENTS_QUERY, EXPERIMENT_QUERY] });
  const experiment = data?.experiment;
  if (loading && !experiment) return <Loading what={`experiment ${experimentKey}`} />;
  if (error && !experiment) return <ErrorNote error={error} />;
  if (!experiment) return <Empty>No experiment {experimentKey}.</Empty>;
  const results = live.data?.experimentResultsUpdated ?? experiment.results;
  return (
    <Panel
      title={experiment.name}
      labelId="experiment-title"
      actions={
        <span className="actions">
          {experiment.status !== 'RUNNING' ? <button type="button" onClick={() => void start({ variables: { key: experimentKey } })} disabled={started.loading}>Start</button> : null}
          {experiment.status === 'RUNNING' ? <button type="button" onClick={() => void stop({ variables: { key: experimentKey } })} disabled={stopped.loading}>Stop</button> : null}
        </span>
      }
    >
      {started.error ? <ErrorNote error={started.error} /> : null}
      {stopped.error ? <ErrorNote error={stopped.error} /> : null}
      <p>
        <span className={`badge status-${experiment.status}`}>{experiment.status}</span> {experiment.description}
      </p>
      <label>
        Unit{' '}
        <select value={unitId ?? ''} onChange={(e: ChangeEvent) => setUnitId(inputValue(e) || null)}>
          <option value="">all units</option>
          {experiment.units.map((u) => <option key={u} value={u}>{u}</option>)}
        </select>
      </label>
      <p className="live-status" role="status">
        {live.error ? <span className="error">Live results stopped: {live.error.message}</span> : live.data ? `Live: results of ${new Date(results.generatedAt).toLocaleTimeString()}` : 'Connecting to live results…'}
      </p>
      <ResultsPanel results={results} />
    </Panel>
  );
}
