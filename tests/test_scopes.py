"""API key scopes: read-only keys change nothing; read_masked keys see PII masked,
everywhere a customer is shown, and never cause a decryption they were not asked for."""

from __future__ import annotations

import base64
import json

import pytest

from app import crypto
from app.services import businesses
from app.services.access import Caller, Scope
from app.services.errors import Forbidden
from app.services.masking import mask_email, mask_local, mask_phone, mask_tin
from schema.schema import schema
from tests.conftest import Tenant, make_tenant
from tests.test_api import CREATE, DELETE, FIELDS, FIND_OR_CREATE, UPDATE, codes, create
from tests.test_cli import arun

# The masks on awkward values ----------------------------------------------------


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jane@example.com", "j***@example.com"),
        ("a@x.ng", "a***@x.ng"),
        ("émile.zoë@exämple.com", "é***@exämple.com"),
        ("ab+tag@sub.domain.ng", "a***@sub.domain.ng"),
    ],
)
def test_mask_email(email, masked):
    assert mask_email(email) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+2348012345678", "+234*******678"),  # the contract's example
        ("+12025550123", "+120*****123"),
        ("+2901234", "+290****"),  # short: never shown whole
        ("+12345", "+1****"),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked
    assert len(masked) == len(phone) and "*" in masked


@pytest.mark.parametrize(
    ("tin", "masked"),
    [
        ("12345678-0001", "*********0001"),  # the contract's example
        ("1234567890", "******7890"),  # no hyphen
        ("12345678", "****5678"),
        ("1234", "****"),
    ],
)
def test_mask_tin(tin, masked):
    assert mask_tin(tin) == masked


# Keys and their scopes ----------------------------------------------------------


async def scoped(tenant: Tenant, scope: str) -> Tenant:
    issued = await businesses.create_api_key(tenant.business_id, scope)
    return Tenant(tenant.business_id, issued.key)


async def test_authenticate_carries_the_scope(app, tenant):
    for scope in Scope:
        issued = await businesses.create_api_key(tenant.business_id, scope)
        caller = await businesses.authenticate(issued.key)
        assert caller is not None and caller.scope is scope and issued.scope is scope
    with pytest.raises(ValueError):
        await businesses.create_api_key(tenant.business_id, "admin")


async def test_cli_creates_a_scoped_key_and_refuses_an_unknown_scope(settings, tenant):
    made = await arun(
        "apikey", "create", "--business", tenant.business_id, "--scope", "read_masked", "--json"
    )
    assert made.returncode == 0, made.stderr
    shown = json.loads(made.stdout)
    assert shown["scope"] == "read_masked" and shown["key"].startswith("fin_live_")
    caller = await businesses.authenticate(shown["key"])
    assert caller is not None and caller.scope is Scope.READ_MASKED
    default = json.loads(
        (await arun("apikey", "create", "--business", tenant.business_id, "--json")).stdout
    )
    assert default["scope"] == "write"
    wrong = await arun("apikey", "create", "--business", tenant.business_id, "--scope", "root")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr


# Read-only keys change nothing ---------------------------------------------------

