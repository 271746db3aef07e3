from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "business" (
    "id" VARCHAR(40) NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS "api_key" (
    "id" VARCHAR(40) NOT NULL PRIMARY KEY,
    "prefix" VARCHAR(32) NOT NULL UNIQUE,
    "digest" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ,
    "business_id" VARCHAR(40) NOT NULL REFERENCES "business" ("id") ON DELETE RESTRICT
);
COMMENT ON TABLE "api_key" IS 'An API key, stored only as a SHA-256 digest (the key itself is random).';
CREATE TABLE IF NOT EXISTS "customer" (
    "id" VARCHAR(40) COLLATE "C" NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "name_lower" VARCHAR(200) COLLATE "C" NOT NULL,
    "email" BYTEA NOT NULL,
    "email_hash" VARCHAR(64) NOT NULL,
    "phone" BYTEA,
    "address" BYTEA,
    "tin" BYTEA,
    "company_name" VARCHAR(200),
    "account_balance_kobo" BIGINT NOT NULL,
    "is_active" BOOL NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "deleted_at" TIMESTAMPTZ,
    "business_id" VARCHAR(40) NOT NULL REFERENCES "business" ("id") ON DELETE RESTRICT
);
COMMENT ON COLUMN "customer"."name_lower" IS '``name.lower()`` computed in Python: the sort and search key, so that';
COMMENT ON COLUMN "customer"."email_hash" IS 'HMAC of the normalised email under the index key (see app.crypto.blind).';
-- One active customer per email per business, enforced by the database.
CREATE UNIQUE INDEX IF NOT EXISTS "customer_active_email_uidx"
    ON "customer" ("business_id", "email_hash") WHERE "is_active";
-- The order of every list: lowercased name in code-point order, then id.
CREATE INDEX IF NOT EXISTS "customer_active_name_idx"
    ON "customer" ("business_id", "name_lower", "id") WHERE "is_active";
COMMENT ON TABLE "customer" IS 'A customer of a business. PII columns hold ciphertext only.';
CREATE TABLE IF NOT EXISTS "key_check" (
    "key_id" VARCHAR(40) NOT NULL PRIMARY KEY,
    "purpose" VARCHAR(16) NOT NULL,
    "kcv" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE "key_check" IS 'Key check values of the keys this database has seen (never the keys).';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWltz4jYU/isaXsrO7DLBAZL2DShp6G5CJqG3bTuOsAVosCWvJSdhtvnvleS7kQlkA0"
    "sITyFH50jyd6460teKS23ksFrbwx/RvPIT+Foh0EXiR2HkPahAz0vpksDhyFGs0MPmLGIa"
    "Me5DiwvyGDoMCZKNmOVjj2NKJHObgPZVHwj+94Bx6iMbUOLMAWQAgpvz9gej2QI2niDGQZ"
    "VPkeQEmDPkjAFmwIfEpu67mlzMppZYDZPJC88bEPwlQCanEyQYfTH73/8KMiY2ekAs/teb"
    "mWOMHDuHGrblBIpu8rmnaN0p9M8Up9zzyLSoE7gk5fbmfEpJwi4+SVIniCAfcmRnoCSB40"
    "Sgx6Rwr4LA/QAlm7RTgo3GMHCkQqR0uIOUVjHNy8HQvOkNTbOyoKxYIoNzRLIokYrGhDP1"
    "/S58MB1EJnwq/m0cPYbrpDiEXHLB39vX3fP2dbVx9E4uSIW1hFZ0GY0YauhRTQE5DCdRqK"
    "cwez4a44d1oE4l9g7uY2MFuI+NUrjlkIQ7hTd0k3XgTSX2Dt5WYwV4W41SeOVQHl7LRxIK"
    "E2og/lmMcOwiPcx5yQLUdiRai388B/iYkCKfxvFtQC8+0B6IuB2pfAn0w/5F72bYvriSy7"
    "mMfXEUfu1hT44YijovUKutgpqSScAf/eE5kP+Cz4PLnoKXMj7x1Yop3/BzRe4JBpyahN6b"
    "0M5YZ0yNUctp3Ud3dPYsreclX0Dr0XZ3RemvRMkxJku1PAoYJogxc71KoCD2MkH0e/vyBo"
    "oCWXiNZ9qaIIZwEfYzUQ3iCRF1rAK/L3YJiYU0QEdFbycz1SsD/TG2rJiaursP75OKtWhw"
    "AgPx5YgrFK6FF1z3u8OKgnsErdk99G0zh7scoQYtUBLexSHXcIsUSOBEISQ/RW68CL/mPJ"
    "JVTfmJJGsLTx5JyrE9HAR2weeXHQTU3zWAjvn3MMAaR6ugLbhK4VZjh1L1bZaqC5m1PPan"
    "5hF1fjQ5txNJnn28Rg5U2Jam27TH9MpMoCzZ5l0oYJy6yP9GkLrRNPsE0yaLiAQvTRGRxb"
    "K8iLCyXE/3NUHMD+gYQBCXIDVw1e+DMC4yMKWODSzsiWqCoweuWpSaXua3zXUoWw5lyw6H"
    "gy2ULfKv6dD70HnXQTmV2mWsK7e3crM1tdnqu9tbERRcLxDbApiAK7Vz4UFTBBj1OYDEBg"
    "xB35pG9yNUjIWFWS7uvMis/xDq2yJyyWELMgTGIk6JBYBNAaEc2MhDRF7OqJmki4wE1w8M"
    "ONSCDlIRbPsWg1yInUVj6RHLn3sCAb3FJFIFYxnNOXrF3QMdrp2/hr22DjRzCtl0HTfLS+"
    "20m51ftLsyBUtLFWbtQgcz4Q3qC0BApJnLIbWqulCsMoSAKClqymxobeSIMc1t5UtOvOXb"
    "C0+oS5O8nvCUROqZnvJ6WtY6RxFHL1/bmnwCtYzcm8SNY7I2ZpHMm8RL5mtI5ua69WVR7l"
    "lBeceg20LRAC2LBoSbI+jICwVzRkdUc8rHkz7hJQ5eMkNBAfLMvKGseLQp+CdyBx9+NIzj"
    "4xPj6Lh12mycnDRPj04Fr9ru4tDJMnPv/9K/HOaVIwl5jWBmilM6vtNYf4dSB0FScpLNyh"
    "VDhxDcFPrxIXfLoWMw+JRrRXb6BWQvf7vo9K6rdeUNggnzEsAPDeJyD9ivBnFW64FnP1Pr"
    "ecmD1ndF65rHDQud7PCG+Dlaz0seXrDsjpIPL1gOL1h2C/R9eMEiFNWdImtW0Vw+JWPvl1"
    "0+zdDctBK2J2+fxKRAsYM76ASIxb0leTkrfmCWNFrBFDLAECKgStBd1GeSbJou1YvN+g03"
    "UhKI9SJRKnG4mVr7ZsoLfJFQ1moeZET2MOrXWytAXi8m7BRyOZQ/Ms2su7XMOWTfQ2gPL+"
    "sP55ItPFfaZKJvIx9bU12aj0aWJnmY8uzMI9XSVqU2pWoak5HGdjejho1Jo944aZwetxpJ"
    "PzKhLGtDxh2w8gwqqh8WveRaNcRnRPYwzBvN5iqt92azvPUuxwqtd+FUayAcse8huvWVLj"
    "bqSy426ppnv5RwRDRJ9NebwWXZFVIiUsye2OLgP+BgtrFLjO/T2pFg5FJkjGn1ov1nEe7u"
    "p0GnmPvkBB1dT2Cbyezxf8nh8zo="
)
