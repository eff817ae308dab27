/** The subgraphs the gateway composes, their default ports and the env variables that override them. */
export interface SubgraphInfo {
  name: string;
  defaultPort: number;
  portEnv: string;
  urlEnv: string;
}

export const SUBGRAPHS: readonly SubgraphInfo[] = [
  { name: 'profile', defaultPort: 4001, portEnv: 'PROFILE_PORT', urlEnv: 'PROFILE_URL' },
  { name: 'recommendations', defaultPort: 4002, portEnv: 'RECOMMENDATIONS_PORT', urlEnv: 'RECOMMENDATIONS_URL' },
  { name: 'experiments', defaultPort: 4003, portEnv: 'EXPERIMENTS_PORT', urlEnv: 'EXPERIMENTS_URL' },
  { name: 'audiences', defaultPort: 4004, portEnv: 'AUDIENCES_PORT', urlEnv: 'AUDIENCES_URL' },
];
