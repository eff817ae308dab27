/** Loads the configuration, signs in, and shows one view at a time under a navigation bar. */
import { ApolloProvider } from '@apollo/client/react';
import { useEffect, useMemo, useState } from 'react';
import { createConsoleClient } from './apollo';
import type { ConsoleConfig } from './config-types';
import { AudiencesView } from './audiences/audiences-view';
import { ExperimentsView } from './experiments/experiments-view';
import { HealthView } from './health/health-view';
import { href, useRoute } from './router';
import type { ViewName } from './router';
import { savedSession, saveSession } from './session';
import type { Session } from './session';
import { SignIn } from './sign-in';
import { ErrorNote, Loading } from './ui/status';
import { UserView } from './user/user-view';

const NAV: Array<{ view: ViewName; label: string; serviceOnly: boolean }> = [
  { view: 'user', label: 'User', serviceOnly: false },
  { view: 'experiments', label: 'Experiments', serviceOnly: true },
  { view: 'audiences', label: 'Audiences', serviceOnly: true },
  { view: 'health', label: 'Health', serviceOnly: false },
];

export function App() {
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [session, setSession] = useState<Session | null>(savedSession);
  useEffect(() => {
    fetch('/config.json')
      .then((r) => (r.ok ? (r.json() as Promise<ConsoleConfig>) : Promise.reject(new Error(`config: HTTP ${r.status}`))))
      .then(setConfig, setFailure);
  }, []);
  const signIn = (s: Session | null) => {
    saveSession(s);
    setSession(s);
  };
  if (failure) return <ErrorNote title="The console could not load its configuration" error={failure} />;
  if (!config) return <Loading what="the console" />;
  if (!session) return <SignIn config={config} onSignIn={signIn} />;
  return <Console config={config} session={session} onSignOut={() => signIn(null)} />;
}

function Console({ config, session, onSignOut }: { config: ConsoleConfig; session: Session; onSignOut: () => void }) {
  const connection = useMemo(() => createConsoleClient(config, session), [config, session]);
  useEffect(() => () => connection.dispose(), [connection]);
  const route = useRoute();
  const allowed = (serviceOnly: boolean) => !serviceOnly || session.role === 'service';
  const current = NAV.find((n) => n.view === route.view)!;
  return (
    <ApolloProvider client={connection.client}>
      <header className="top">
        <strong className="brand">Personalization console</strong>
        <nav aria-label="Views">
          <ul>
            {NAV.filter((n) => allowed(n.serviceOnly)).map((n) => (
              <li key={n.view}>
                <a href={href(n.view)} aria-current={n.view === route.view ? 'page' : undefined}>{n.label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          {session.role} {session.subject}
          <button type="button" onClick={onSignOut}>Sign out</button>
        </span>
      </header>
      <main className="view">
        {!allowed(current.serviceOnly) ? (
          <ErrorNote error={`The ${current.label} view needs a service token.`} />
        ) : route.view === 'user' ? (
          <UserView session={session} userId={route.id} />
        ) : route.view === 'experiments' ? (
          <ExperimentsView experimentKey={route.id} />
        ) : route.view === 'audiences' ? (
          <AudiencesView audienceId={route.id} />
        ) : (
          <HealthView config={config} />
        )}
      </main>
    </ApolloProvider>
  );
}
