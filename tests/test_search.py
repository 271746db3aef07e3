"""searchCustomers at scale: the keyed trigram index, the planner, and their oracle."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.crypto.gramcache import GramCache
from app.crypto.keys import new_key
from app.crypto.tokens import BITS, QUERY_GRAMS, SearchTokens, grams, short_grams, spread
from app.jobs.batches import resume
from app.jobs.reindex import reindex
from app.jobs.seed import people, seed_demo
from app.models import Customer, keyring
from app.services import customers as svc
from app.services import search, validation
from app.services.access import Caller
from app.services.errors import InvalidInput
from tests.conftest import _admin, make_tenant
from tests.test_api import SEARCH
from tests.test_cli import arun, production_env
from tests.test_crypto import keyset

# Tokens ---------------------------------------------------------------------


def test_grams():
    assert grams("abcd") == {"abc", "bcd"}
    assert grams("ab") == set()
    assert grams("aaaa") == {"aaa"}


@given(st.text(max_size=40), st.integers(min_value=1, max_value=5))
def test_grams_are_the_slices_of_their_size(text, size):
    """The joined-in-C grams of sizes 1 to 3 are exactly the slices."""
    assert grams(text, size) == {text[i : i + size] for i in range(len(text) - size + 1)}


def _uncached(keys, rows, queries):
    tokens = SearchTokens(keys.index, GramCache(0))  # keeps nothing: every HMAC computed
    return [tokens.for_rows(*row) for row in rows], [tokens.for_query(*q) for q in queries]


@pytest.mark.parametrize("entries", [0, 1, 40, 300, 100_000])
def test_remembered_tokens_equal_computed_ones_whatever_the_bound(entries):
    """Remembering gram tokens changes no token: tables dropped, full or shared."""
    keys = keyset()
    rows = [
        (business, p["name"].lower(), p["email"])
        for p in people(3, 0, 60)
        for business in ("biz_1", "biz_2", "biz_3")
    ]
    rows += [("biz_1", "zoë ådé", "zoë@ex.ng"), ("biz_2", "", "a@b.c")]
    queries = [(b, q) for b, _, e in rows[::5] for q in (e[:1], e[:2], e[:7], e[-4:])]
    cache = GramCache(entries)
    tokens = SearchTokens(keys.index, cache)
    for _ in range(2):  # cold, then warm
        assert ([tokens.for_rows(*r) for r in rows], [tokens.for_query(*q) for q in queries]) == (
            _uncached(keys, rows, queries)
        )
        assert len(cache) <= entries
        assert len(cache._tables) <= max(entries, 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=20)), min_size=1, max_size=6))
def test_rows_whose_grams_are_remembered_get_the_tokens_of_their_distinct_grams(rows):
    """The short way (each gram as it occurs, looked up) equals the long one, and a row
    with one gram not remembered yet still gets it computed."""
    keys = keyset()
    tokens = SearchTokens(keys.index)
    for name, email in rows:
        tokens.for_rows("biz_1", name.lower(), email)  # now remembered
    rows = [*rows, (rows[0][0] + "qz", rows[0][1]), (rows[0][0], rows[0][1] + "@ÿ")]
    assert [tokens.for_rows("biz_1", n.lower(), e) for n, e in rows] == _uncached(
        keys, [("biz_1", n.lower(), e) for n, e in rows], []
    )[0]


def test_the_gram_cache_drops_the_least_recently_used_table_first():
    cache = GramCache(6)

    def compute(grams):
        return {g: len(g) for g in grams}

    cache.tokens("old", {"a", "b"}, compute)
    cache.tokens("mid", {"c", "d"}, compute)
    cache.tokens("old", {"a"}, compute)  # used again: now the newest
    cache.tokens("new", {"e", "f", "g"}, compute)  # 7 > 6: "mid" goes, not "old"
    assert len(cache) == 5
    calls = []
    cache.tokens("old", {"a", "b"}, lambda grams: calls.append(grams) or compute(grams))
    assert calls == []  # still remembered
    cache.tokens("mid", {"c"}, lambda grams: calls.append(grams) or compute(grams))
    assert calls == [{"c"}]  # computed again


def test_tokens_are_keyed_per_business_and_truncated():
    tokens, other = SearchTokens(keyset().index), SearchTokens(keyset().index)
    row = tokens.for_row("biz_1", "ada obi", "ada@example.com")
    assert all(0 <= t < 2**BITS for t in row)
    assert row == sorted(set(row))
    assert row != tokens.for_row("biz_2", "ada obi", "ada@example.com")
    assert row != other.for_row("biz_1", "ada obi", "ada@example.com")


@given(st.text(min_size=1, max_size=30), st.integers(0, 29), st.integers(1, 30))
def test_a_substring_query_has_all_its_tokens_in_the_row(text, start, length):
    tokens = SearchTokens(KEYS.index)
    needle = text.lower()[start : start + length]
    if not needle:
        return
    trigrams, short = tokens.for_rows("biz_1", text.lower(), text.lower())
    for domain in tokens.for_query("biz_1", needle):
        assert set(domain.trigrams) <= set(trigrams) and set(domain.short) <= set(short)
        assert domain.short  # every query has at least one exact token


def test_a_long_query_is_looked_up_by_a_dozen_grams_spread_over_it():
    assert sorted(spread("abcdefghijklmnopqrstuvwxyz", 2))[::11] == ["ab", "yz"]  # both ends
    assert spread("abcd", 2) == {"ab", "bc", "cd"}
    name, email = SearchTokens(KEYS.index).for_query("biz_1", "".join(map(chr, range(200, 300))))
    for domain in (name, email):
        assert len(domain.short) == QUERY_GRAMS and len(domain.trigrams) == QUERY_GRAMS


def test_short_tokens_are_32_bits_and_name_their_gram():
    tokens = SearchTokens(KEYS.index)
    short = tokens.short_for_row("biz_1", "ab", "ab@x.ng")
    assert all(-(2**31) <= t < 2**31 for t in short)
    _, email = tokens.for_query("biz_1", "z")
    assert not set(email.short) & set(short)  # a character the row lacks has no token in it
    assert short_grams("ab") == {"a", "b", "ab"}


KEYS = keyset()


# The oracle -----------------------------------------------------------------


async def oracle(business_id: str, q: str) -> list[str]:
    """Decrypt every active customer and filter in Python: the definition."""
    needle = q.strip().lower()
    rows = await Customer.filter(business_id=business_id, is_active=True)
    hits = [r for r in rows if needle in r.name.lower() or needle in r.email.lower()]
    hits.sort(key=lambda r: (r.name_lower, r.id))
    return [r.id for r in hits[:50]]


async def masked_oracle(business_id: str, q: str) -> list[str]:
    """What a read_masked key may find: names only, and never a name that is (or may
    be) its email's local part."""
    needle = q.strip().lower()
    rows = await Customer.filter(business_id=business_id, is_active=True, name_from_email=False)
    hits = sorted((r.name_lower, r.id) for r in rows if needle in r.name.lower())
    return [row_id for _, row_id in hits[:50]]


