/**
 * Assignment exactly as GrowthBook SDKs do it (FNV-1a based hash, version 2 by default, bucket
 * ranges with coverage, targeting conditions), by running the experiment through the
 * @growthbook/growthbook package itself. Stickiness is layered on top by the service.
 */
import { GrowthBookClient, evalCondition } from '@growthbook/growthbook';
import type { ConditionInterface } from '@growthbook/growthbook';
import type { Experiment } from './experiment.js';

export type AssignmentReason = 'ASSIGNED' | 'STICKY' | 'NOT_RUNNING' | 'NOT_TARGETED' | 'NOT_IN_COVERAGE';

export interface Assignment {
  experimentKey: string;
  variant: string;
  inExperiment: boolean;
  reason: AssignmentReason;
}

const growthbook = new GrowthBookClient({});

/** Evaluates a running experiment for a user with the given traits (ignores stickiness). */
export function evaluate(experiment: Experiment, userId: string, traits: Record<string, unknown>): Assignment {
  const control = experiment.variants[0]!.key;
  const out = (inExperiment: boolean, reason: AssignmentReason, variant = control): Assignment => ({
    experimentKey: experiment.key,
    variant,
    inExperiment,
    reason,
  });
  if (experiment.status !== 'RUNNING') return out(false, 'NOT_RUNNING');
  const attributes = { ...traits, id: userId };
  // Validated as an object at creation; GrowthBook's evaluator treats unknown operators as false.
  const condition = experiment.condition as ConditionInterface | null;
  if (condition && !evalCondition(attributes, condition)) return out(false, 'NOT_TARGETED');
  const result = growthbook.runInlineExperiment(
    {
      key: experiment.key,
      variations: experiment.variants.map((v) => v.key) as [string, string, ...string[]],
      weights: experiment.variants.map((v) => v.weight),
      coverage: experiment.coverage,
      seed: experiment.seed,
      hashVersion: experiment.hashVersion,
      ...(condition ? { condition } : {}),
    },
    { attributes },
  );
  if (result.inExperiment) return out(true, 'ASSIGNED', experiment.variants[result.variationId]!.key);
  return out(false, 'NOT_IN_COVERAGE');
}
