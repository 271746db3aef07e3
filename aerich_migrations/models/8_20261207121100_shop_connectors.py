from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "shop_delivery" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "connection_id" VARCHAR(40) NOT NULL,
    "delivery_id" VARCHAR(200) NOT NULL,
    "signature" VARCHAR(64) NOT NULL,
    "received_at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_shop_delive_connect_19431f" UNIQUE ("connection_id", "delivery_id", "signature")
);
CREATE INDEX IF NOT EXISTS "idx_shop_delive_receive_11a8af" ON "shop_delivery" ("received_at");
COMMENT ON TABLE "shop_delivery" IS 'A shop delivery applied: its id and signature, so that a repeat changes nothing.';
        CREATE TABLE IF NOT EXISTS "shop_problem" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "connection_id" VARCHAR(40) NOT NULL,
    "occurred_at" TIMESTAMPTZ NOT NULL,
    "topic" VARCHAR(64) NOT NULL,
    "external_id" VARCHAR(64),
    "field" VARCHAR(32),
    "code" VARCHAR(16) NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_shop_proble_connect_2ff40c" ON "shop_problem" ("connection_id", "id");
COMMENT ON TABLE "shop_problem" IS 'What a shop delivery could not apply: the field (contract name) and a code, never';
        CREATE TABLE IF NOT EXISTS "shop_connection" (
    "id" VARCHAR(40) NOT NULL PRIMARY KEY,
    "platform" VARCHAR(16) NOT NULL,
    "shop_domain" VARCHAR(300) NOT NULL,
    "secret" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "last_delivery_at" TIMESTAMPTZ,
    "deleted_at" TIMESTAMPTZ,
    "business_id" VARCHAR(40) NOT NULL REFERENCES "business" ("id") ON DELETE RESTRICT
);
COMMENT ON TABLE "shop_connection" IS 'A shop (Shopify, WooCommerce) that sends its customers in; its webhook signing';
        CREATE TABLE IF NOT EXISTS "customer_external_id" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "platform" VARCHAR(16) NOT NULL,
    "external_id" VARCHAR(64) NOT NULL,
    "linked_at" TIMESTAMPTZ NOT NULL,
    "removed_at" TIMESTAMPTZ,
    "connection_id" VARCHAR(40) NOT NULL REFERENCES "shop_connection" ("id") ON DELETE RESTRICT,
    "customer_id" VARCHAR(40) NOT NULL REFERENCES "customer" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_customer_ex_connect_11b2b7" UNIQUE ("connection_id", "external_id")
);
CREATE INDEX IF NOT EXISTS "idx_customer_ex_custome_e72724" ON "customer_external_id" ("customer_id", "id");
COMMENT ON TABLE "customer_external_id" IS 'A shop''s customer id, linked to one directory customer (unique per connection).';
        -- Every delivery (those the event outbox writes in SQL too) gets its public id
        -- from the database: random, so ids say nothing of another business's volume.
        ALTER TABLE "webhook_delivery" ADD "uid" VARCHAR(40) NOT NULL
            DEFAULT ('whdl_' || replace(gen_random_uuid()::text, '-', ''));
        ALTER TABLE "webhook_delivery" ADD CONSTRAINT "uid_webhook_del_uid_c8b74f" UNIQUE ("uid");
        ALTER TABLE "webhook_delivery" ADD "last_attempt_at" TIMESTAMPTZ;
        ALTER TABLE "webhook_delivery" ADD "created_at" TIMESTAMPTZ NOT NULL DEFAULT now();
        -- An endpoint's deliveries, newest first (webhookDeliveries).
        CREATE INDEX IF NOT EXISTS "webhook_delivery_endpoint_newest_idx"
            ON "webhook_delivery" ("endpoint_id", "id" DESC);
        -- Pings have no event to be pruned with: the worker prunes them by age.
        CREATE INDEX IF NOT EXISTS "webhook_delivery_pings_idx"
            ON "webhook_delivery" ("created_at") WHERE "event_id" IS NULL;
        -- One live connection per (business, platform, shop); a deleted one frees it.
        CREATE UNIQUE INDEX IF NOT EXISTS "shop_connection_live_uidx"
            ON "shop_connection" ("business_id", "platform", "shop_domain")
            WHERE "deleted_at" IS NULL;
        ALTER TABLE "webhook_delivery" ALTER COLUMN "event_id" DROP NOT NULL;
        COMMENT ON COLUMN "webhook_delivery"."event_id" IS 'NULL for a ping (webhook.ping), which no event caused.';
        ALTER TABLE "webhook_endpoint" ADD "previous_secret" BYTEA;
        ALTER TABLE "webhook_endpoint" ADD "previous_until" TIMESTAMPTZ;
        COMMENT ON COLUMN webhook_delivery."uid" IS 'The public id (``whdl_`` + 32 hex digits), made by the database''s default.';