#: One call of every mutation of the schema; a mutation added later must be added here.
MUTATIONS = {
    "createCustomer": (CREATE, lambda b, c: {"b": b, "input": {"name": "N", "email": "n@x.ng"}}),
    "findOrCreateCustomer": (FIND_OR_CREATE, lambda b, c: {"b": b, "input": {"email": "f@x.ng"}}),
    "findOrCreateCustomers": (
        "mutation($b: ID!, $inputs: [FindOrCreateCustomerInput!]!) {"
        " findOrCreateCustomers(businessId: $b, inputs: $inputs) { createdCount } }",
        lambda b, c: {"b": b, "inputs": [{"email": "f@x.ng"}, {"email": "g@x.ng"}]},
    ),
    "updateCustomer": (UPDATE, lambda b, c: {"id": c, "input": {"name": "Changed"}}),
    "deleteCustomer": (DELETE, lambda b, c: {"id": c}),
    "eraseCustomer": (
        "mutation($id: ID!) { eraseCustomer(id: $id) { erasedCustomerId } }",
        lambda b, c: {"id": c},
    ),
    "createWebhookEndpoint": (
        "mutation($b: ID!) { createWebhookEndpoint(businessId: $b,"
        ' url: "http://127.0.0.1:9/hook") { secret } }',
        lambda b, c: {"b": b},
    ),
    "deleteWebhookEndpoint": (
        "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedEndpointId } }",
        lambda b, c: {"id": "whep_AAAAAAAAAAAAAAAAAAAAAA"},
    ),
    "updateWebhookEndpoint": (
        "mutation($id: ID!) { updateWebhookEndpoint(id: $id, enabled: false) { endpoint { id } } }",
        lambda b, c: {"id": "whep_AAAAAAAAAAAAAAAAAAAAAA"},
    ),
    "rotateWebhookEndpointSecret": (
        "mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret } }",
        lambda b, c: {"id": "whep_AAAAAAAAAAAAAAAAAAAAAA"},
    ),
    "pingWebhookEndpoint": (
        "mutation($id: ID!) { pingWebhookEndpoint(id: $id) { delivery { id } } }",
        lambda b, c: {"id": "whep_AAAAAAAAAAAAAAAAAAAAAA"},
    ),
    "retryWebhookDelivery": (
        "mutation($id: ID!) { retryWebhookDelivery(id: $id) { delivery { id } } }",
        lambda b, c: {"id": "whdl_00000000000000000000000000000000"},
    ),
    "createShopConnection": (
        "mutation($b: ID!) { createShopConnection(businessId: $b, platform: SHOPIFY,"
        ' shopDomain: "scoped.myshopify.com", secret: "a-long-secret") { connection { id } } }',
        lambda b, c: {"b": b},
    ),
    "deleteShopConnection": (
        "mutation($id: ID!) { deleteShopConnection(id: $id) { deletedConnectionId } }",
        lambda b, c: {"id": "shop_AAAAAAAAAAAAAAAAAAAAAA"},
    ),
}


async def _state(raw_db, business_id: str) -> list:
    return [
        tuple(r)
        for r in await raw_db.fetch(
            "SELECT id, name, email, is_active, updated_at FROM customer "
            "WHERE business_id = $1 ORDER BY id",
            business_id,
        )
    ]


def test_every_mutation_of_the_schema_is_covered():
    assert set(MUTATIONS) == set(schema._schema.mutation_type.fields)


@pytest.mark.parametrize("scope", ["read", "read_masked"])
async def test_read_only_keys_are_forbidden_every_mutation(gql, tenant, raw_db, scope):
    customer = await create(gql, tenant, name="Kept", email="kept@x.ng")
    reader = await scoped(tenant, scope)
    before = await _state(raw_db, tenant.business_id)
    for name, (query, variables) in MUTATIONS.items():
        response = await gql(reader, query, variables(tenant.business_id, customer["id"]))
        payload = response.json()
        assert response.status_code == 200, (name, payload)
        assert codes(payload) == ["FORBIDDEN"], (name, payload)
        assert payload["data"] is None
    # An invalid input is still FORBIDDEN: the scope is checked before anything else.
    bad = await gql(reader, CREATE, {"b": tenant.business_id, "input": {"name": "", "email": "x"}})
    assert codes(bad.json()) == ["FORBIDDEN"]
    assert await _state(raw_db, tenant.business_id) == before


