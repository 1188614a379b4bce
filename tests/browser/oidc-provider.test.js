// A second, independent check of our side of the protocol: the real login and callback functions
// (dev/run, moto) against a certified OpenID Provider, npm oidc-provider (op-server.js), set up
// with Scalekit's paths, client_secret_post, PKCE S256 and RS256 tokens. Chromium signs in on its
// development login and consent pages.
//
// oidc-provider drops offline_access unless the login asked for prompt=consent, so no refresh
// token is issued: the session must be created all the same.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { freePort, launchBrowser, missingBrowser, screenshot, startOpenIdProvider, startStack } from './support.js';

const SHOTS = 'oidc-provider';
const skip = missingBrowser();
let op;
let stack;
let browser;

before(async () => {
  if (skip) return;
  // The app's port must be known before the provider starts (its registered redirect URI).
  const appPort = await freePort();
  const app = `http://localhost:${appPort}`;
  const clientId = 'skc_oidc_provider_check';
  const clientSecret = randomBytes(24).toString('base64url');
  op = await startOpenIdProvider({
    clientId,
    clientSecret,
    redirectUri: `${app}/api/callback`,
    postLogoutRedirectUri: `${app}/dashboard/profile`,
  });
  stack = await startStack({
    name: 'oidc-provider',
    port: appPort,
    args: ['--local-aws'],
    env: {
      SCALEKIT_ENVIRONMENT_URL: op.issuer,
      SCALEKIT_CLIENT_ID: clientId,
      SCALEKIT_CLIENT_SECRET: clientSecret,
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  await op?.stop();
});

test('login and callback against oidc-provider', { skip: skip || false, timeout: 10 * 60_000 }, async () => {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(120_000);

  await page.goto(`${stack.url}/dashboard/profile`);
  // The provider's login page (devInteractions): any login, any password.
  await page.locator('input[name="login"]').waitFor();
  await screenshot(page, SHOTS, '1-login');
  const authorize = page.url();
  assert.ok(authorize.startsWith(`${op.issuer}/interaction/`), authorize);
  await page.locator('input[name="login"]').fill('dana@initech.test');
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();

  // Consent, then back through our callback to the profile.
  await page.locator('button[type="submit"]').waitFor();
  await screenshot(page, SHOTS, '2-consent');
  await Promise.all([
    page.waitForURL(`${stack.url}/dashboard/profile`),
    page.locator('button[type="submit"]').click(),
  ]);
  assert.equal((await page.locator('#greeting').textContent()).trim(), 'Hello, Dana Tester');
  assert.equal((await page.locator('#email').textContent()).trim(), 'dana@initech.test');
  assert.equal((await page.locator('#user-id').textContent()).trim(), 'dana@initech.test');
  await screenshot(page, SHOTS, '3-profile');

  // The code exchange got an ID token and an access token, and (offline_access dropped by the
  // provider without prompt=consent) no refresh token.
  // The client authenticated with client_secret_post and proved PKCE.
  const grants = readFileSync(op.logPath, 'utf8').match(/^op-server: token (request|response) with .*$/gm);
  assert.deepEqual(grants, [
    'op-server: token request with client_id client_secret code code_verifier grant_type redirect_uri',
    'op-server: token response with access_token expires_in id_token scope token_type',
  ]);

  const names = (await browser.context.cookies(stack.url)).map((c) => c.name);
  assert.ok(names.includes('__Host-sk_session') && names.includes('accessToken'), `cookies: ${names}`);

  // Signed in without a refresh token: a reload is still the profile.
  await page.reload();
  assert.equal((await page.locator('#email').textContent()).trim(), 'dana@initech.test');
  // The provider's pages @import a web font; the browser was kept from fetching it.
  assert.deepEqual(
    browser.blocked.filter((u) => !u.startsWith('https://fonts.googleapis.com/')),
    [],
    'the browser tried to leave loopback',
  );
});
