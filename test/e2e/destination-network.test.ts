/**
 * Webhook destinations cannot be turned against the platform's own network: with private
 * networks refused (the production default, AUDIENCE_DESTINATION_PRIVATE_NETWORKS=false), adding a
 * destination on a loopback, private or link-local address (a cloud metadata endpoint, Redis, a
 * service's internal port) is refused with BAD_USER_INPUT and a reason, through the gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';

const ADD = `mutation Add($audienceId: ID!, $url: String!) { addAudienceDestination(audienceId: $audienceId, url: $url, secret: "a-webhook-secret-0123456789") { id } }`;

describe('audience destinations and private networks', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform({ env: { AUDIENCE_DESTINATION_PRIVATE_NETWORKS: 'false' } });
    const created = await p.query(`mutation { createAudience(input: { id: "ssrf-check", name: "SSRF check", rule: { traits: { plan: "premium" } } }) { id } }`);
    expect(created.errors).toBeUndefined();
  });
  afterAll(async () => {
    await p?.close();
  });

  it('refuses destinations on loopback, private and link-local addresses, and names like localhost', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://127.0.0.1:6379/', 'http://[::1]:4001/graphql', 'http://10.0.0.5/hook', 'http://localhost:4000/graphql', 'http://[::ffff:127.0.0.1]/']) {
      const res = await p.query(ADD, { audienceId: 'ssrf-check', url });
      expect(res.errors?.[0]?.extensions?.code, url).toBe('BAD_USER_INPUT');
      expect(res.errors?.[0]?.message, url).toMatch(/private, loopback or link-local/);
    }
  });

  it('accepts a public destination', async () => {
    const res = await p.query(ADD, { audienceId: 'ssrf-check', url: 'https://hooks.example.com/audiences' });
    expect(res.errors).toBeUndefined();
    expect(res.data.addAudienceDestination.id).toBeTruthy();
  });
});
