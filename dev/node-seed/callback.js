// GET /api/callback: the seed's steps 4 and 5 as a Lambda handler. authenticateWithCode posts
// the code to the token endpoint and decodes the ID token (the SDK does not verify its
// signature); the access token goes into the seed's accessToken cookie.
import { scalekit } from './utils/auth.js';
import { cookie, json, redirect, redirectUri } from './utils/express.js';

// The seed's `db.saveRefreshToken(user.id, refreshToken)`, with no database: this container's
// memory, one entry per user, as a Map would hold it.
const refreshTokens = new Map();
const db = {
  async saveRefreshToken(userId, refreshToken) {
    refreshTokens.set(userId, refreshToken);
  },
};

export const handler = async (event) => {
  const { code, error, error_description } = event.queryStringParameters ?? {};
  if (error) {
    return json(401, { error, error_description });
  }
  try {
    // Exchange the authorization code for a user profile
    const authResult = await scalekit.authenticateWithCode(code, redirectUri);
    const { user } = authResult;
    const { accessToken, refreshToken, expiresIn } = authResult;
    // Store the refreshToken securely, e.g., in a database
    await db.saveRefreshToken(user.id, refreshToken);
    // Set the accessToken as a secure, HTTP-only cookie
    const accessTokenCookie = cookie('accessToken', accessToken, {
      maxAge: (expiresIn - 60) * 1000,
      httpOnly: true,
      secure: process.env.NODE_ENV === 'production',
      sameSite: 'strict',
    });
    return redirect('/dashboard/profile', [accessTokenCookie]);
  } catch (err) {
    console.error('Error exchanging code:', err);
    return json(500, { error: 'Failed to authenticate user' });
  }
};
