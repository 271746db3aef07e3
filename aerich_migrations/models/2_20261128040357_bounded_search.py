from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "customer" ADD "short_tokens" INT[];
        COMMENT ON COLUMN customer."short_tokens" IS 'Keyed 1- and 2-gram tokens of name and email (app.crypto.tokens), 32 bits;';
        -- Candidates of 1- and 2-character queries, and the pairs of longer ones.
        -- Rows are filled by `finora migrate` (backfill) and `finora reindex`; NULL until then.
        CREATE INDEX IF NOT EXISTS "customer_short_tokens_gin"
            ON "customer" USING GIN ("short_tokens") WITH (fastupdate = off) WHERE "is_active";
        -- Rows still to index: searched by decryption until the backfill reaches them.
        CREATE INDEX IF NOT EXISTS "customer_short_unindexed_idx"
            ON "customer" ("business_id") WHERE "is_active" AND "short_tokens" IS NULL;

        -- Active customers per business, for totalCount without counting rows.
        -- A few slots per business (chosen by backend), so concurrent inserts do not
        -- queue on one hot row; the total is their sum.  Kept by the triggers below,
        -- in the same transaction as the change, whatever writes it (service, COPY, SQL).
        -- A statement touching several businesses locks their slots in business order,
        -- so two such statements cannot deadlock on them.
        CREATE TABLE IF NOT EXISTS "customer_count" (
            "business_id" VARCHAR(40) NOT NULL REFERENCES "business" ("id") ON DELETE CASCADE,
            "slot" SMALLINT NOT NULL,
            "active" BIGINT NOT NULL,
            PRIMARY KEY ("business_id", "slot")
        );
        COMMENT ON TABLE "customer_count" IS 'Active customers per business, summed over slots; kept by triggers on customer.';
        CREATE OR REPLACE FUNCTION customer_count_inserted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO customer_count AS c (business_id, slot, active)
            SELECT business_id, pg_backend_pid() % 8, count(*)
            FROM inserted_rows WHERE is_active GROUP BY business_id ORDER BY business_id
            ON CONFLICT (business_id, slot) DO UPDATE SET active = c.active + EXCLUDED.active;
            RETURN NULL;
        END $$;
        CREATE OR REPLACE FUNCTION customer_count_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO customer_count AS c (business_id, slot, active)
            SELECT business_id, pg_backend_pid() % 8, -count(*)
            FROM deleted_rows WHERE is_active GROUP BY business_id ORDER BY business_id
            ON CONFLICT (business_id, slot) DO UPDATE SET active = c.active + EXCLUDED.active;
            RETURN NULL;
        END $$;
        -- Row level, but only for rows whose activity (or business) changes: a soft
        -- delete or a restore; other updates (reindex, key rotation) skip it in C.
        CREATE OR REPLACE FUNCTION customer_count_updated() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.is_active THEN
                INSERT INTO customer_count AS c VALUES (OLD.business_id, pg_backend_pid() % 8, -1)
                ON CONFLICT (business_id, slot) DO UPDATE SET active = c.active - 1;
            END IF;
            IF NEW.is_active THEN
                INSERT INTO customer_count AS c VALUES (NEW.business_id, pg_backend_pid() % 8, 1)
                ON CONFLICT (business_id, slot) DO UPDATE SET active = c.active + 1;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER "customer_count_insert" AFTER INSERT ON "customer"
            REFERENCING NEW TABLE AS inserted_rows
            FOR EACH STATEMENT EXECUTE FUNCTION customer_count_inserted();
        CREATE TRIGGER "customer_count_delete" AFTER DELETE ON "customer"
            REFERENCING OLD TABLE AS deleted_rows
            FOR EACH STATEMENT EXECUTE FUNCTION customer_count_deleted();
        CREATE TRIGGER "customer_count_update" AFTER UPDATE ON "customer" FOR EACH ROW
            WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active
                  OR OLD.business_id IS DISTINCT FROM NEW.business_id)
            EXECUTE FUNCTION customer_count_updated();
        -- The rows already there, counted under the triggers' lock on customer (this
        -- migration's transaction), so no write falls between the count and the triggers.
        INSERT INTO customer_count (business_id, slot, active)
        SELECT business_id, 0, count(*) FROM customer WHERE is_active GROUP BY business_id;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TRIGGER IF EXISTS "customer_count_update" ON "customer";
        DROP TRIGGER IF EXISTS "customer_count_delete" ON "customer";
        DROP TRIGGER IF EXISTS "customer_count_insert" ON "customer";
        DROP FUNCTION IF EXISTS customer_count_updated();
        DROP FUNCTION IF EXISTS customer_count_deleted();
        DROP FUNCTION IF EXISTS customer_count_inserted();
        DROP TABLE IF EXISTS "customer_count";
        DROP INDEX IF EXISTS "customer_short_unindexed_idx";
        DROP INDEX IF EXISTS "customer_short_tokens_gin";
        ALTER TABLE "customer" DROP COLUMN "short_tokens";"""


MODELS_STATE = (
    "eJztW9ty4jgQ/RUVL0uqklRCCMnuPEE2s2Emt0qYvcylHGEL8GJLHktOQs3m37cl2/iCTI"
    "AAQwhPQKtblk9L6qNu8aPkMos4fLfu2R/JoPQb+lGi2CXwJdeyjUrY8xK5FAjcdpQq9myj"
    "Hym1ufCxKUDcwQ4nILIIN33bEzajUrlOUf26iUB/G3HBfGIhRp0BwhxhdHtW36kc1pBldw"
    "kXqCx6RGoiW3DidJDNkY+pxdytXfkwi5nwNJt259xvQO3vATEE6xJQ9KH3L99AbFOLPBIe"
    "//T6RscmjpVBzbZkB0puiIGnZCc97L9XmnLMbcNkTuDSRNsbiB6jQ3V4JSntEkp8LIiVgp"
    "IGjhOBHovCsYJA+AEZDtJKBBbp4MCRDpHW4QgSWckwLq9axu1pyzBKI86KLVI4RyKTUelo"
    "mwqu3t/Fj4ZDaFf04Gd17yl8ToJDqCUf+Gf95uSsflOu7m3JBzKYLeEsuoxaKqrpSXWBBQ"
    "47UagnMHs+6diP00CdWKwd3AeVCeA+qBTCLZsk3Am84TKZBt7EYu3grVUngLdWLYRXNmXh"
    "NX0ioTCwBuLfoUXYLtHDnLXMQW1Fprvxl1mAjwUJ8sk+vgzo4QWtK9i3I5ePgb7VvDi9bd"
    "UvruXjXM6/Owq/eutUtlSUdJCTlms5Nw07QX81W2dI/kSfry5PFbyMi66vnpjotT6X5Jhw"
    "IJhB2YOBrdTsjKUxahmv++Se9WfyetZyDl6PhrsqTn8lTo4xGevldsBtSjg3pmMCObP5bK"
    "I/ey0vgBRI4tXpazlBDOEo7O+BDdpdCjxWgd+EUWJqEg3QEeltpLp6ZaA/xTMrlibL3ccP"
    "Q8aan3CAAbw5EQqFG1gFN82TVknB3cZm/wH7lpHBXbawCstJhrqjTW7FzUswxV2FkHwVOf"
    "A8/JrzSNo1xSeS9Fx49khSjO3mILAKa37cQUB9TgF0rL+GG2xlbxK0QasQbtW2oapvk6qO"
    "RNbivT+ZHlHmRxNzG5Hl+483xMEK28Jwm+SYXtkUKAq22SUUcMFc4r8QpJOom3WCaZEkYo"
    "iXhkSksSwmEWZa6/m8Jor1EesgjGIKsouum00U7osc9ZhjIdP2gE0I8ihUilKTy3xZXxva"
    "sqEtK7wdLIG2yE/DYQ/h4p0G5cRqlbEu3d3Jwe6qwZa37u5gU3C9AIaFbIqu1chhBfUI4s"
    "wXCFMLcYJ9sxfVRxi0hcQss+/MpdevlPkW7Fyy2cScoA7sU/AAZDFEmUAW8QiVxRnVk1wi"
    "bdD6hSOHmdghagdb/owhLrad0clySk1/4AEC+hkztMpNlvZAkFecPdDh2vindVrXgWb0MO"
    "9Ns8yyViu9zM4u6icyBMuZCtPaxY7NYTWoN0ABldNcNqmnqoJimROCgFLsqmnDdtsOtGmq"
    "lfPseMnVCw/cpQlez6yUodWMK+X1pKx1CwWOXr42NfkMaim7N4mbsOnUmEU2bxIvGa8xHR"
    "jT8su83Uyb8opBtwTSELIfOGj1CdUs7rrv44Ee8BHLHOIQDsTKQF76SAYQnADuro9dFA5a"
    "Ri+Jg+J5Ydwqp+JTqLT1Dl1+Oj+HiCZCnpQJgvPp9iuN3nYb9D0xAGZpSobaETthScPSRc"
    "kxk6F52fryLe/pHjDemRydM3wFft7fUeBXdqZ2yzY6qKC2Lfi7Al/Po+uvNPE9WoLrsWky"
    "eJjRxo6sGhp91maaVJ7dbVJREMULesjNBZkYWxD13VvUHtuVI9j5tVI5ODiq7B3Ujg+rR0"
    "eHx3vHoKuGO9p0NC6mNf8AF2R3YCnIesTmBjaFfa8JcQ3GHIJpQboqbZfnB2C4KPTjTNaS"
    "+cHV1Xmm3tBo5pC9/HTROL0p76uQB0q2KAB8UwUqXgHrVQVKez3wrBm9nrXceH1VvK65wT"
    "RSrooC5wxez1purqmtjpM319Q219RWC/R1uKb2gbVLmuKyFG+Pqyv/Gyk8W1K+9plc8zws"
    "AjuMdpErsSJUzgsE/aAyTBnpwW2VJPaZULcItlQxxhbIxBRBD4FLRlPQc+/9BWXnn1sPXa"
    "HS8/5Eaar9MWmq/b1nq89m4HM2VWU0sVjell8qvTbEUyRKWyIZlyOw9OWRTU5gwpyAgM1J"
    "U78dB/nQZIP5bJgDP/FnOypkLTcHxFU5O2zSAm/R60VpgSmuBC+SZ8OB6KRHzH5JQ7aHbW"
    "MZN7BXwxyqPcu7oVOk1NE9dgLC44sa8qYzfLH58NYS6mGOOCEUlSm5jy5tSDXNlY+59foC"
    "ni2BmO7En1isHddewt/UAx+W4VQnm5TJGmZX9muTcO38Npei2rU80+6b91NN51B9DaHd/E"
    "19E+iX8N+fRQb6OvFts6cL81HL2CCPE52V+cdn4dlTG1I1B8/IY6sbUcODZ2W/elQ9PqhV"
    "h+fNoWTcMTM+UhZHUGA/PPpb1KRbfMpkDbf5yuHhJPfYDg+L77HJttwVF1hUUyAcqa8hug"
    "tJBsITBaGaIPrh9uqy6D7m0CQfPW1ToP/QhPfGVg3tMeBKMDIhMsa0fFH/Ow/3yflVIx/7"
    "ZAcNXe1tmcHs6X96rdwu"
)
