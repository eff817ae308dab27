/** What the console server tells the page (`/config.json`); shared by the server and the page. */
export interface DemoToken {
  label: string;
  role: 'user' | 'service';
  token: string;
}

export interface ConsoleConfig {
  gatewayHttpUrl: string;
  gatewayWsUrl: string;
  production: boolean;
  /** Development only: the tokens `npm start` minted, offered at sign-in. Empty in production. */
  demoTokens: DemoToken[];
  /** Services whose Prometheus metrics `/metrics/<service>` passes through (development only). */
  metricsServices: string[];
}
