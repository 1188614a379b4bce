// GET /api/login: the seed's step 2 as a Lambda handler. No state, nonce or PKCE: the seed
// passes none, so neither does this port.
import { scalekit } from './utils/auth.js';
import { redirect, redirectUri } from './utils/express.js';

const options = {
  scopes: ['openid', 'profile', 'email', 'offline_access'],
};

export const handler = async () => {
  const authorizationUrl = scalekit.getAuthorizationUrl(redirectUri, options);
  return redirect(authorizationUrl);
};