NAME_ALPHABET = "abcdeAÉéßİıKk%_ .-'0"  # noqa: RUF001 - dotless i on purpose
LOCAL_ALPHABET = "abcde%_+-0"
RARE_PEOPLE = [("Zoë Ọlá", "qj"), ("Øystein ẞ", "zoe"), ("ǅemal 中", "xq"), ("Ọba", "jj")]
#: Characters a search box may send one at a time: rare in the pool, or absent.
RARE = "ëọøẞǆ中qjxzZ~#é€🙂İ"


async def _pool(business_id: str) -> list[tuple[str, str]]:
    """A fixed pool of awkward customers, a few soft-deleted."""
    import random

    rng = random.Random(7)
    caller = Caller(business_id, "test")
    made = []
    for n in range(160):
        name = "".join(rng.choice(NAME_ALPHABET) for _ in range(rng.randint(1, 14))).strip() or "x"
        local = "".join(rng.choice(LOCAL_ALPHABET) for _ in range(rng.randint(1, 8)))
        email = f"{local}{n}@{rng.choice(['gmail.com', 'ex.ng', 'yahoo.co.uk', 'a-b.com'])}"
        customer = await svc.create_customer(
            caller, business_id=business_id, values={"name": name, "email": email}
        )
        if n % 17 == 0:
            await svc.delete_customer(caller, customer_id=customer.id)
        made.append((name, email))
    for n, (name, local) in enumerate(RARE_PEOPLE):  # characters found once or twice
        await svc.create_customer(
            caller, business_id=business_id, values={"name": name, "email": f"{local}{n}@ex.ng"}
        )
    for n in range(60):  # many matches for the 50 cap
        await svc.create_customer(
            caller,
            business_id=business_id,
            values={"name": f"Cap {n}", "email": f"capper{n}@gmail.com"},
        )
    for n in range(30):  # default names (the local part), among the others in name order
        customer, _ = await svc.find_or_create_customer(
            caller, business_id=business_id, email=f"cap.{n}e@ex.ng", name=None, phone=None
        )
        if n % 10 == 0:  # and some not decided yet (rows older than the flag)
            await Customer.filter(id=customer.id).update(name_from_email=None)
    return made