@pytest.mark.parametrize("scope", ["read", "read_masked"])
async def test_read_only_keys_get_403_from_rest_writes(client, gql, tenant, raw_db, scope):
    customer = await create(gql, tenant, name="Rest Kept", email="restkept@x.ng")
    reader = await scoped(tenant, scope)
    before = await _state(raw_db, tenant.business_id)
    b = tenant.business_id
    calls = [
        ("POST", f"/v1/customers?businessId={b}", {"name": "N", "email": "n2@x.ng"}),
        ("POST", f"/v1/customers/find-or-create?businessId={b}", {"email": "n3@x.ng"}),
        (
            "POST",
            f"/v1/customers/find-or-create/bulk?businessId={b}",
            {"customers": [{"email": "n4@x.ng"}]},
        ),
        ("PATCH", f"/v1/customers/{customer['id']}", {"name": "Changed"}),
        ("DELETE", f"/v1/customers/{customer['id']}", None),
        ("POST", f"/v1/customers/{customer['id']}/erase", None),
        ("POST", f"/v1/customers?businessId={b}", "not json"),  # refused before the body
    ]
    for method, url, body in calls:
        kwargs = {"json": body} if isinstance(body, dict) else {"content": body or ""}
        response = await client.request(method, url, headers=reader.headers, **kwargs)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["error"]["code"] == "FORBIDDEN"
    assert await _state(raw_db, tenant.business_id) == before
    listed = await client.get(f"/v1/customers?businessId={b}", headers=reader.headers)
    assert listed.status_code == 200


async def test_the_service_refuses_a_reader_before_reading():
    from app.services import customers

    reader = Caller("biz_whatever", "fin_live_x", Scope.READ)
    with pytest.raises(Forbidden):  # no business lookup, no validation: refused first
        await customers.update_customer(reader, customer_id="cust_nope", changes={"name": ""})


# Masked reads ------------------------------------------------------------------

FULL = {
    "name": "Zoë Masked",
    "email": "zoe.masked@example.com",
    "phone": "08012345678",
    "address": "12 Admiralty Way, Lekki",
    "tin": "12345678-0001",
    "companyName": "Zoë Stores",
}
MASKED = {
    "name": "Zoë Masked",
    "email": "z***@example.com",
    "phone": "+234*******678",
    "address": None,
    "tin": "*********0001",
    "companyName": "Zoë Stores",
}
SHOWN = " ".join(MASKED)


async def test_read_masked_masks_every_read(gql, client, tenant):
    owner = await make_tenant("Masked shop")
    made = await create(gql, owner, **FULL)
    masked = await scoped(owner, "read_masked")
    clear = await scoped(owner, "read")
    b = owner.business_id

    def pick(node: dict) -> dict:
        return {k: node[k] for k in MASKED}

    query = f"""query($b: ID!, $id: ID!) {{
      one: customer(id: $id) {{ {SHOWN} }}
      list: customers(businessId: $b) {{ {SHOWN} }}
      page: customerConnection(businessId: $b) {{
        nodes {{ {SHOWN} }} edges {{ node {{ {SHOWN} }} }} }}
      found: searchCustomers(businessId: $b, q: "zoë") {{ customers {{ {SHOWN} }} }}
    }}"""
    data = await gql.data(masked, query, {"b": b, "id": made["id"]})
    # The second time the query runs from its compiled plan (masks inlined in its rows).
    assert await gql.data(masked, query, {"b": b, "id": made["id"]}) == data
    assert pick(data["one"]) == MASKED
    assert [pick(n) for n in data["list"]] == [MASKED]
    assert [pick(n) for n in data["page"]["nodes"]] == [MASKED]
    assert [pick(e["node"]) for e in data["page"]["edges"]] == [MASKED]
    assert [pick(n) for n in data["found"]["customers"]] == [MASKED]
    # A read key sees the same customer in clear.
    plain = await gql.data(clear, query, {"b": b, "id": made["id"]})
    assert plain["one"]["email"] == FULL["email"] and plain["one"]["address"] == FULL["address"]

    rest = {
        "one": (await client.get(f"/v1/customers/{made['id']}", headers=masked.headers)).json(),
        "list": (await client.get(f"/v1/customers?businessId={b}", headers=masked.headers)).json(),
        "search": (
            await client.get(f"/v1/customers/search?businessId={b}&q=zo", headers=masked.headers)
        ).json(),
    }
    assert pick(rest["one"]["data"]) == MASKED
    assert [pick(c) for c in rest["list"]["data"]] == [MASKED]
    assert [pick(c) for c in rest["search"]["data"]["customers"]] == [MASKED]
    assert FULL["email"] not in json.dumps(rest) + json.dumps(data)


