/**
 * Sign-in: in development one click on a demo token `npm start` minted; in production (and
 * whenever wanted) a pasted JWT from the identity provider.
 */
import { useState } from 'react';
import type { ChangeEvent, FormEvent } from 'react';
import type { ConsoleConfig } from './config-types';
import { sessionFrom } from './session';
import type { Session } from './session';
import { inputValue } from './ui/forms';

export function SignIn({ config, onSignIn }: { config: ConsoleConfig; onSignIn: (s: Session) => void }) {
  const [pasted, setPasted] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const use = (token: string) => {
    const session = sessionFrom(token);
    if (typeof session === 'string') setProblem(session);
    else onSignIn(session);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    use(pasted);
  };
  return (
    <main className="sign-in">
      <h1>Personalization console</h1>
      <p>Every view reads the gateway's GraphQL API with your token ({config.gatewayHttpUrl}).</p>
      {config.demoTokens.length > 0 ? (
        <section aria-labelledby="demo-tokens">
          <h2 id="demo-tokens">Development: sign in with a demo token</h2>
          <ul className="token-list">
            {config.demoTokens.map((t) => (
              <li key={t.label}>
                <button type="button" onClick={() => use(t.token)}>Sign in as {t.label}</button>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <form onSubmit={submit}>
        <label htmlFor="token">Bearer token (JWT)</label>
        <textarea id="token" rows={4} value={pasted} onChange={(e: ChangeEvent) => setPasted(inputValue(e))} aria-describedby={problem ? 'token-problem' : undefined} />
        {problem ? <p id="token-problem" className="error" role="alert">{problem}</p> : null}
        <button type="submit" disabled={!pasted.trim()}>Sign in</button>
      </form>
    </main>
  );
}
