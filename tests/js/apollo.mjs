// Apollo Client with its persisted-queries link (APQ, hashed queries by GET) against a
// running server. Usage: FINORA_URL=... FINORA_API_KEY=... FINORA_CUSTOMER_ID=... node apollo.mjs
// Prints one JSON line: each operation's data, error codes and the HTTP exchanges it made.
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const exchanges = [];
// Records what went over the wire; the requests themselves are Apollo's, untouched.
async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  const url = new URL(String(input));
  const body = typeof init?.body === 'string' ? JSON.parse(init.body) : {};
  exchanges.push({
    method: init?.method ?? 'GET',
    sentQuery: url.searchParams.has('query') || typeof body.query === 'string',
    sentHash: (url.searchParams.get('extensions') ?? JSON.stringify(body.extensions ?? {})).includes('sha256Hash'),
    status: response.status,
    codes: ((await response.clone().json()).errors ?? []).map((e) => e.extensions?.code ?? null),
  });
  return response;
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
    new HttpLink({
      uri: process.env.FINORA_URL,
      fetch: recordingFetch,
      headers: { authorization: `Bearer ${process.env.FINORA_API_KEY}` },
    }),
  ),
});

async function run(name, query, variables) {
  const before = exchanges.length;
  let data = null;
  let codes = [];
  try {
    ({ data } = await client.query({ query, variables, fetchPolicy: 'no-cache' }));
  } catch (error) {
    codes = (error.errors ?? []).map((e) => e.extensions?.code ?? null);
  }
  return { name, data: data ?? null, codes, exchanges: exchanges.slice(before) };
}

const CUSTOMER = gql`
  query Customer($id: ID!) {
    customer(id: $id) { id name email }
  }
`;
const INVALID = gql`
  query Invalid($id: ID!) {
    customer(id: $id) { id nope }
  }
`;
const id = process.env.FINORA_CUSTOMER_ID;
const report = [
  await run('first', CUSTOMER, { id }),
  await run('again', CUSTOMER, { id }),
  await run('invalid', INVALID, { id }),
  await run('invalid again', INVALID, { id }),
];
console.log(JSON.stringify({ report }));
