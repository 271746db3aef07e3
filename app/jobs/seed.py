"""`finora seed-demo`: realistic customers, fast, through the real encryption code.

Rows are generated from a seed (the same seed and count give the same people),
sealed with the same cipher, blind index and search tokens as the service, and
loaded with COPY in batches.  Each batch commits with the job's progress, so a
killed run resumes where it stopped.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.ids import new_id
from app.jobs.batches import finish, progress, resume
from app.models import keyring
from app.models.keyring import BusinessKeys
from app.services.customers import name_from_email

BATCH = 5000

FIRST = [
    "Adaeze",
    "Adebayo",
    "Adewale",
    "Aisha",
    "Akinola",
    "Amaka",
    "Aminu",
    "Babajide",
    "Bisola",
    "Blessing",
    "Bola",
    "Chiamaka",
    "Chidi",
    "Chidinma",
    "Chinedu",
    "Chioma",
    "Chukwuemeka",
    "Damilola",
    "Ebere",
    "Efe",
    "Ejiro",
    "Emeka",
    "Eniola",
    "Fatima",
    "Femi",
    "Folake",
    "Funke",
    "Ganiyu",
    "Halima",
    "Hauwa",
    "Ibrahim",
    "Ifeanyi",
    "Ifeoma",
    "Ikechukwu",
    "Jide",
    "Kayode",
    "Kelechi",
    "Kemi",
    "Kunle",
    "Ladi",
    "Lola",
    "Maryam",
    "Musa",
    "Ngozi",
    "Nkechi",
    "Nneka",
    "Obinna",
    "Ochuko",
    "Ogechi",
    "Olamide",
    "Olumide",
    "Onyeka",
    "Oluwaseun",
    "Rasheed",
    "Sade",
    "Segun",
    "Sekinat",
    "Sola",
    "Tayo",
    "Temitope",
    "Tobi",
    "Tunde",
    "Uche",
    "Uchenna",
    "Usman",
    "Yemi",
    "Yetunde",
    "Yusuf",
    "Zainab",
    "Zara",
    "Ahmed",
    "Abubakar",
    "Garba",
    "Hadiza",
    "Idris",
    "Nasiru",
    "Salisu",
]
LAST = [
    "Abiodun",
    "Adeleke",
    "Adeyemi",
    "Afolabi",
    "Agbaje",
    "Ajayi",
    "Akande",
    "Alabi",
    "Aliyu",
    "Anyanwu",
    "Awolowo",
    "Babangida",
    "Bello",
    "Chukwu",
    "Danjuma",
    "Eze",
    "Ezeani",
    "Fashola",
    "Ibekwe",
    "Igwe",
    "Ilori",
    "Iwu",
    "Kalu",
    "Lawal",
    "Mohammed",
    "Nnamdi",
    "Nwachukwu",
    "Nwankwo",
    "Obasanjo",
    "Obi",
    "Odili",
    "Odu",
    "Ogunleye",
    "Okafor",
    "Okeke",
    "Okonkwo",
    "Okoro",
    "Okpara",
    "Oladipo",
    "Olawale",
    "Onuoha",
    "Onyekachi",
    "Oyebanji",
    "Sanusi",
    "Shehu",
    "Soyinka",
    "Suleiman",
    "Tinubu",
    "Uba",
    "Udeh",
    "Umar",
    "Uzor",
    "Yakubu",
    "Yaradua",
    "Balogun",
    "Ogundipe",
    "Osagie",
    "Edet",
    "Effiong",
    "Bassey",
    "Ekanem",
    "Ita",
]
DOMAINS = (
    ["gmail.com"] * 30
    + ["yahoo.com"] * 12
    + ["outlook.com"] * 6
    + ["hotmail.com"] * 5
    + ["icloud.com"] * 3
    + ["yahoo.co.uk", "live.com", "protonmail.com", "mail.com"]
    + [
        "zenithbank.com",
        "gtbank.com",
        "firstbanknigeria.com",
        "mtn.ng",
        "airtel.com.ng",
        "dangote.com",
        "flutterwave.com",
        "paystack.com",
        "interswitchgroup.com",
        "konga.com",
        "jumia.com.ng",
        "unilag.edu.ng",
        "ui.edu.ng",
        "oauife.edu.ng",
        "lagosstate.gov.ng",
        "nnpcgroup.com",
        "andela.com",
        "kudabank.com",
        "piggyvest.com",
        "opay.ng",
        "moniepoint.com",
        "cowrywise.com",
    ]
)
COMPANY_WORDS = [
    "Ventures",
    "Enterprises",
    "Global",
    "Resources",
    "Logistics",
    "Foods",
    "Textiles",
    "Pharmacy",
    "Stores",
    "Motors",
    "Agro",
    "Technologies",
    "Concepts",
    "Holdings",
    "Services",
    "Trading",
    "Farms",
    "Fashion",
    "Prints",
    "Builders",
]
STREETS = [
    "Adeola Odeku Street",
    "Awolowo Road",
    "Allen Avenue",
    "Bode Thomas Street",
    "Herbert Macaulay Way",
    "Ahmadu Bello Way",
    "Ogui Road",
    "Aba Road",
    "Ikorodu Road",
    "Obafemi Awolowo Way",
    "Broad Street",
    "Marina",
    "Isaac John Street",
    "Opebi Road",
    "Admiralty Way",
    "Zik Avenue",
    "Murtala Mohammed Way",
    "Independence Avenue",
    "Bompai Road",
    "Okigwe Road",
]
AREAS = [
    "Victoria Island, Lagos",
    "Ikoyi, Lagos",
    "Ikeja, Lagos",
    "Surulere, Lagos",
    "Yaba, Lagos",
    "Lekki, Lagos",
    "Wuse II, Abuja",
    "Garki, Abuja",
    "Maitama, Abuja",
    "GRA, Port Harcourt",
    "Trans Amadi, Port Harcourt",
    "Bodija, Ibadan",
    "Enugu",
    "Kano",
    "Kaduna",
    "Benin City",
    "Owerri",
    "Abeokuta",
    "Jos",
    "Calabar",
    "Uyo",
    "Onitsha",
]
PREFIXES = [
    "803",
    "806",
    "810",
    "813",
    "814",
    "816",
    "903",
    "906",
    "805",
    "807",
    "811",
    "815",
    "905",
    "802",
    "808",
    "812",
    "701",
    "902",
    "907",
    "809",
    "817",
    "818",
    "909",
    "908",
    "705",
    "915",
]

COLUMNS = (
    "id",
    "business_id",
    "name",
    "name_lower",
    "name_from_email",
    "email",
    "email_hash",
    "phone",
    "address",
    "tin",
    "company_name",
    "account_balance_kobo",
    "is_active",
    "created_at",
    "updated_at",
    "deleted_at",
    "search_tokens",
    "short_tokens",
    "key_id",
)


def people(seed: int, start: int, stop: int) -> Iterator[dict[str, Any]]:
    """Plaintext people number start..stop-1 of the seeded sequence."""
    for n in range(start, stop):
        rng = random.Random(seed * 1_000_003 + n)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        style = rng.randrange(5)
        local = (
            f"{first}.{last}",
            f"{first}{last}",
            f"{first[0]}{last}",
            f"{last}.{first}",
            f"{first}_{last[0]}",
        )[style].lower()
        company = rng.random() < 0.3
        yield {
            "name": f"{first} {last}",
            # The number keeps emails unique within the business, as the index demands.
            "email": f"{local}{n}@{rng.choice(DOMAINS)}",
            "phone": f"+234{rng.choice(PREFIXES)}{rng.randrange(10**7):07d}"
            if rng.random() < 0.85
            else None,
            "address": f"{rng.randrange(1, 300)} {rng.choice(STREETS)}, {rng.choice(AREAS)}"
            if rng.random() < 0.7
            else None,
            "tin": f"{rng.randrange(10**8):08d}-{rng.randrange(10**4):04d}"
            if company or rng.random() < 0.2
            else None,
            "company_name": f"{last} {rng.choice(COMPANY_WORDS)} Ltd" if company else None,
            "balance": rng.randrange(0, 50_000_000) if rng.random() < 0.5 else 0,
        }


def seal_row(keys: BusinessKeys, person: dict[str, Any], now: datetime) -> tuple:
    """One customer row, encrypted and indexed exactly as the service writes it: under
    the business's writing key."""
    business_id, generation = keys.business_id, keys.write
    row_id = new_id("cust")
    name_lower = person["name"].lower()

    def seal(column: str) -> bytes | None:
        value = person[column]
        return None if value is None else generation.seal("customer", column, row_id, value)

    return (
        row_id,
        business_id,
        person["name"],
        name_lower,
        name_from_email(name_lower, person["email"]),
        seal("email"),
        generation.email_index.digest(business_id, person["email"]),
        seal("phone"),
        seal("address"),
        seal("tin"),
        person["company_name"],
        person["balance"],
        True,
        now,
        now,
        None,
        *generation.search_tokens.for_rows(business_id, name_lower, person["email"]),
        generation.id,
    )


async def seed_demo(
    conn: asyncpg.Connection,
    *,
    business_id: str,
    count: int,
    seed: int = 1,
    show_progress: bool = True,
) -> int:
    """Insert `count` customers (resuming a killed run); returns rows inserted now."""
    job = await resume(f"seed:{business_id}:{seed}:{count}")
    inserted = 0
    with progress("seed", total=count, initial=job.done, enabled=show_progress) as bar:
        while job.done < count:
            stop = min(job.done + BATCH, count)
            now = datetime.now(UTC)
            keys = await keyring.of(business_id)
            rows = [seal_row(keys, p, now) for p in people(seed, job.done, stop)]
            async with conn.transaction():
                await conn.copy_records_to_table("customer", records=rows, columns=COLUMNS)
                await conn.execute(
                    "UPDATE job SET done = $2, cursor = $3, updated_at = now() WHERE name = $1",
                    job.name,
                    stop,
                    str(stop),
                )
            inserted += stop - job.done
            bar.update(stop - job.done)
            job.done = stop
    await finish(job)
    await conn.execute("ANALYZE customer")  # fresh statistics, or the planner guesses
    return inserted