@pytest.fixture(scope="module")
async def pool(app):
    tenant = await make_tenant("Search pool")
    return tenant.business_id, await _pool(tenant.business_id)


def queries(made: list[tuple[str, str]]) -> st.SearchStrategy[str]:
    texts = [t for pair in made for t in pair]
    sliced = st.tuples(st.sampled_from(texts), st.integers(0, 20), st.integers(1, 8)).map(
        lambda t: t[0][t[1] : t[1] + t[2]]
    )
    shaken = sliced.map(str.upper) | sliced.map(lambda s: f"  {s} ")
    random_text = st.text(alphabet=NAME_ALPHABET + "@.xyz", min_size=1, max_size=6)
    short = st.text(alphabet=NAME_ALPHABET + RARE + "@.", min_size=1, max_size=2)
    specials = st.sampled_from(["@", ".", "%", "_", "%_", "@g", "ß", "İ", "é", "gmail", "capper"])
    return (sliced | shaken | random_text | short | specials).filter(
        lambda q: 1 <= len(q.strip()) <= 100
    )


QUERY_EXAMPLES = int(os.environ.get("FINORA_SEARCH_EXAMPLES", "500"))


async def test_search_equals_the_oracle(pool):
    business_id, made = pool

    @settings(
        max_examples=QUERY_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(queries(made))
    def check(q: str) -> None:
        expected = asyncio.run_coroutine_threadsafe(oracle(business_id, q), loop).result()
        got = asyncio.run_coroutine_threadsafe(
            search.matching_ids(business_id, search.normalise_query(q)), loop
        ).result()
        assert got == expected, q

    loop = asyncio.get_running_loop()
    await asyncio.to_thread(check)


@pytest.mark.parametrize(("probe", "first_batch", "max_walk"), [(7, 2, 3000), (20, 64, 30)])
async def test_search_equals_the_oracle_when_the_walks_and_batches_are_small(
    pool, monkeypatch, probe, first_batch, max_walk
):
    """The walks end inside the business, and the index takes over after them in batches."""
    business_id, made = pool
    monkeypatch.setattr(search, "PROBE", probe)
    monkeypatch.setattr(search, "FIRST_BATCH", first_batch)
    monkeypatch.setattr(search, "MAX_WALK", max_walk)
    texts = [t for pair in made for t in pair]
    fixed = ["a", "e", "@", ".", "g", "ca", "ap", "capper", *RARE, "qj", "zo", "ọl", "a@"]
    for q in fixed + [t[1:3] for t in texts[:40]] + [t[2:6] for t in texts[:40]]:
        if q.strip():
            needle = search.normalise_query(q)
            assert await search.matching_ids(business_id, needle) == await oracle(business_id, q)
            masked = await search.matching_ids(business_id, needle, names_only=True)
            assert masked == await masked_oracle(business_id, q), q


async def test_masked_search_equals_its_oracle(pool):
    """Every path (1-2-gram tokens, trigrams, probe, walk, index batches) leaves out the
    names that show an email, and unindexed rows (NULL tokens) too."""
    business_id, made = pool
    texts = [t for pair in made for t in pair]
    fixed = ["a", "c", "e", ".", "ca", "p.", "cap", "cap.", "cap.1", "cap.12e", "0e", "1e"]
    unindexed = await Customer.filter(business_id=business_id, name_lower="cap.7e").first()
    assert unindexed is not None and unindexed.name_from_email is True
    await Customer.filter(id=unindexed.id).update(search_tokens=None, short_tokens=None)
    try:
        for q in fixed + [t[1:3] for t in texts[:40]] + [t[:4] for t in texts[:40]]:
            if q.strip():
                needle = search.normalise_query(q)
                masked = await search.matching_ids(business_id, needle, names_only=True)
                assert masked == await masked_oracle(business_id, q), q
        everyone = await search.matching_ids(business_id, "cap.")
        assert len(everyone) == 30 and unindexed.id in everyone  # a clear key finds them all
        assert await search.matching_ids(business_id, "cap.", names_only=True) == []
    finally:
        await Customer.filter(id=unindexed.id).update(
            search_tokens=unindexed.search_tokens, short_tokens=unindexed.short_tokens
        )


customers_strategy = st.lists(
    st.tuples(
        st.text(alphabet=NAME_ALPHABET, min_size=1, max_size=10),
        st.text(alphabet=LOCAL_ALPHABET, min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=8,
)


async def test_search_equals_the_oracle_on_random_data(app):
    loop = asyncio.get_running_loop()

    async def run(people: list[tuple[str, str]], q: str) -> None:
        tenant = await make_tenant("Random")
        caller = Caller(tenant.business_id, "t")
        for n, (name, local) in enumerate(people):
            try:
                await svc.create_customer(
                    caller,
                    business_id=tenant.business_id,
                    values={"name": name, "email": f"{local}{n}@ex.ng"},
                )
            except InvalidInput:
                continue
        got = await search.matching_ids(tenant.business_id, search.normalise_query(q))
        assert got == await oracle(tenant.business_id, q), q

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        customers_strategy, st.text(alphabet=NAME_ALPHABET + RARE + "@.", min_size=1, max_size=5)
    )
    def check(people: list[tuple[str, str]], q: str) -> None:
        if not q.strip():
            return
        asyncio.run_coroutine_threadsafe(run(people, q), loop).result()

    await asyncio.to_thread(check)


# The index follows every write -----------------------------------------------


@pytest.fixture
async def caller(app) -> Caller:
    return Caller((await make_tenant("Index")).business_id, "t")


async def found(caller: Caller, q: str) -> list[str]:
    return [
        c.id for c in await search.search_customers(caller, business_id=caller.business_id, q=q)
    ]


async def test_index_follows_updates_and_deletes(caller, raw_db):
    customer = await svc.create_customer(
        caller, business_id=caller.business_id, values={"name": "Tolu", "email": "tolu@alpha.ng"}
    )
    assert await found(caller, "alpha") == [customer.id]
    await svc.update_customer(caller, customer_id=customer.id, changes={"email": "tolu@beta.ng"})
    assert await found(caller, "alpha") == [] and await found(caller, "beta.n") == [customer.id]
    await svc.update_customer(caller, customer_id=customer.id, changes={"name": "Yewande"})
    assert await found(caller, "tolu") == [customer.id]  # still in the email
    assert await found(caller, "wande") == [customer.id]
    await svc.delete_customer(caller, customer_id=customer.id)
    assert await found(caller, "beta") == []
    tokens = await raw_db.fetchval("SELECT search_tokens FROM customer WHERE id = $1", customer.id)
    assert tokens == []  # a deleted customer leaves no search trace
    await svc.update_customer(caller, customer_id=customer.id, changes={"email": "x@gamma.ng"})
    assert await found(caller, "gamma") == []


async def test_find_or_create_indexes_the_new_customer(caller):
    customer, created = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="new.one@delta.ng", name=None, phone=None
    )
    assert created and await found(caller, "delta") == [customer.id]


async def test_unindexed_rows_are_still_found_and_backfilled(caller, raw_db):
    ids = []
    for n in range(5):
        customer = await svc.create_customer(
            caller,
            business_id=caller.business_id,
            values={"name": f"Back {n}", "email": f"fill{n}@omega.ng"},
        )
        ids.append(customer.id)
    await raw_db.execute(
        "UPDATE customer SET search_tokens = NULL WHERE business_id = $1", caller.business_id
    )
    assert await found(caller, "omega") == ids  # NULL rows are confirmed by decryption
    written = await reindex(business_id=caller.business_id, only_missing=True, show_progress=False)
    assert written == 5
    missing = await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1 AND search_tokens IS NULL",
        caller.business_id,
    )
    assert missing == 0 and await found(caller, "omega") == ids