COMMENT ON COLUMN webhook_endpoint."previous_secret" IS 'The secret before the last rotation, still signed with until `previous_until`';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "webhook_delivery_endpoint_newest_idx";
        DROP INDEX IF EXISTS "webhook_delivery_pings_idx";
        ALTER TABLE "webhook_delivery" DROP CONSTRAINT IF EXISTS "uid_webhook_del_uid_c8b74f";
        ALTER TABLE "webhook_delivery" DROP COLUMN "uid";
        ALTER TABLE "webhook_delivery" DROP COLUMN "last_attempt_at";
        ALTER TABLE "webhook_delivery" DROP COLUMN "created_at";
        ALTER TABLE "webhook_delivery" ALTER COLUMN "event_id" SET NOT NULL;
        COMMENT ON COLUMN "webhook_delivery"."event_id" IS NULL;
        ALTER TABLE "webhook_endpoint" DROP COLUMN "previous_secret";
        ALTER TABLE "webhook_endpoint" DROP COLUMN "previous_until";
        DROP TABLE IF EXISTS "shop_problem";
        DROP TABLE IF EXISTS "customer_external_id";
        DROP TABLE IF EXISTS "shop_connection";
        DROP TABLE IF EXISTS "shop_delivery";"""


MODELS_STATE = (
    "eJztXVtz2zYW/isYvUSelT227FyaPtmuu3Gb2JnY3XQbdyiIhCSsKEAlINuaNv99D8CLeJ"
    "VImZIpmi9xBOKA5HdwOXf+3Zpwi9ji4HRKfyXz1nv0d4vhCYH/xK50UAtPp4t21SBx39Zd"
    "8ZQaY69TX0gHmxKaB9gWBJosIkyHTiXlTHU+Zej08yWC/h0kJHeIhTiz5wgLhNHNh9P97u"
    "s3yKJDIiRqyxFRPRGVgtgDRAVyMLP4ZO9A3cziJtyNsmHJ484Y/WtGDMmHBDo6MPq3P6GZ"
    "Mos8EuH/nI6NASW2FUGNWmoA3W7I+VS3nY+w87PuqZ65b5jcnk3Yovd0LkecBd3hlVTrkD"
    "DiYEmsEJRsZtse6H6T+6zQIJ0ZCR7SWjRYZIBntmKIonafYNHWMoyr61vj5uLWMFoJZvkU"
    "IZy9JpMzxWjKpNDvP8GPhk3YUI7g58nhd/c+CxzcXuqG/zn9cv7h9Ev75HBP3ZDDbHFn0Z"
    "V3pasvfddDYIndQTTqC5inDhnQxyJQLyhqB/dxNwfcx91MuNUlBfcCXneZFIF3QVE7eN+c"
    "5ID3zUkmvOpSFF5hcgCnALoBQTng+g0LdBd7dQDlg0MlaRVD2CVC/yCHYMv7Y0ywGMNm3I"
    "bz40AQ556aRBxgE/4VBzfqxVI28yeMs5SXR29y8PLoTSYv1aUoL014NkDewCnL5Se4IumE"
    "pDM1ShnjrOWRHvj/2RSfN7mMFNuu4Qz2lu8S6G8vP13c3J5++qxuNxHiL1vjd3p7oa50de"
    "s81tqOsykYBH29vP2A1E/0x/XVhYaXCzl09B0X/W7/aKlnwjPJDcYfDGyFdhq/1UctwnWH"
    "3PPxWlyPUpbAde9xq8L0HWGyj8lSLvdngjLYXoxiUl2MbHt79o4JeEqIHoxT5TsfwiTsP4"
    "NkT4cMdBIN/iU8JWZm2uHoKTBnoaF2DPTv/szyWxfL3cEPgfYRn3CAAbw5kRqFL7AKvlye"
    "37Y03H1sjh+wYxkR3NUV3uWxlqBv8tKkO4m3YIaHGiH1KurB4/Cn6JZh1mRrl+G5sFK9zM"
    "a2UeqqsOY7S5Q6/bcA0H7/Gm6w3cM8aEOvTLj1tUZUfZmiauJkzd77F9PDs+KlnLlnHuXP"
    "v34hNtbYZh63C3vhjk2BrMM2uoRmQvIJcZ4I0rk3TF1hEiM+VV0YMdX4T0TrBkY7DwarK2"
    "YPpD/ifGwQZk25pnwSaF/d4S680eqE2ibF1WBlpoir4VWbLa6a4V6rvSHI74/4AGHkC7sH"
    "6PPlJXJPYIFG3LaQSacgt0ryKLVjI8UD8rSxGgG5EZArvB1sQUBWfw2bP7iLtwjKC6oqY9"
    "3q9dTDHuiHbe/1erApTKYzeCxEGfqsnxxW0IggwR2JMLOQINgxR55XlcM1VwWI7DuljHrH"
    "uGPBzqUum1gQNIB9Cm6ALI4Yl8giUzgZYbfSI6kl0oderwSyuYltstr0v7kZM3D4xCATTO"
    "2UI5tzm2C2ZOZEqWPTpw/klbEBt76O9MmgOaCeXfnN1f/10/usQFMMXG4P4N773Nl3VUe4"
    "6N1FE+69T0yiEse+Y2rCqDPPde934C+SxLYF8nxIStuD4bn+vbilmnteD2+GSn7HxJhO1Q"
    "hRx1OgCRyAsPsgXA7uHSB09dvHj+/1lB2DSsbQnACpA11ghtuWfkPsTmJ3InTQjElqox68"
    "Fcw6NKFDxeke4k7Q5hDNyR68qEmBKameriWz++z6+mNEXT27vI3N8t8+nV18aR/pyQ+dqG"
    "s9vLy6jc34jHl+wUxnPoUJmj7TM+f3XJI8ltktTXDFOzdqhDMT5p4DW4yF2vqvL/3tdZBN"
    "x3DxnjjzkGSlZ49+nqRkVuK4BZj+39uL0zTuGSMsRkVOuCjVWifclhj44dPpuRJ+9ZLmzg"
    "TbVCGtXwDWmeVtMPquOgCoLQise1jYevryg74N11Ic0mUOvOVogylwK0VsXLFiA6pKr9gy"
    "3JJp6wRblpPqflqBWojuReImKSuMmUfzIvFSkjJmc6OoZhenq/CeXCUFz5XqDMnHJM0oee"
    "o4eJ4RgRWnjCEOx0EeG9uWjsFfyRwOJ4AbRMkJch9anV6BlOueW+3Q+eR22vtRy6+uSJo4"
    "BMsZ9o55b9uB/lPpyUSCD+S+67a2Cgo6IKR++zPO6RHommsxOka4A3w+2tfgd/cLs6WDjr"
    "uoD1rSjxm8LmPoO7bgPdoC67FpcriZ0ce2igwxxrzPUxRzOrxkMuMUzxghNhc2aFY/3NQe"
    "O1RPsP9Dt3t8/LZ7ePzm3euTt29fvzt8B3314yYvvV12pl3+W6mIkR04qTNSYWBT0vuUI2"
    "6pfSRCt55lZC30fRvyluWD8pT0xtOfvQLq5ekPc302tdbkepSy4XpVuJ4SpZrwG3sH5xpc"
    "j1I2ocjVYXJybbsmwzWYHCHcGR4rd4BnJPfMo68EmhJHcIZt7f1BD1jZ/YHffJ60pXr6Bl"
    "cuhQcqSNKgt4kb1Hj+NaHwTSh8BfbyjYfCh3bcR0kc2AwMm7LxE4OxLryxPsJQNQJ/K5FY"
    "F/dE3zAzHMvt0MkTk2WQoO/KyKxrBmfDCLMhUY5ivIit0snjfCb7/HGvg1SmooSjhLqnCQ"
    "zKBNaBir67yB0keQKVfYM7dseuuPIcvkfUEh23O0zEDtKQa6ON1wwDcDfWQndSMgBCvZ4g"
    "f/V6aAgat7hj+il0TEZbOa6FhGEcIeHo6/WoBf08D/101repCbcMxuv1vGDGfdUvZ3DZt/"
    "jahYdpQZ9Ee8DMULfMyDR1Nbl0l9h+PILVph5v96lucNoWTT3ZIWtNZGBpMkIjjj0L1LHt"
    "JreHLkrWQJ0Dao1OAYz9/jUEdwOFCrSUYPm7dALmJT6xJOl6XrGqQb5MQb/4Pc2zBFJTkQ"
    "kaENRwhpa//LlpzhxnLStXjLSGFuxdNyatlZIIihzoIg4l5SRD/eQOlyc7cZsBpwOliqGp"
    "CnZve4rTgfqllL8RNUeIcaQVV2TimfB85BXV2iOWjhSlPW4JyaOz+4YYV5LKk1Ol8g9fiY"
    "VGTS0VXMtUYDeo2hwUb4s6RG3O85Da7TJbWYHRIncxrdJc+eOnqMffWmYk5zEMw58J3Tmc"
    "deZ3yJ2qtUwfThVfG3V4TXV4CjsVLPdJESEiTFNDOaJ8STe2YeSOco+S1RDq8mPL3U1vDY"
    "EtQlhDcW1HAw7y1T6b8Ps1a5+FKXfGGf1iZPRoZLovfBQ1fMUJa7iRNlbGHYN6iX89KmU/"
    "0cNe21IlnZifPbHKMzztaXO8BJxrWEAngXB0aUfwPT+9OT/96eK5avr9wvutFN1eNXeWqf"
    "T/8zqs1OA/O1ydZcKtY2JzNkQTBRVhalogGAe1vZzojs62dLjUJqA9XU+AKksJQzDCbJLi"
    "eC999CdUTnnekh4V8pEe5cr3OlqS73V0uLKAijlzRDEL/oJii6W3W7uGeMhim5prvMzAZK"
    "XnGTfJNTmTayRsTmmFR5ZAHpA0mK+HOYgnznox91HKxvBRFZ24ya95iVzPyq8p4KzcpJwN"
    "+tD5iJipjrTg2lKJG6RXwwy6rZS7YVCku6N7bM+I8CNMVVlY+A8VQeEtNMICCUIYajNVsS"
    "boluIvK23UJ8jZCohippUFRe1k7S18n2nmwDIspNmESGpoxirfyzU27wtNZ7d7DaEt36vV"
    "pE/X7aAvoVD6Jg/6mNk45bhPGpazD/1Y9e18R78b1ILa6kZ0MO+gr5yf88mEOCbZ0xU64W"
    "BmllA1FYOYFvjFftQtXtwSEnTI1PyJywDlDn/HBIGlJlUKCvGrS7nl8z5fXjbVjHdDRmhi"
    "YTYvJei9wOLKvl0E5xhZDaE+zmX9PF5i/TxOqy+mdqUk0Csq4C3I1iyCVzWolxnY0qrgNf"
    "LWC5G3IrFjWEjDi/CerxNClkLfxBRVx5KW5HhTquYlcLnJTW1KhVRgLW2xVEhTIeRZco2U"
    "LSFI6cqwmYRTvlZYTKxw17z2Ep9IlXq3KbHea3OFVwtDWSuwnDkk+MoJUt9ymILM6hXtEO"
    "pDESNANivLqLwbqPIgt+ojLD4NamOGwnXt+9yah2rZLyxIr5RTRqkoe0jtG5bQKWvQ544p"
    "mvdw07EuF2tRuKPUD8M4DOW2qg8HqHvoL3II6DqVeZKevHUZSHheuQ//8VOSoBxiEuoFmD"
    "cZUNXMgGriyrcaVx5bPXnBjpHVEOrN1JcPNqcCWEeIaoh0+f658D6fAHpVClKEtLEYVUW1"
    "3AEP3WeHA8snWaKmf3m1pDkN9VwpaH51pbqoMGjymSroxqUWC+fu5/X0q6A2zAc9pPs1NC"
    "0nYiCwYGwdVJOQNEu/wx3DbqhP7tJvicO9yWFvJLgd2W+bqjjPB/6OHG657KaST6lZZD0F"
    "BDVcR+ULjc9YFaJizoZNIz3wgcyLcUBQP3SPu3miDLrZQQbdRHAiyFnFTl2rrpplOeEyFd"
    "Ew4jXKUrSMlDJm2ZqGFzJX0KytilK7tcbaQVWyPW3uVVWtCLOmHHjxHqmPcauCZe5XvTDq"
    "Pj521BeLB5jaBNSBgXStyAllo+wb3DEVBwCbwDzbphxU/faHT9iOG1WjkqrGrNhZPat6LG"
    "brNlIvvd3rPYws2+j10L/U5/JG5FG5UKhUn8+bYIug/jz+uXvvVkl/UblDb1nJERLLWYoL"
    "dYnVNKDYYmK2tym1duh0i9SvlVJ9djEF5+xPIYZIapMt3D06eXvy7vjNSbCZBS3L9rBkHj"
    "AD7cDwIFpDP08hb3T0SuvoOuYwa7PKXEQxqrXWUdW0nJJXkoZo/ZWUQt4ECVZ5IXlaybrB"
    "oBHahtNV5nQT3J+9idbLVRuxtnqadlFra5Sshjar8nUnbd1IxXmZoSJMVWGBZKMV8rdn5F"
    "gStB0Yp54YsZ34HF6d+PeEYdaMDg+vj/Tai2nbXQl89Iy8F6ERd2zDyw1xdLOvUoXLOBOy"
    "jfFhPq02xofnSZ4Ycz9H4dUiBd6LYHPcxHgvIR6tzIePxZaXN3CTaF8NgWCJFd1JqQ+4xI"
    "rupNUGrIPs1T3MG/S7NOq3SfsuJ+176pB7ymfCWBO/FPo1gdySLKTTb9z9tE9AmCHaA6P9"
    "l36J4Q4Sktq23n5hp32gcuS5QHvB6+rfvVQHUGmj37F2n8PVIDhdoCFXHyVGE4IZSFs2oI"
    "EFulH5QHDcIu84FAjbNn/wCraVND/0IxW1HiSpGztRle1ErsDtvkSC1Us+Thmje5lfpiRM"
    "vUiaCYBzGxZslrUloIpvnEC2Kdh8UWvLB9D19cfIUji7jGnqV799Orv40j7SawA6URmJUm"
    "gsmi/boimIs17KUYRwZ86g1tcRYQijB+6MieOKEVKpiUqoWIRpaRGDaBkD1EcmQUoAUWFA"
    "HWhpDzB1lJKZUhO29NFrfDI2ZVNegvzTlE1pyqZUYC1tsWzK833deVew32j5lFOA3hy1Uk"
    "zb3pXOMos2XvRZZcfOhqFk2/FLicp+YtRVtqUYlo9I/RBe9vkTIqnh2dN9/TqPwfj162x7"
    "sboWC8OFRVUAYa97DdHdyBeoVHJ6qkf9l5vrq8zEZJ8kLiNTU6J/UP2sSAqMiGTsY9r+dP"
    "p7HO7zj9dncZFXDXD23NlT3/8P+mDQGQ=="
)
