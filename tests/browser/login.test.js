// The login, in a real browser, against the whole local stack (dev/run): every function behind
// cargo lambda watch, moto for DynamoDB and Secrets Manager, the dev Scalekit server.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { request } from 'playwright-core';

import { launchBrowser, missingBrowser, screenshot, startStack } from './support.js';

const SHOTS = 'login';
const skip = missingBrowser();
let stack;
let browser;
// Shared by the tests below, which run in order on one browser page.
let page;
let acmeSession;
let globexSession;
const secrets = []; // session ids, tokens, codes and states the browser carried
const seen = []; // every URL the browser asked for

before(async () => {
  if (skip) return;
  stack = await startStack({ name: 'login' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

function readLog() {
  return readFileSync(stack.logPath, 'utf8');
}

// The request log has one line per request and none of the secrets the browser carried: codes
// and states in the callback URLs, session ids, tokens.
function assertLogIsClean() {
  const log = readLog();
  assert.match(log, /^GET \/api\/callback 302 \d+ ms$/m);
  const callbacks = seen.filter((u) => u.startsWith(`${stack.url}/api/callback?`));
  assert.ok(callbacks.length > 0, 'the browser went through the callback');
  for (const url of callbacks) {
    const query = new URL(url).searchParams;
    secrets.push(query.get('code'), query.get('state'));
  }
  for (const secret of secrets.filter(Boolean)) {
    assert.ok(!log.includes(secret), `a secret (${secret.slice(0, 6)}...) reached the dev/run log`);
  }
  assert.deepEqual(browser.blocked, [], 'the browser tried to leave loopback');
}

async function profileRows(page) {
  const text = async (selector) => (await page.locator(selector).textContent()).trim();
  return {
    greeting: await text('#greeting'),
    email: await text('#email'),
    organization: await text('#organization'),
    roles: await text('#roles'),
  };
}

// The IdP shows the demo users; pick one, then an organization when asked.
async function signInAtIdp(page, user, organization) {
  await page.locator(`#user-${user}`).click();
  await page.locator(`#org-${organization}`).waitFor();
  await screenshot(page, SHOTS, `pick-organization-${organization}`);
  await page.locator(`#org-${organization}`).click();
  await page.waitForURL(`${stack.url}/dashboard/profile`);
}

test('sign in as alice, reload, switch organization', { skip: skip || false, timeout: 10 * 60_000 }, async () => {
  page = await browser.context.newPage();
  page.setDefaultTimeout(120_000); // the first request to each function may start (or build) it
  page.on('request', (r) => seen.push(r.url()));

  // Signed out: the profile sends the browser to sign in at the IdP.
  await page.goto(`${stack.url}/dashboard/profile`);
  await page.locator('#user-usr_alice').waitFor();
  assert.ok(page.url().startsWith(`${stack.idpUrl}/oauth/authorize?`), page.url());
  const authorize = new URL(page.url());
  assert.equal(authorize.searchParams.get('redirect_uri'), `${stack.url}/api/callback`);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  await screenshot(page, SHOTS, '1-sign-in');

  await signInAtIdp(page, 'usr_alice', 'org_acme');
  assert.deepEqual(await profileRows(page), {
    greeting: 'Hello, Alice Anderson',
    email: 'alice@acme.test',
    organization: 'org_acme',
    roles: 'admin',
  });
  await screenshot(page, SHOTS, '2-profile-acme');

  // What Chromium keeps: the session id and the access token, both HttpOnly, Secure, Lax;
  // the login's transaction cookie is gone.
  const cookies = await browser.context.cookies(stack.url);
  const byName = Object.fromEntries(cookies.map((c) => [c.name, c]));
  for (const name of ['__Host-sk_session', 'accessToken']) {
    const cookie = byName[name];
    assert.ok(cookie, `Chromium holds no ${name} cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.equal(cookie.httpOnly, true, `${name} HttpOnly`);
    assert.equal(cookie.secure, true, `${name} Secure`);
    assert.equal(cookie.sameSite, 'Lax', `${name} SameSite`);
    assert.equal(cookie.path, '/', `${name} Path`);
    assert.ok(cookie.expires > Date.now() / 1000, `${name} is persistent`);
  }
  assert.deepEqual(
    cookies.filter((c) => c.name.startsWith('__Host-sk_txn_')).map((c) => c.name),
    [],
    'transaction cookie removed after the callback',
  );
  acmeSession = byName['__Host-sk_session'].value;
  secrets.push(acmeSession, byName.accessToken.value);
  // Scripts cannot read them.
  assert.equal(await page.evaluate(() => document.cookie), '');

  // Still signed in after a reload.
  await page.reload();
  assert.equal((await profileRows(page)).organization, 'org_acme');

  // Switch organization: a new login with prompt=select_account, back to the profile.
  await page.locator('#switch-organization').click();
  await page.locator('#user-usr_alice').waitFor();
  assert.equal(new URL(page.url()).searchParams.get('prompt'), 'select_account');
  await signInAtIdp(page, 'usr_alice', 'org_globex');
  assert.deepEqual(await profileRows(page), {
    greeting: 'Hello, Alice Anderson',
    email: 'alice@acme.test',
    organization: 'org_globex',
    roles: 'member',
  });
  await screenshot(page, SHOTS, '3-profile-globex');
  globexSession = (await browser.context.cookies(stack.url)).find(
    (c) => c.name === '__Host-sk_session',
  ).value;
  secrets.push(globexSession);
  assert.notEqual(globexSession, acmeSession, 'a new login gets a new session id');

  // The session it replaced is over on the server too.
  // (A separate HTTP client without the browser's cookie jar, so only this cookie is sent.)
  const api = await request.newContext();
  const replaced = await api.get(`${stack.url}/api/session`, {
    headers: { cookie: `__Host-sk_session=${acmeSession}` },
  });
  assert.equal(replaced.status(), 401);
  await api.dispose();
  assertLogIsClean();
});

test('sign out', { skip: skip || false, timeout: 5 * 60_000 }, async () => {
  assert.ok(page && globexSession, 'the sign-in test ran first');
  // Sign out: the session ends here and at the IdP, and the browser lands on sign-in again.
  await page.locator('#sign-out').click();
  try {
    await page.waitForURL((url) => url.href.startsWith(`${stack.idpUrl}/oauth/authorize?`), {
      timeout: 30_000,
    });
    await page.locator('#user-usr_alice').waitFor();
  } finally {
    await screenshot(page, SHOTS, '4-after-sign-out');
  }
  const left = (await browser.context.cookies(stack.url)).map((c) => c.name);
  assert.ok(!left.includes('__Host-sk_session') && !left.includes('accessToken'), `cookies left: ${left}`);

  // The profile is not reachable any more, not even with the old session id.
  const profile = await page.request.get(`${stack.url}/dashboard/profile`, { maxRedirects: 0 });
  assert.equal(profile.status(), 302);
  assert.match(profile.headers().location, /^\/api\/login\?/);
  const api = await request.newContext();
  const stale = await api.get(`${stack.url}/api/session`, {
    headers: { cookie: `__Host-sk_session=${globexSession}` },
  });
  assert.equal(stale.status(), 401);
  await api.dispose();

  assertLogIsClean();
  assert.match(readLog(), /^POST \/api\/logout 302 \d+ ms$/m);
});

// Two browsers at once, alice (admin of Acme) and carol (member of Acme), each calling the
// team's own routes behind the authorizer from the profile page's "Call the API" panel.
test('the API behind the authorizer: alice and carol see what their roles allow', { skip: skip || false, timeout: 10 * 60_000 }, async () => {
  const carolBrowser = await launchBrowser();
  try {
    const pages = {
      alice: await browser.context.newPage(),
      carol: await carolBrowser.context.newPage(),
    };
    for (const [user, organization] of [['alice', 'org_acme'], ['carol', null]]) {
      const p = pages[user];
      p.setDefaultTimeout(120_000);
      await p.goto(`${stack.url}/dashboard/profile`);
      await p.locator(`#user-usr_${user}`).click();
      if (organization) await p.locator(`#org-${organization}`).click();
      await p.waitForURL(`${stack.url}/dashboard/profile`);
    }
    const call = async (p, button, out) => {
      await p.locator(`#${button}`).click();
      await p.locator(`#${out}[data-status]`).waitFor();
      return {
        status: Number(await p.locator(`#${out}`).getAttribute('data-status')),
        text: await p.locator(`#${out}`).textContent(),
      };
    };
    const aliceMe = await call(pages.alice, 'call-me', 'me-result');
    assert.equal(aliceMe.status, 200, aliceMe.text);
    assert.match(aliceMe.text, /"userId":"usr_alice"/);
    assert.match(aliceMe.text, /"via":"session"/);
    const aliceAdmin = await call(pages.alice, 'call-admin', 'admin-result');
    assert.equal(aliceAdmin.status, 200, aliceAdmin.text);
    await screenshot(pages.alice, SHOTS, '5-api-panel-alice');

    const carolMe = await call(pages.carol, 'call-me', 'me-result');
    assert.equal(carolMe.status, 200, carolMe.text);
    assert.match(carolMe.text, /"userId":"usr_carol"/);
    assert.match(carolMe.text, /"roles":\["member"\]/);
    const carolAdmin = await call(pages.carol, 'call-admin', 'admin-result');
    assert.equal(carolAdmin.status, 403, carolAdmin.text);
    await screenshot(pages.carol, SHOTS, '6-api-panel-carol');
    assert.match(readLog(), /^GET \/api\/admin 403 \d+ ms$/m);
  } finally {
    await carolBrowser.close();
  }
});

// Sessions follow Scalekit, in two browsers: alice in Acme (this browser) and in Globex (a second
// one). Her session list shows both; ending the Globex sign-in on the IdP's /dev page delivers a
// signed logout token and a signed user.logout webhook to the app, and that browser is signed
// out while this one is not; she signs in there again, and "Sign out everywhere" here ends both.
test('a sign-in ended at the IdP ends its session in the browser; sign out everywhere', { skip: skip || false, timeout: 10 * 60_000 }, async () => {
  const other = await launchBrowser();
  try {
    const acme = await browser.context.newPage();
    const globex = await other.context.newPage();
    for (const [p, organization] of [[acme, 'org_acme'], [globex, 'org_globex']]) {
      p.setDefaultTimeout(120_000);
      await p.goto(`${stack.url}/dashboard/profile`);
      if (!p.url().startsWith(`${stack.url}/dashboard/profile`)) {
        await p.locator('#user-usr_alice').click();
        await p.locator(`#org-${organization}`).click();
        await p.waitForURL(`${stack.url}/dashboard/profile`);
      }
    }
    assert.equal((await acme.locator('#organization').textContent()).trim(), 'org_acme');
    assert.equal((await globex.locator('#organization').textContent()).trim(), 'org_globex');

    // Both sessions listed (the list is read when the page loads), this device marked.
    await acme.reload();
    await acme.locator('#sessions[data-count="2"]').waitFor();
    assert.equal(await acme.locator('li.session[data-current="true"]').count(), 1);
    assert.match(await acme.locator('li.session[data-current="false"]').textContent(), /Globex/);
    assert.equal((await acme.locator('#organization-name').textContent()).trim(), 'Acme Corp');
    await screenshot(acme, SHOTS, '7-sessions');

    // At the IdP: end the Globex sign-in, as an admin or a session policy would.
    const idp = await other.context.newPage();
    await idp.goto(`${stack.idpUrl}/dev`);
    await idp.locator('#sign-ins tr', { hasText: 'org_globex' }).locator('button').click();
    await idp.waitForLoadState();
    await screenshot(idp, SHOTS, '8-ended-at-idp');
    assert.match(await idp.locator('#backchannel-logout').textContent(), /HTTP 200/);
    assert.match(await idp.locator('#webhook').textContent(), /HTTP 200/);

    // That browser is signed out; this one is not, and lists one session now.
    await globex.goto(`${stack.url}/dashboard/profile`);
    await globex.locator('#user-usr_alice').waitFor();
    assert.ok(globex.url().startsWith(`${stack.idpUrl}/oauth/authorize?`), globex.url());
    await acme.reload();
    await acme.locator('#sessions[data-count="1"]').waitFor();
    assert.equal((await acme.locator('#organization').textContent()).trim(), 'org_acme');
    assert.match(readLog(), /^POST \/api\/backchannel-logout 200 \d+ ms$/m);
    assert.match(readLog(), /^POST \/api\/scalekit\/webhook 200 \d+ ms$/m);

    // She signs in again in the second browser; then signs out everywhere in this one: both
    // browsers land on the sign-in page, and Scalekit (the IdP's list) holds none of her
    // sign-ins any more.
    await globex.locator('#user-usr_alice').click();
    await globex.locator('#org-org_globex').click();
    await globex.waitForURL(`${stack.url}/dashboard/profile`);
    await acme.reload();
    await acme.locator('#sessions[data-count="2"]').waitFor();
    await idp.goto(`${stack.idpUrl}/dev`);
    assert.ok(await idp.locator('#sign-ins tr', { hasText: 'alice@acme.test' }).count() >= 2);
    await acme.locator('#sign-out-everywhere').click();
    await acme.locator('#user-usr_alice').waitFor();
    assert.match(readLog(), /^DELETE \/api\/sessions 204 \d+ ms$/m);
    const left = (await browser.context.cookies(stack.url)).map((c) => c.name);
    assert.ok(!left.includes('__Host-sk_session'), `cookies left: ${left}`);
    await globex.goto(`${stack.url}/dashboard/profile`);
    await globex.locator('#user-usr_alice').waitFor();
    assert.ok(globex.url().startsWith(`${stack.idpUrl}/oauth/authorize?`), globex.url());
    await idp.goto(`${stack.idpUrl}/dev`);
    assert.equal(await idp.locator('#sign-ins tr', { hasText: 'alice@acme.test' }).count(), 0);
  } finally {
    await other.close();
  }
});
