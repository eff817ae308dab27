/** The Experiments view's operations. */
import { gql } from '@apollo/client';

const RESULTS_FIELDS = gql`
  fragment ConsoleLift on MetricComparison {
    metric metricType method engine sequential
    relativeLift { estimate low high }
    pValue chanceToWin significant verdict guardrail note
    cuped { applied varianceReduction }
  }
  fragment ConsoleResults on ExperimentResults {
    experimentKey unitId generatedAt
    analysis { engine sequential cuped correction alpha minimumExposedUsers }
    variants { variant weight assignedUsers exposedUsers impressions clicks ctr }
    comparisons { variant control metrics { ...ConsoleLift } }
    slots { position comparisons { variant control metrics { ...ConsoleLift } } }
    planning { metric minimumDetectableEffect targetEffect usersNeededPerVariant daysNeeded exposedUsersPerDay }
    srm { chiSquare pValue flagged observed expectedShares }
  }
`;

export const EXPERIMENTS_QUERY = gql`
  query ConsoleExperiments { experiments { key name status startedAt variants { key name weight } } }
`;

export const EXPERIMENT_QUERY = gql`
  query ConsoleExperiment($key: String!, $unitId: String) {
    experiment(key: $key) {
      key name description status coverage units startedAt stoppedAt
      variants { key name weight }
      results(unitId: $unitId) { ...ConsoleResults }
    }
  }
  ${RESULTS_FIELDS}
`;

export const RESULTS_LIVE = gql`
  subscription ConsoleResultsLive($key: String!, $unitId: String) { experimentResultsUpdated(key: $key, unitId: $unitId) { ...ConsoleResults } }
  ${RESULTS_FIELDS}
`;

export const CREATE_EXPERIMENT = gql`
  mutation ConsoleCreateExperiment($input: CreateExperimentInput!) { createExperiment(input: $input) { key name status } }
`;
export const START_EXPERIMENT = gql`mutation ConsoleStartExperiment($key: String!) { startExperiment(key: $key) { key status startedAt } }`;
export const STOP_EXPERIMENT = gql`mutation ConsoleStopExperiment($key: String!) { stopExperiment(key: $key) { key status stoppedAt } }`;

export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

export interface MetricLift {
  metric: string;
  metricType: string;
  method: string;
  engine: string;
  sequential: boolean;
  relativeLift: Interval | null;
  pValue: number | null;
  chanceToWin: number | null;
  significant: boolean;
  verdict: string;
  guardrail: boolean;
  note: string | null;
  cuped: { applied: boolean; varianceReduction: number | null };
}

export interface Comparison {
  variant: string;
  control: string;
  metrics: MetricLift[];
}

export interface Results {
  experimentKey: string;
  unitId: string | null;
  generatedAt: string;
  analysis: { engine: string; sequential: boolean; cuped: boolean; correction: string; alpha: number; minimumExposedUsers: number };
  variants: Array<{ variant: string; weight: number; assignedUsers: number; exposedUsers: number; impressions: number; clicks: number; ctr: number | null }>;
  comparisons: Comparison[];
  slots: Array<{ position: number; comparisons: Comparison[] }>;
  planning: Array<{ metric: string; minimumDetectableEffect: number | null; targetEffect: number; usersNeededPerVariant: number | null; daysNeeded: number | null; exposedUsersPerDay: number | null }>;
  srm: { chiSquare: number | null; pValue: number | null; flagged: boolean; observed: number[]; expectedShares: number[] };
}

export type ExperimentStatus = 'DRAFT' | 'RUNNING' | 'STOPPED';

export interface ExperimentSummary {
  key: string;
  name: string;
  status: ExperimentStatus;
  startedAt: string | null;
  variants: Array<{ key: string; name: string; weight: number }>;
}

export interface ExperimentDetail extends ExperimentSummary {
  description: string | null;
  coverage: number;
  units: string[];
  stoppedAt: string | null;
  results: Results;
}
