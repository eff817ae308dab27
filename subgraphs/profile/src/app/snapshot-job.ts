/**
 * The legacy nightly batch, kept on purpose as the experiments' baseline: it copies every
 * profile's ranking features into the snapshot store on a schedule (and on demand).
 */
import type { ReducerConfig } from '../domain/config.js';
import { toRankingFeatures } from '../domain/features.js';
import type { FoldEvents, ProfileStores } from '../store/ports.js';

export interface SnapshotRun {
  startedAt: number;
  finishedAt: number;
  profiles: number;
}

export class SnapshotJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SnapshotRun> | undefined;
  lastRun: SnapshotRun | undefined;

  constructor(
    private readonly stores: ProfileStores,
    private readonly reducer: ReducerConfig,
    private readonly now: () => number = Date.now,
    /** How profiles' appended events are folded in (ProfileService.foldEvents). */
    private readonly fold?: FoldEvents,
  ) {}

  /** Runs the job; concurrent callers share the run in progress. */
  run(): Promise<SnapshotRun> {
    this.running ??= this.execute().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async execute(): Promise<SnapshotRun> {
    const startedAt = this.now();
    let profiles = 0;
    for await (const page of this.stores.profiles.scan(500, this.fold)) {
      await this.stores.snapshots.putMany(
        page.map((p) => ({ userId: p.userId, version: p.version, takenAt: startedAt, features: toRankingFeatures(p, this.reducer) })),
      );
      profiles += page.length;
    }
    this.lastRun = { startedAt, finishedAt: this.now(), profiles };
    return this.lastRun;
  }

  /** Runs every `intervalMs` until stop(). */
  schedule(intervalMs: number, onError: (err: unknown) => void): void {
    this.stop();
    this.timer = setInterval(() => this.run().catch(onError), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
