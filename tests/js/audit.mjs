// The graphql-http audit suite against a running server, as an authenticated client.
// Usage: FINORA_URL=http://127.0.0.1:PORT/graphql FINORA_API_KEY=... node audit.mjs
// Prints one JSON line: [{id, name, status, reason?, httpStatus?}] for every audit.
import { auditServer } from 'graphql-http';

const url = process.env.FINORA_URL;
const key = process.env.FINORA_API_KEY;

// Every audit request carries the key, whatever headers the audit itself sets.
function authenticatedFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: authenticatedFetch });
const report = results.map(({ id, name, status, reason, response }) => ({
  id,
  name,
  status,
  ...(status === 'ok' ? {} : { reason, httpStatus: response?.status }),
}));
process.stdout.write(JSON.stringify(report) + '\n');
