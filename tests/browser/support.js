// Shared by the browser tests: the local stack (dev/run), the OpenID Provider script, and
// headless Debian Chromium through playwright-core. Everything listens on and talks to loopback
// only; the browser is fenced in (see fenceToLoopback).

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null. Under CI a missing browser is a failure. */
export function missingBrowser() {
  if (existsSync(CHROMIUM)) return null;
  const reason = `no Chromium at ${CHROMIUM} (./dev/test installs Debian's chromium when run as root)`;
  if (process.env.CI === 'true') throw new Error(`${reason}: required under CI`);
  return reason;
}

/**
 * A TCP port nothing listens on, on 127.0.0.1, chosen below Linux's ephemeral range
 * (32768-60999): a port the kernel handed out (port 0) can be taken by any outgoing connection
 * (Chromium, the SDK clients) before the server that was meant to use it binds it.
 */
export async function freePort() {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port between 20000 and 31999');
}

function canListen(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Starts a child process, writes its output to tests/artifacts/<logName>, and resolves when a line
 * of its stdout starts with `readyPrefix` (or rejects if it exits or times out first).
 */
function startProcess(command, args, { env, logName, readyPrefix, timeoutMs }) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const logPath = path.join(ARTIFACTS, logName);
  const log = createWriteStream(logPath);
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const ready = new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`${command} not ready after ${timeoutMs / 1000} s; see ${logPath}`)),
      timeoutMs,
    );
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith(readyPrefix));
      if (line) {
        clearTimeout(timer);
        resolve(line.slice(readyPrefix.length).trim());
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code ?? signal}) before it was ready; see ${logPath}`));
    });
  });

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    }
    log.end();
  }
  return { child, ready, stop, logPath };
}

/**
 * The whole product through dev/run (--ci: no reloading). Extra environment selects the mode:
 * none for the dev Scalekit server, SCALEKIT_* (with --local-aws) for another provider.
 * The first run may compile every function, hence the generous default timeout.
 */
export async function startStack({ name, port, env = {}, args = [], timeoutMs = 15 * 60_000 }) {
  port ??= await freePort();
  const idpPort = await freePort();
  const childEnv = { ...process.env, ...env };
  // dev/run decides by these; an outer value (dev/test's moto) must not leak in.
  for (const key of ['AWS_ENDPOINT_URL', 'SESSION_TABLE', 'SESSION_SECRET', 'SESSION_SECRET_ARN',
    'SCALEKIT_CLIENT_SECRET_ARN']) {
    if (!(key in env)) delete childEnv[key];
  }
  if (!('SCALEKIT_ENVIRONMENT_URL' in env)) {
    for (const key of ['SCALEKIT_ENVIRONMENT_URL', 'SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET']) {
      delete childEnv[key];
    }
  }
  const proc = startProcess(
    path.join(ROOT, 'dev', 'run'),
    ['--ci', '--port', String(port), '--idp-port', String(idpPort), ...args],
    { env: childEnv, logName: `dev-run-${name}.log`, readyPrefix: 'dev/run: ready', timeoutMs },
  );
  try {
    const url = await proc.ready;
    return { url, port, idpUrl: `http://127.0.0.1:${idpPort}`, stop: proc.stop, logPath: proc.logPath };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

/** tests/browser/op-server.js (oidc-provider) on a free port. */
export async function startOpenIdProvider({ clientId, clientSecret, redirectUri, postLogoutRedirectUri }) {
  const port = await freePort();
  const proc = startProcess(
    process.execPath,
    [
      path.join(ROOT, 'tests', 'browser', 'op-server.js'),
      '--port', String(port),
      '--client-id', clientId,
      '--client-secret', clientSecret,
      '--redirect-uri', redirectUri,
      '--post-logout-redirect-uri', postLogoutRedirectUri,
    ],
    { env: process.env, logName: 'op-server.log', readyPrefix: 'op-server: ready', timeoutMs: 30_000 },
  );
  try {
    const issuer = await proc.ready;
    return { issuer, port, stop: proc.stop, logPath: proc.logPath };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

/** Headless Debian Chromium with a fresh profile. */
export async function launchBrowser() {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'sk-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 900, height: 700 },
  });
  const blocked = await fenceToLoopback(context);
  return {
    context,
    blocked,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Lets the browser reach loopback only (oidc-provider's pages @import a web font, for one).
 * Returns the list of URLs it refused.
 */
async function fenceToLoopback(context) {
  const blocked = [];
  await context.route('**/*', (route) => {
    const { protocol, hostname } = new URL(route.request().url());
    const local = ['127.0.0.1', 'localhost', '[::1]'].includes(hostname);
    if ((protocol === 'http:' || protocol === 'https:') && !local) {
      blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  return blocked;
}

/** Saves a full-page screenshot as tests/artifacts/<dir>/<name>.png. */
export async function screenshot(page, dir, name) {
  const folder = path.join(ARTIFACTS, dir);
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
