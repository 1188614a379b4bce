// What the seed's Express calls (res.redirect, res.status().json, res.cookie) put in the
// response, as an API Gateway HTTP API (payload 2.0) result: no Express, no HTTP server.

// The seed's constant redirect URI (http://localhost:3000/api/callback); the bench points it at
// the API's callback URL, as a deployment would.
export const redirectUri = process.env.REDIRECT_URI ?? 'http://localhost:3000/api/callback';

// res.redirect(url): 302, Location, and Express's short text body.
export function redirect(url, cookies = []) {
  return {
    statusCode: 302,
    headers: { location: url, 'content-type': 'text/plain; charset=utf-8' },
    cookies,
    body: `Found. Redirecting to ${url}`,
  };
}

// res.status(status).json(value).
export function json(status, value) {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(value),
  };
}

// res.cookie(name, value, options), as Express 4 serializes it (through the cookie package):
// maxAge in milliseconds becomes Max-Age in seconds and an Expires date; the path is /.
export function cookie(name, value, { maxAge, httpOnly, secure, sameSite }) {
  const parts = [`${name}=${encodeURIComponent(value)}`];
  if (maxAge != null) {
    parts.push(`Max-Age=${Math.floor(maxAge / 1000)}`);
  }
  parts.push('Path=/');
  if (maxAge != null) {
    parts.push(`Expires=${new Date(Date.now() + maxAge).toUTCString()}`);
  }
  if (httpOnly) {
    parts.push('HttpOnly');
  }
  if (secure) {
    parts.push('Secure');
  }
  if (sameSite === 'strict') {
    parts.push('SameSite=Strict');
  }
  return parts.join('; ');
}
