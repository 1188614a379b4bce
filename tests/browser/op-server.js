// A certified OpenID Provider (npm oidc-provider 9) configured the way a Scalekit environment
// looks to our functions: Scalekit's endpoint paths, one confidential client authenticating with
// client_secret_post, PKCE S256 required, RS256-signed ID tokens and JWT access tokens, and the
// issuer equal to its base URL. A second, independent opinion on our side of the protocol.
//
//   node tests/browser/op-server.js --port P --client-id ID --client-secret S --redirect-uri URI \
//     [--post-logout-redirect-uri URI]
//
// Prints "op-server: ready <issuer>" when it listens (on 127.0.0.1 only). Users sign in on its
// development pages (devInteractions): any login name, any password; the login name becomes the
// subject, and the other claims are made up from it (see claimsFor).

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'post-logout-redirect-uri': { type: 'string' },
  },
});
for (const required of ['port', 'client-id', 'client-secret', 'redirect-uri']) {
  if (!opts[required]) {
    console.error(`op-server: --${required} is required`);
    process.exit(2);
  }
}

const issuer = `http://127.0.0.1:${opts.port}`;
const clientId = opts['client-id'];
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

// Claims for a login name such as "dana@initech.test": what Scalekit puts in its ID tokens.
function claimsFor(login) {
  const local = login.split('@')[0];
  const given = local.charAt(0).toUpperCase() + local.slice(1);
  return {
    sub: login, // oidc-provider's devInteractions use the login name as the account id
    email: login.includes('@') ? login : `${login}@op.test`,
    email_verified: true,
    name: `${given} Tester`,
    given_name: given,
    family_name: 'Tester',
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: opts['client-secret'],
      redirect_uris: [opts['redirect-uri']],
      post_logout_redirect_uris: opts['post-logout-redirect-uri']
        ? [opts['post-logout-redirect-uri']]
        : [],
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  // Scalekit's paths (reference/scalekit-protocol.md); discovery stays where OIDC puts it.
  routes: {
    authorization: '/oauth/authorize',
    token: '/oauth/token',
    jwks: '/keys',
    end_session: '/oidc/logout',
    userinfo: '/userinfo',
  },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // Scalekit's ID tokens carry the profile and email claims themselves (no userinfo call).
  conformIdTokenClaims: false,
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => claimsFor(id),
  }),
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    // Scalekit's access tokens are RS256 JWTs for this client, verified locally by the session
    // check: issue the same (oidc-provider issues opaque ones unless a resource server says JWT).
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:scalekit-login:app',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'app',
        audience: clientId,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 300,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  ttl: {
    AccessToken: 300,
    AuthorizationCode: 60,
    IdToken: 300,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
});

provider.on('server_error', (_ctx, error) => console.error('op-server: server_error', error));
provider.on('grant.error', (_ctx, error) =>
  console.error(`op-server: grant error ${error.name}: ${error.error_description ?? error.message}`),
);
provider.on('authorization.error', (_ctx, error) =>
  console.error(`op-server: authorization error ${error.name}: ${error.error_description ?? error.message}`),
);
provider.on('end_session.error', (_ctx, error) =>
  console.error(`op-server: end_session error ${error.name}: ${error.error_description ?? error.message}`),
);
// What each token request and response held (member names only, never values): the test checks
// client_secret_post and PKCE, and that no refresh token was issued without prompt=consent.
provider.on('grant.success', (ctx) => {
  const names = (object) => Object.keys(object ?? {}).sort().join(' ');
  console.log(`op-server: token request with ${names(ctx.oidc.body)}`);
  console.log(`op-server: token response with ${names(ctx.body)}`);
});
// One line per request: method, path (never the query: codes, states, tokens), status.
provider.use(async (ctx, next) => {
  await next();
  console.log(`op-server | ${ctx.method} ${ctx.path} ${ctx.status}`);
});

const server = provider.listen(Number(opts.port), '127.0.0.1', () => {
  console.log(`op-server: ready ${issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
