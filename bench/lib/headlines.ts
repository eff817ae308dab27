/** The headline figures of BENCHMARKS.md, read from each benchmark's JSON report. */

export interface Headline {
  figure: string;
  value: string;
  goal?: string;
}

type Json = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const get = (o: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((cur, k) => (cur && typeof cur === 'object' ? (cur as Json)[k as string] : undefined), o);
const ms = (v: unknown) => (num(v) === undefined ? 'n/a' : `${num(v)!.toFixed(1)} ms`);
const int = (v: unknown) => (num(v) === undefined ? 'n/a' : Math.round(num(v)!).toLocaleString('en-US'));
const x = (v: unknown) => (num(v) === undefined ? 'n/a' : `${num(v)!.toFixed(2)}x`);
const met = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? ' (met)' : ' (not met)');

export function headlines(figures: Record<string, unknown>): Headline[] {
  const out: Headline[] = [];
  const gateway = figures['gateway'];
  if (gateway) {
    const ratio = num(get(gateway, 'ratio', 'requestsPerSecond'));
    out.push({
      figure: 'home-page query, our gateway vs Hive Gateway (req/s)',
      value: `${int(get(gateway, 'ours', 'requestsPerSecond'))} vs ${int(get(gateway, 'hive', 'requestsPerSecond'))} = ${x(ratio)}`,
      goal: `>= 1.5x${met(ratio === undefined ? undefined : ratio >= 1.5)}`,
    });
    out.push({
      figure: 'home-page query latency, our gateway / Hive Gateway',
      value: `p50 ${ms(get(gateway, 'ours', 'p50'))} / ${ms(get(gateway, 'hive', 'p50'))}, p99 ${ms(get(gateway, 'ours', 'p99'))} / ${ms(get(gateway, 'hive', 'p99'))}`,
    });
    const cpuRatio = num(get(gateway, 'ratio', 'gatewayCpuMsPerRequest'));
    const cpu = (who: string, part: string) => num(get(gateway, who, 'cpuMsPerRequest', part));
    const whole = (who: string) => (cpu(who, 'gateway') === undefined || cpu(who, 'subgraphs') === undefined ? undefined : cpu(who, 'gateway')! + cpu(who, 'subgraphs')!);
    out.push({
      figure: 'home-page query, CPU per query: the gateway process, ours ÷ Hive Gateway; whole system (gateway + subgraphs), ours / Hive',
      value: `${x(cpuRatio)} (${cpu('ours', 'gateway')?.toFixed(2) ?? 'n/a'} / ${cpu('hive', 'gateway')?.toFixed(2) ?? 'n/a'} ms); ${whole('ours')?.toFixed(2) ?? 'n/a'} / ${whole('hive')?.toFixed(2) ?? 'n/a'} ms`,
      goal: `<= 0.3x${met(cpuRatio === undefined ? undefined : cpuRatio <= 0.3)}`,
    });
    const scaling = get(gateway, 'gatewayScaling');
    if (scaling) {
      const side = (n: string) => `${int(get(scaling, n, 'measured'))} req/s (model ${int(get(scaling, n, 'predicted'))}, ${x((num(get(scaling, n, 'measured')) ?? NaN) / (num(get(scaling, n, 'predicted')) ?? NaN))})`;
      out.push({
        figure: `capacity model check (docs/SCALING.md): our gateway, 1 and 2 processes on ${int(get(scaling, 'cores'))} cores, the model from 1 process's CPU per query`,
        value: `1: ${side('one')}; 2: ${side('two')}, bound by ${String(get(scaling, 'two', 'bound'))}`,
      });
    }
  }
  const codec = figures['codec'];
  if (codec) {
    const bounds = (k: string, ...path: string[]) => num(get(codec, 'atBounds', k, ...path));
    const bytes = (bounds('msgpack', 'redisBytes') ?? bounds('msgpack', 'bytes'))! / (bounds('json', 'redisBytes') ?? bounds('json', 'bytes'))!;
    const roundTrip = bounds('msgpack', 'roundTripUs', 'p50');
    out.push({
      figure: 'profile at its size bounds in Redis: bytes of MessagePack ÷ JSON (before)',
      value: `${int(bounds('msgpack', 'redisBytes'))} / ${int(bounds('json', 'redisBytes'))} = ${x(bytes)}`,
      goal: `<= 0.60x${met(Number.isFinite(bytes) ? bytes <= 0.6 : undefined)}`,
    });
    out.push({
      figure: 'profile at its size bounds: encode + decode (MessagePack; JSON in the same run)',
      value: `p50 ${int(roundTrip)} µs (JSON ${int(bounds('json', 'roundTripUs', 'p50'))} µs)`,
      goal: `<= 25 µs${met(roundTrip === undefined ? undefined : roundTrip <= 25)}`,
    });
  }
  const freshness = figures['freshness'];
  for (const mode of (get(freshness, 'modes') as Json[] | undefined) ?? []) {
    const p99 = num(get(mode, 'latencyMs', 'p99'));
    const redis = get(mode, 'stores') === 'redis';
    out.push({
      figure: `freshness, event → re-ranked row through the gateway (${String(get(mode, 'stores'))}, ${String(get(mode, 'read') ?? 'async')})`,
      value: `p50 ${ms(get(mode, 'latencyMs', 'p50'))}, p95 ${ms(get(mode, 'latencyMs', 'p95'))}, p99 ${ms(p99)}`,
      ...(redis ? { goal: `p99 <= 20 ms${met(p99 === undefined ? undefined : p99 <= 20)}` } : {}),
    });
  }
  const live = figures['live'];
  // One line per transport (graphql-ws, SSE, multipart); reports from before transports: one line.
  const transports = (get(live, 'transports') as Record<string, Json> | undefined) ?? (live ? { 'graphql-ws': live as Json } : {});
  for (const [name, t] of Object.entries(transports)) {
    const p99 = num(get(t, 'latencyMs', 'p99'));
    const ratio = name === 'graphql-ws' ? '' : `; ${x(get(t, 'ratioToGraphqlWs', 'p50'))} / ${x(get(t, 'ratioToGraphqlWs', 'p99'))} graphql-ws's p50 / p99`;
    out.push({
      figure: `live updates over ${name === 'sse' ? 'SSE' : name}, ingest → message at the client (${int(get(live, 'subscriptions'))} subscriptions, ${int(get(t, 'eventsPerSecond'))} events/s)`,
      value: `p50 ${ms(get(t, 'latencyMs', 'p50'))}, p99 ${ms(p99)}${ratio}${num(get(t, 'cpuMsPerMessage', 'gateway')) === undefined || num(get(t, 'cpuMsPerMessage', 'subgraphs')) === undefined ? '' : `; CPU per message: gateway ${num(get(t, 'cpuMsPerMessage', 'gateway'))!.toFixed(3)} ms, subgraphs ${num(get(t, 'cpuMsPerMessage', 'subgraphs'))!.toFixed(3)} ms`}`,
      goal: `p99 <= 50 ms${met(p99 === undefined ? undefined : p99 <= 50)}`,
    });
  }
  const audiences = figures['audiences'];
  const audiencesRedis = ((get(audiences, 'modes') as Json[] | undefined) ?? []).find((m) => String(get(m, 'stores')).startsWith('redis'));
  if (audiencesRedis) {
    const query = num(get(audiencesRedis, 'membershipQueryMs', 'p99'));
    const sub = num(get(audiencesRedis, 'subscriptionMs', 'p99'));
    const exit = num(get(audiencesRedis, 'timeExits', 'latenessMs', 'p99'));
    const backfill = num(get(audiencesRedis, 'backfill', 'profilesPerSecond'));
    const ratio = num(get(audiencesRedis, 'throughput', 'ratio'));
    out.push({
      figure: `audiences on Redis (${int(get(audiences, 'audiences'))} live, ${int(get(audiences, 'backgroundEventsPerSecond'))} background events/s): event → membership by query / by subscription`,
      value: `p50 ${ms(get(audiencesRedis, 'membershipQueryMs', 'p50'))} / ${ms(get(audiencesRedis, 'subscriptionMs', 'p50'))}, p99 ${ms(query)} / ${ms(sub)}`,
      goal: `p99 <= 50 ms${met(query === undefined || sub === undefined ? undefined : query <= 50 && sub <= 50)}`,
    });
    out.push({
      figure: 'audiences on Redis: time-driven exit, message − due time',
      value: `p50 ${ms(get(audiencesRedis, 'timeExits', 'latenessMs', 'p50'))}, p99 ${ms(exit)}`,
      goal: `p99 <= 1 s${met(exit === undefined ? undefined : exit <= 1000)}`,
    });
    out.push({
      figure: `audiences on Redis: backfill of ${int(get(audiencesRedis, 'backfill', 'seededProfiles'))} profiles; updater events/s with 100 audiences ÷ with none; bytes per membership`,
      value: `${int(backfill)} profiles/s; ${int(get(audiencesRedis, 'throughput', 'hundred', 'eventsPerSecond'))} ÷ ${int(get(audiencesRedis, 'throughput', 'zero', 'eventsPerSecond'))} = ${x(ratio)}; ${int(get(audiencesRedis, 'bytesPerMembership', 'bytesPerMembership'))} B`,
      goal: `>= 5,000 profiles/s${met(backfill === undefined ? undefined : backfill >= 5000)}; >= 0.8x${met(ratio === undefined ? undefined : ratio >= 0.8)}`,
    });
  }
  const ingest = figures['ingest'];
  if (ingest) {
    const rate = num(get(ingest, 'endToEndEventsPerSecond'));
    out.push({
      figure: 'ingestion on Redis, end to end (accepted → applied)',
      value: `${int(rate)} events/s (HTTP accepted ${int(get(ingest, 'ingestEventsPerSecond'))} events/s)`,
      goal: `>= 30,000 events/s${met(rate === undefined ? undefined : rate >= 30_000)}`,
    });
    const ratio = num(get(ingest, 'ratioToRedisBenchmark'));
    out.push({
      figure: "ingestion on Redis: end-to-end events/s ÷ redis-benchmark's pipelined SET/s, same run",
      value: ratio === undefined ? 'n/a' : ratio.toFixed(3),
      goal: `>= 0.05${met(ratio === undefined ? undefined : ratio >= 0.05)}`,
    });
    for (const phase of (get(ingest, 'steady') as unknown[] | undefined) ?? []) {
      const p99 = num(get(phase, 'ingestToApplied', 'p99'));
      const goal = num(get(phase, 'goalP99Ms'));
      const flat = get(phase, 'backlog', 'flat');
      out.push({
        figure: `ingestion on Redis, steady at ${Math.round(num(get(phase, 'share'))! * 100)}% of the burst (${int(get(phase, 'eventsPerSecond'))} events/s): ingest → applied by the updater group; backlog`,
        value: `p50 ${ms(get(phase, 'ingestToApplied', 'p50'))}, p99 ${ms(p99)}; backlog max ${int(get(phase, 'backlog', 'max'))}, slope ${int(get(phase, 'backlog', 'slopePerMinute'))} per minute`,
        goal: `${goal === undefined ? '' : `p99 <= ${goal} ms${met(p99 === undefined ? undefined : p99 <= goal)}; `}backlog flat${met(typeof flat === 'boolean' ? flat : undefined)}`,
      });
    }
  }
  const takeover = figures['takeover'];
  if (takeover) {
    const p99 = num(get(takeover, 'takeoverMs', 'p99'));
    const idle = num(get(takeover, 'idleReclaimTakeoverMs', 'p50'));
    out.push({
      figure: "a killed updater's pending entries, SIGKILL → applied by a live updater",
      value: `p50 ${ms(get(takeover, 'takeoverMs', 'p50'))}, p99 ${ms(p99)}${idle === undefined ? '' : ` (idle reclaim only: ${ms(idle)}, ${x(get(takeover, 'ratio'))} slower)`}; each event applied once`,
      goal: `<= 5 s${met(p99 === undefined ? undefined : p99 <= 5000)}`,
    });
  }
  const recs = figures['recs'];
  if (recs) {
    out.push({
      figure: `recommendedFor, ${int(get(recs, 'catalogItems'))}-item catalog`,
      value: `in process p50 ${ms(get(recs, 'inProcess', 'REALTIME', 'p50'))}; subgraph over HTTP p50 ${ms(get(recs, 'subgraphHttpSingle', 'p50'))}`,
    });
  }
  const replay = figures['replay'];
  if (replay) {
    const hr = (m: string) => num(get(replay, 'models', m, 'hitRate'));
    out.push({
      figure: `MovieLens replay, HR@${int(get(replay, 'k'))} (POPULARITY / BASELINE / REALTIME)`,
      value: `${[hr('POPULARITY'), hr('BASELINE'), hr('REALTIME')].map((v) => (v === undefined ? 'n/a' : v.toFixed(4))).join(' / ')}; REALTIME ÷ BASELINE ${x(get(replay, 'ratio', 'hitRate'))} HR, ${x(get(replay, 'ratio', 'ndcg'))} NDCG`,
    });
  }
  const experiments = figures['experiments'];
  if (experiments) {
    const pct = (v: unknown) => (num(v) === undefined ? 'n/a' : `${(num(v)! * 100).toFixed(1)} %`);
    const srmP = num(get(experiments, 'srm', 'split505', 'pValue'));
    const goals = get(experiments, 'goals') as unknown[] | undefined;
    const allMet = get(experiments, 'allGoalsMet');
    out.push({
      figure: `experiment statistics, seeded simulation: A/A ever significant over ${int(get(experiments, 'aaPeeking', 'days'))} daily peeks, sequential tuned to the final sample size (default tuning 5,000) / fixed-horizon; 95 % interval coverage of a +3 % effect; CUPED; SRM at 50.5 / 49.5 of 200,000`,
      value: `${pct(get(experiments, 'aaPeeking', 'sequentialTuned', 'everSignificant', 'rate'))} (${pct(get(experiments, 'aaPeeking', 'sequentialDefault', 'everSignificant', 'rate'))}) / ${pct(get(experiments, 'aaPeeking', 'fixed', 'everSignificant', 'rate'))}; coverage ${pct(get(experiments, 'abCoverage', 'fixed', 'finalCoverage', 'relative', 'rate'))} (CUPED ${pct(get(experiments, 'cuped', 'cuped', 'coverage', 'relative', 'rate'))}, ${pct(get(experiments, 'cuped', 'widthReduction', 'relative'))} narrower); SRM p ${srmP === undefined ? 'n/a' : srmP.toExponential(1)}`,
      goal: `sequential <= 5 %, coverage ≈ 95 %, CUPED >= 20 % narrower, SRM p < 0.001: ${int(get(experiments, 'goalsMet'))} of ${int(goals?.length)} goals${met(typeof allMet === 'boolean' ? allMet : undefined)}`,
    });
  }
  const fanout = figures['fanout'];
  if (fanout) {
    const shapes = (get(fanout, 'shapes') ?? []) as { shape: string; users: number; visible: number; expected: number; latencyMs: { p50: number; p99: number }; heapBytesPerSubscription: { gateway: number; profileSubgraph: number } }[];
    for (const s of shapes) {
      const kb = (b: number) => `${(b / 1024).toFixed(1)} KB`;
      out.push({
        figure: `live fan-out, 10,000 subscriptions (${s.shape === 'devices' ? `${int(s.users)} users × 10 devices` : `${int(s.users)} distinct users`}) at ${int(get(fanout, 'rate'))} events/s: ingest → message; heap per subscription (what closing them frees) gateway / subgraphs`,
        value: `p50 ${ms(s.latencyMs.p50)}, p99 ${ms(s.latencyMs.p99)} (${int(s.visible)} of ${int(s.expected)} visible); ${kb(s.heapBytesPerSubscription.gateway)} / ${kb(s.heapBytesPerSubscription.profileSubgraph)}`,
        goal: `p99 <= 100 ms${met(s.latencyMs.p99 <= 100)}; <= 8 KB each${met(s.heapBytesPerSubscription.gateway <= 8192 && s.heapBytesPerSubscription.profileSubgraph <= 8192)}`,
      });
    }
  }
  const soak = figures['soak'];
  if (soak) {
    const rss = (get(soak, 'rss') ?? {}) as Record<string, { growth?: number }>;
    const worst = Object.entries(rss).sort(([, a], [, b]) => (b.growth ?? 0) - (a.growth ?? 0))[0];
    const backlog = (get(soak, 'backlog') ?? {}) as Record<string, { flat?: boolean }>;
    const pct = (v: number | undefined) => (v === undefined ? 'n/a' : `${(v * 100).toFixed(1)} %`);
    out.push({
      figure: `soak (its own run, ${int(num(get(soak, 'durationSeconds'))! / 60)} min on Redis, ${int(get(soak, 'subscriptions'))} subscriptions, ${int(get(soak, 'rate'))} events/s, audiences on): events missing, out of order; largest RSS growth; backlog flat`,
      value: `${int(get(soak, 'eventsMissing'))}, ${int(get(soak, 'orderViolations'))}; ${worst ? `${worst[0]} ${pct(worst[1].growth)}` : 'n/a'}; ${Object.values(backlog).every((b) => b.flat) ? 'flat' : 'growing'}; latency p50 ${ms(get(soak, 'latencyMs', 'p50'))}, p99 ${ms(get(soak, 'latencyMs', 'p99'))}`,
      goal: `0 missing, order kept, RSS growth < 10 %${met(Object.values((get(soak, 'met') ?? {}) as Record<string, boolean>).every(Boolean))}`,
    });
  }
  return out;
}
