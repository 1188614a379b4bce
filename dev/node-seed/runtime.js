// A minimal Lambda custom runtime in plain JavaScript, as a Node function's bootstrap would run
// it: load the handler named by _HANDLER (`file.export`, from LAMBDA_TASK_ROOT), then loop on the
// Runtime API (AWS_LAMBDA_RUNTIME_API): GET /2018-06-01/runtime/invocation/next, call the
// handler with the event, POST .../invocation/{id}/response (or .../error). One keep-alive
// connection, node:http only, no logging of its own.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = '/2018-06-01/runtime';

function call(method, route, body) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const request = http.request({ host, port, method, path: base + route, agent, headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

function errorBody(error) {
  return JSON.stringify({
    errorType: error?.name ?? 'Error',
    errorMessage: error?.message ?? String(error),
  });
}

async function loadHandler() {
  const [file, name] = process.env._HANDLER.split('.');
  const root = process.env.LAMBDA_TASK_ROOT;
  const module = await import(pathToFileURL(path.join(root, `${file}.js`)).href);
  if (typeof module[name] !== 'function') {
    throw new Error(`${process.env._HANDLER} is not a function`);
  }
  return module[name];
}

let handler;
try {
  handler = await loadHandler();
} catch (error) {
  await call('POST', '/init/error', errorBody(error));
  process.exit(1);
}

for (;;) {
  const next = await call('GET', '/invocation/next');
  if (next.status !== 200) {
    // The Runtime API is gone: the environment is shutting down.
    process.exit(0);
  }
  const id = next.headers['lambda-runtime-aws-request-id'];
  const context = {
    awsRequestId: id,
    invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
    getRemainingTimeInMillis: () => Number(next.headers['lambda-runtime-deadline-ms']) - Date.now(),
  };
  let result;
  try {
    result = await handler(JSON.parse(next.body), context);
  } catch (error) {
    await call('POST', `/invocation/${id}/error`, errorBody(error));
    continue;
  }
  await call('POST', `/invocation/${id}/response`, JSON.stringify(result ?? null));
}