class _Openings:
    """Counts decryptions by column while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.columns: list[str] = []
        cipher = crypto.current().cipher
        original = cipher.open

        def counting(table: str, column: str, row_id: str, value: bytes) -> str:
            self.columns.append(column)
            return original(table, column, row_id, value)

        monkeypatch.setattr(cipher, "open", counting)


async def test_masked_reads_decrypt_only_what_is_asked_and_never_the_address(
    gql, tenant, monkeypatch
):
    owner = await make_tenant("Openings")
    for n in range(3):
        await create(gql, owner, **(FULL | {"name": f"Open {n}", "email": f"open{n}@x.ng"}))
    masked = await scoped(owner, "read_masked")
    openings = _Openings(monkeypatch)
    b = owner.business_id
    for _ in range(2):  # the general path, then the compiled plan
        openings.columns.clear()
        names = "query($b: ID!) { customers(businessId: $b) { id name } }"
        await gql.data(masked, names, {"b": b})
        assert openings.columns == []
        await gql.data(masked, "query($b: ID!) { customers(businessId: $b) { email } }", {"b": b})
        assert openings.columns == ["email"] * 3
        openings.columns.clear()
        every = f"query($b: ID!) {{ customers(businessId: $b) {{ {FIELDS} }} }}"
        await gql.data(masked, every, {"b": b})
        assert sorted(openings.columns) == ["email"] * 3 + ["phone"] * 3 + ["tin"] * 3


async def test_masked_search_matches_names_only_and_opens_no_email(gql, monkeypatch):
    owner = await make_tenant("Masked search")
    await create(gql, owner, name="Amaka Obi", email="quiet.fox@lagosmail.ng")
    await create(gql, owner, name="Quincy Ade", email="amaka.friend@lagosmail.ng")
    masked = await scoped(owner, "read_masked")
    openings = _Openings(monkeypatch)
    query = """query($b: ID!, $q: String!) {
      searchCustomers(businessId: $b, q: $q) { customers { name email } } }"""

    async def names(key: Tenant, q: str) -> list[str]:
        data = await gql.data(key, query, {"b": owner.business_id, "q": q})
        return [c["name"] for c in data["searchCustomers"]["customers"]]

    assert await names(masked, "quiet") == []  # an email fragment: nothing
    assert await names(masked, "lagosmail") == []
    assert openings.columns == []  # and no email was opened to decide
    assert await names(masked, "amaka") == ["Amaka Obi"]  # the name, not the email
    assert openings.columns == ["email"]  # the answer's own (masked) email
    assert await names(owner, "amaka") == ["Amaka Obi", "Quincy Ade"]  # a write key: both


async def test_events_for_readers_and_endpoints_only_in_clear(gql, tenant):
    made = await create(gql, tenant, name="Evented", email="evented@x.ng")
    reader, masked = await scoped(tenant, "read"), await scoped(tenant, "read_masked")
    events = """query($b: ID!, $c: ID) { customerEvents(businessId: $b, customerId: $c) {
      nodes { type customerId } } }"""
    variables = {"b": tenant.business_id, "c": made["id"]}
    for key in (reader, masked):  # events hold no PII: both may read them
        data = await gql.data(key, events, variables)
        assert data["customerEvents"]["nodes"] == [{"type": "CREATED", "customerId": made["id"]}]
    endpoints = "query($b: ID!) { webhookEndpoints(businessId: $b) { id } }"
    assert "webhookEndpoints" in await gql.data(reader, endpoints, {"b": tenant.business_id})
    refused = await gql(masked, endpoints, {"b": tenant.business_id})
    assert codes(refused.json()) == ["FORBIDDEN"]


# Names that show the email: masked, and out of masked search ----------------------

#: Every way a customer gets the default name (its email's local part), and one named.
DEFAULTED = {
    "single": "adaeze.okafor.e66834@mail.ng",  # findOrCreateCustomer (GraphQL)
    "bulk": "bulk.only.k1@mail.ng",  # findOrCreateCustomers (GraphQL)
    "rest": "rest.single.k2@mail.ng",  # POST /v1/customers/find-or-create
    "rest bulk": "rest.bulk.k3@mail.ng",  # POST /v1/customers/find-or-create/bulk
    "import": "imported.k4@mail.ng",  # finora import, a CSV without a name column
}
BULK = """mutation($b: ID!, $inputs: [FindOrCreateCustomerInput!]!) {
  findOrCreateCustomers(businessId: $b, inputs: $inputs) { results { customer { id name } } } }"""
LOCALS = [email.split("@")[0] for email in DEFAULTED.values()]


async def _defaulted_shop(gql, client, tmp_path) -> tuple[Tenant, dict[str, str]]:
    """A shop with a customer defaulted by each path and one named: their ids by path."""
    owner = await make_tenant("Defaulted names")
    b = owner.business_id
    ids: dict[str, str] = {}
    made = await gql.data(owner, FIND_OR_CREATE, {"b": b, "input": {"email": DEFAULTED["single"]}})
    ids["single"] = made["findOrCreateCustomer"]["customer"]["id"]
    made = await gql.data(owner, BULK, {"b": b, "inputs": [{"email": DEFAULTED["bulk"]}]})
    ids["bulk"] = made["findOrCreateCustomers"]["results"][0]["customer"]["id"]
    rest = await client.post(
        f"/v1/customers/find-or-create?businessId={b}",
        json={"email": DEFAULTED["rest"]},
        headers=owner.headers,
    )
    ids["rest"] = rest.json()["data"]["id"]
    rest = await client.post(
        f"/v1/customers/find-or-create/bulk?businessId={b}",
        json={"customers": [{"email": DEFAULTED["rest bulk"]}]},
        headers=owner.headers,
    )
    ids["rest bulk"] = rest.json()["data"]["results"][0]["customer"]["id"]
    source = tmp_path / "no-names.csv"
    source.write_text(f"email,phone\n{DEFAULTED['import']},08012345678\n")
    imported = await arun("import", "--business", b, str(source))
    assert imported.returncode == 0, imported.stderr
    ids["import"] = next(
        line.split(",")[2]
        for line in (tmp_path / "no-names.csv.report.csv").read_text().splitlines()[1:]
    )
    ids["named"] = (await create(gql, owner, name="Adaeze Named", email="an@mail.ng"))["id"]
    return owner, ids


def _cursors_text(page: dict) -> str:
    """Every cursor of a connection, decoded as far as a client can decode one."""
    cursors = [e["cursor"] for e in page["edges"]] + [page["pageInfo"]["endCursor"]]
    return " ".join(base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)).decode() for c in cursors)


def _without_cursors(data: dict) -> dict:
    """A sealed cursor differs each time (a random nonce, as every sealed value)."""
    page = data["page"]
    edges = [e["node"] for e in page["edges"]]
    return data | {"page": {"nodes": page["nodes"], "edges": edges}}


async def test_a_defaulted_name_is_masked_wherever_a_masked_key_reads_it(
    gql, client, tmp_path, settings
):
    owner, ids = await _defaulted_shop(gql, client, tmp_path)
    masked, writer = await scoped(owner, "read_masked"), owner
    b = owner.business_id
    query = """query($b: ID!, $id: ID!) {
      one: customer(id: $id) { name email }
      list: customers(businessId: $b) { id name email }
      page: customerConnection(businessId: $b) {
        nodes { id name } edges { cursor node { id name email } } pageInfo { endCursor } }
      found: searchCustomers(businessId: $b, q: "adaeze") { customers { id name } }
    }"""
    variables = {"b": b, "id": ids["single"]}
    data = await gql.data(masked, query, variables)
    again = await gql.data(masked, query, variables)  # the compiled plan: the same rows
    assert _without_cursors(again) == _without_cursors(data)
    assert data["one"] == {"name": "a***", "email": "a***@mail.ng"}
    shown = {row["id"]: row for row in data["list"]}
    for path, email in DEFAULTED.items():
        row = shown[ids[path]]
        # Masked exactly as the email's local part is: the name gives back nothing more.
        assert row["name"] == mask_local(email.split("@")[0]) == row["email"].split("@")[0], path
    assert shown[ids["named"]]["name"] == "Adaeze Named"  # a real name stays in clear
    assert [n["name"] for n in data["page"]["nodes"]] == [r["name"] for r in data["list"]]
    assert [e["node"] for e in data["page"]["edges"]] == data["list"]
    assert [c["id"] for c in data["found"]["customers"]] == [ids["named"]]
    rest = [
        (await client.get(f"/v1/customers/{ids['import']}", headers=masked.headers)).json(),
        (await client.get(f"/v1/customers?businessId={b}", headers=masked.headers)).json(),
        (
            await client.get(f"/v1/customers/search?businessId={b}&q=ada", headers=masked.headers)
        ).json(),
    ]
    assert rest[0]["data"]["name"] == "i***"
    assert {c["id"]: c["name"] for c in rest[1]["data"]}[ids["rest"]] == "r***"
    assert [c["id"] for c in rest[2]["data"]["customers"]] == [ids["named"]]
    everything = json.dumps(data) + json.dumps(rest) + _cursors_text(data["page"])
    assert not [local for local in LOCALS if local in everything]

    # The sealed cursors still walk every customer once, in order.
    walk = """query($b: ID!, $after: String) { customerConnection(businessId: $b, first: 1,
      after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = (await gql.data(masked, walk, {"b": b, "after": after}))["customerConnection"]
        seen += [n["id"] for n in page["nodes"]]
        assert not [local for local in LOCALS if local in _cursors_text(page | {"edges": []})]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [row["id"] for row in data["list"]]

    # Keys that see PII in clear see the name as it is stored.
    for key in (writer, await scoped(owner, "read")):
        clear = await gql.data(key, query, variables)
        assert clear["one"]["name"] == LOCALS[0]
        names = {row["id"]: row["name"] for row in clear["list"]}
        assert [names[ids[path]] for path in DEFAULTED] == LOCALS
        assert {c["id"] for c in clear["found"]["customers"]} == {ids["named"], ids["single"]}


async def test_masked_search_never_matches_a_defaulted_name(gql, client, tmp_path, settings):
    owner, ids = await _defaulted_shop(gql, client, tmp_path)
    masked = await scoped(owner, "read_masked")
    query = """query($b: ID!, $q: String!) {
      searchCustomers(businessId: $b, q: $q) { customers { id } } }"""

    async def found(key: Tenant, q: str) -> set[str]:
        data = await gql.data(key, query, {"b": owner.business_id, "q": q})
        return {c["id"] for c in data["searchCustomers"]["customers"]}

    defaulted = {ids[path] for path in DEFAULTED}
    # 1 and 2 characters (short tokens), 3 and more (trigrams), the whole local part.
    guesses = ["a", "k", "e6", "k1", "ada", "okafor", "e66834", *LOCALS]
    for q in guesses:
        assert not await found(masked, q) & defaulted, q
    assert await found(masked, "adaeze") == {ids["named"]}
    assert await found(owner, "e66834") == {ids["single"]}  # a write key: as before
    assert defaulted <= await found(owner, "k")
    # A real name set by an update: shown, and found, again.
    renamed = await gql.data(
        owner, UPDATE, {"id": ids["single"], "input": {"name": "Adaeze Okafor"}}
    )
    assert renamed["updateCustomer"]["userErrors"] == []
    assert await found(masked, "okafor") == {ids["single"]}
    one = "query($id: ID!) { customer(id: $id) { name } }"
    shown = await gql.data(masked, one, {"id": ids["single"]})
    assert shown["customer"]["name"] == "Adaeze Okafor"
