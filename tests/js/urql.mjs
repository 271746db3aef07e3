// urql (@urql/core, default options: queries by GET within the URL limit) against a
// running server. Usage: FINORA_URL=... FINORA_API_KEY=... FINORA_BUSINESS_ID=... node urql.mjs
// Prints one JSON line: every operation's data, error codes and the HTTP exchanges it made.
import { Client, fetchExchange, gql } from '@urql/core';

const exchanges = [];
// Records what went over the wire; the request itself is urql's, untouched.
async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  exchanges.push({
    method: init?.method ?? 'GET',
    urlLength: String(input).length,
    status: response.status,
    contentType: response.headers.get('content-type'),
    cacheControl: response.headers.get('cache-control'),
  });
  return response;
}

const client = new Client({
  url: process.env.FINORA_URL,
  exchanges: [fetchExchange],
  fetch: recordingFetch,
  fetchOptions: { headers: { authorization: `Bearer ${process.env.FINORA_API_KEY}` } },
});
const businessId = process.env.FINORA_BUSINESS_ID;

async function run(name, operation) {
  const before = exchanges.length;
  const result = await operation.toPromise();
  return {
    name,
    data: result.data ?? null,
    codes: (result.error?.graphQLErrors ?? []).map((e) => e.extensions?.code ?? null),
    networkError: result.error?.networkError ? String(result.error.networkError) : null,
    exchanges: exchanges.slice(before),
  };
}

const CREATE = gql`
  mutation Create($b: ID!, $input: CreateCustomerInput!) {
    createCustomer(businessId: $b, input: $input) {
      customer { id name email phone }
      userErrors { code }
    }
  }
`;
const CUSTOMER = gql`
  query Customer($id: ID!) {
    customer(id: $id) { id name email phone }
  }
`;
const LIST = gql`
  query List($b: ID!) {
    customers(businessId: $b, limit: 5) { id name email }
  }
`;
// Fourteen aliases of every field make a URL past urql's 2,047 characters: urql sends it by POST.
const FIELDS = 'id businessId name email phone address tin companyName isActive createdAt updatedAt';
const aliases = Array.from({ length: 14 }, (_, n) => `lookup${n}: customer(id: $id) { ${FIELDS} }`);
const LONG = gql(`query Long($id: ID!) { ${aliases.join(' ')} }`);
const INVALID = gql`
  query Invalid($id: ID!) {
    customer(id: $id) { id nope }
  }
`;

const email = `ada.urql.${crypto.randomUUID()}@example.com`;
const input = { name: 'Ada Urql', email, phone: '08012345678' };
const created = await run('create', client.mutation(CREATE, { b: businessId, input }));
const id = created.data?.createCustomer?.customer?.id;
const report = [
  created,
  await run('customer', client.query(CUSTOMER, { id }, { requestPolicy: 'network-only' })),
  await run('list', client.query(LIST, { b: businessId }, { requestPolicy: 'network-only' })),
  await run('long', client.query(LONG, { id }, { requestPolicy: 'network-only' })),
  await run('invalid', client.query(INVALID, { id }, { requestPolicy: 'network-only' })),
  await run('foreign', client.query(LIST, { b: 'biz_notmine' }, { requestPolicy: 'network-only' })),
];
process.stdout.write(JSON.stringify({ email, report }) + '\n');
