// The seed's utils/auth.js, as the guide writes it: one Scalekit client per container, from the
// environment (the client secret in plain text, as the seed reads it).
import { Scalekit } from '@scalekit-sdk/node';

export let scalekit = new Scalekit(
  process.env.SCALEKIT_ENVIRONMENT_URL,
  process.env.SCALEKIT_CLIENT_ID,
  process.env.SCALEKIT_CLIENT_SECRET
);