async def test_reindex_resumes_after_the_last_committed_batch(caller, raw_db):
    for n in range(6):
        await svc.create_customer(
            caller, business_id=caller.business_id, values={"name": f"R{n}", "email": f"r{n}@r.ng"}
        )
    ids = sorted(
        r["id"]
        for r in await raw_db.fetch(
            "SELECT id FROM customer WHERE business_id = $1", caller.business_id
        )
    )
    job = await resume(f"reindex:{caller.business_id}:full")
    job.cursor, job.done = ids[3], 4  # as if killed after four rows
    await job.save()
    written = await reindex(business_id=caller.business_id, show_progress=False)
    assert written == 2
    assert await raw_db.fetchval("SELECT count(*) FROM job WHERE name = $1", job.name) == 0


# The index key changes: a full rebuild, then the service starts again ------------


async def test_full_reindex_after_an_index_key_change(fresh_db):
    env = production_env(DATABASE_URL=fresh_db)
    assert (await arun("migrate", env=env)).returncode == 0
    business = (await arun("business", "create", "Rekey", "--json", env=env)).stdout
    business_id = business.split('"id": "')[1].split('"')[0]
    seeded = await arun("seed-demo", "--business", business_id, "--count", "300", env=env)
    assert seeded.returncode == 0, seeded.stderr
    new_env = {**env, "FINORA_INDEX_KEY": new_key()}
    refused = await arun("serve", "--port", "1", env=new_env)
    assert "FINORA_INDEX_KEY does not match" in refused.stderr
    rebuilt = await arun("reindex", env=new_env)
    assert rebuilt.returncode == 0 and "reindexed 300" in rebuilt.stdout, rebuilt.stderr
    again = await arun("reindex", env=new_env)  # now the key is the recorded one
    assert again.returncode == 0, again.stderr
    conn = await _admin(fresh_db)
    try:
        unindexed = await conn.fetchval("SELECT count(*) FROM customer WHERE search_tokens IS NULL")
    finally:
        await conn.close()
    assert unindexed == 0


# Seeding -------------------------------------------------------------------------


def test_seeded_people_are_realistic_and_valid():
    batch = list(people(seed=3, start=0, stop=400))
    assert batch == list(people(seed=3, start=0, stop=400))  # deterministic
    assert len({p["email"] for p in batch}) == 400
    assert len({p["email"].split("@")[1] for p in batch}) > 10
    for person in batch:
        validation.check(
            {k: person[k] for k in ("name", "email", "phone", "address", "tin", "company_name")}
        )
        assert validation.email(person["email"]) == person["email"]
        if person["phone"]:
            assert validation.phone(person["phone"]) == person["phone"]


async def test_seed_demo_loads_through_the_real_encryption_and_resumes(caller, database_url):
    conn = await _admin(database_url)
    try:
        job = await resume(f"seed:{caller.business_id}:5:40")
        job.done = 25  # as if killed after 25 rows (and those rows were lost with it)
        await job.save()
        inserted = await seed_demo(
            conn, business_id=caller.business_id, count=40, seed=5, show_progress=False
        )
    finally:
        await conn.close()
    assert inserted == 15
    rows = await Customer.filter(business_id=caller.business_id)
    expected = {p["email"] for p in people(seed=5, start=25, stop=40)}
    assert {r.email for r in rows} == expected  # decrypts, with each row's own AAD
    one = rows[0]
    writing = (await keyring.of(caller.business_id)).write
    assert writing.email_index.digest(caller.business_id, one.email) == one.email_hash
    local = one.email.split("@")[0][2:6]
    assert one.id in await found(caller, local)


async def test_search_over_http_uses_the_index(gql, tenant):
    from tests.test_api import create

    await create(gql, tenant, name="Acme Ltd", email="finance@acme.com")
    await create(gql, tenant, name="Zed", email="zed@acmecorp.ng")
    data = await gql.data(tenant, SEARCH, {"b": tenant.business_id, "q": "acme"})
    assert [c["name"] for c in data["searchCustomers"]["customers"]] == ["Acme Ltd", "Zed"]
