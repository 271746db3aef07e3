from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "customer_event" (
    "seq" BIGSERIAL NOT NULL PRIMARY KEY,
    "id" VARCHAR(40) NOT NULL UNIQUE,
    "business_id" VARCHAR(40) NOT NULL,
    "customer_id" VARCHAR(40) NOT NULL,
    "type" VARCHAR(16) NOT NULL,
    "changed_fields" TEXT[] NOT NULL,
    "actor" VARCHAR(40) NOT NULL,
    "occurred_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_customer_ev_busines_2ec79a" ON "customer_event" ("business_id", "seq");
CREATE INDEX IF NOT EXISTS "idx_customer_ev_busines_6119c5" ON "customer_event" ("business_id", "customer_id", "seq");
COMMENT ON TABLE "customer_event" IS 'One change to a customer (the outbox), written in the transaction of the change.';
        CREATE TABLE IF NOT EXISTS "webhook_endpoint" (
    "id" VARCHAR(40) NOT NULL PRIMARY KEY,
    "url" VARCHAR(2000) NOT NULL,
    "secret" BYTEA NOT NULL,
    "event_types" TEXT[] NOT NULL,
    "enabled" BOOL NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "served_at" TIMESTAMPTZ,
    "deleted_at" TIMESTAMPTZ,
    "business_id" VARCHAR(40) NOT NULL REFERENCES "business" ("id") ON DELETE RESTRICT
);
COMMENT ON COLUMN "webhook_endpoint"."served_at" IS 'When a worker last took the endpoint: the least recent goes first (fairness).';
COMMENT ON TABLE "webhook_endpoint" IS 'A business''s webhook receiver; its signing secret is encrypted like PII.';
        CREATE TABLE IF NOT EXISTS "webhook_delivery" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "next_attempt_at" TIMESTAMPTZ NOT NULL,
    "last_status" INT,
    "delivered_at" TIMESTAMPTZ,
    "endpoint_id" VARCHAR(40) NOT NULL REFERENCES "webhook_endpoint" ("id") ON DELETE CASCADE,
    "event_id" BIGINT NOT NULL REFERENCES "customer_event" ("seq") ON DELETE CASCADE,
    CONSTRAINT "uid_webhook_del_event_i_4cd663" UNIQUE ("event_id", "endpoint_id")
);
COMMENT ON TABLE "webhook_delivery" IS 'One event for one endpoint: pending until a 2xx, or failed after the last try.';
        -- The worker's reads: the pending deliveries of one endpoint, in event order.
        CREATE INDEX IF NOT EXISTS "webhook_delivery_pending_idx"
            ON "webhook_delivery" ("endpoint_id", "event_id") WHERE "status" = 'pending';
        -- Every customer write looks up the business's live endpoints (fan-out).
        CREATE INDEX IF NOT EXISTS "webhook_endpoint_business_idx"
            ON "webhook_endpoint" ("business_id", "created_at") WHERE "deleted_at" IS NULL;
        -- The retention job removes the oldest events first.
        CREATE INDEX IF NOT EXISTS "customer_event_occurred_idx"
            ON "customer_event" ("occurred_at");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "webhook_delivery";
        DROP TABLE IF EXISTS "customer_event";
        DROP TABLE IF EXISTS "webhook_endpoint";"""


MODELS_STATE = (
    "eJztXW1X27gS/is6+bLhnMCB8NJu+ynQ9DbbFjjAbne33WMUW0l840ippQA5e/vf70h+d2"
    "TnBSdNjD8B0szYfkbSjGZG4t/aiFnE4Qetsf2RTGtv0L81ikcEfkn1NFANj8dRu2wQuOso"
    "Ujy2jaFP1OXCxaaA5h52OIEmi3DTtcfCZlQStyhqXXcQ0DcQF8wlFmLUmSLMEUa3H1r7zd"
    "MzZNl9wgWqiwGRlMgWnDg9ZHPkYmqx0d6BfJjFTHiaTfsFy51Q+/uEGIL1CRC6IP3rP9Bs"
    "U4s8ER78OR4aPZs4VgI125ICVLshpmPVdjHA7ntFKd+5a5jMmYxoRD2eigGjITl8kmztE0"
    "pcLIgVg5JOHMcHPWjy3hUahDsh4UtaUYNFenjiSIVIbu8NoraaYVxe3Rm37TvDqM0oK+CI"
    "4ew3mYxKRdtUcPX9I/xkOIT2xQD+PDn84T0nwsGjkg/8o3Vz8aF1Uz853JMPZDBavFF06f"
    "c0VdcPJQIL7AlRqEcwj13Ss5+WgTriKB3cx80F4D5uZsItuyTcEbzeNFkG3oijdPCenSwA"
    "79lJJryyKwmv6RIJhYE1EL+DHmGPiB7mJGcKastnPQh+WQX4oCFCPlrHNwE9fKB1Beu2r/"
    "Ic6O86n9u3d63P1/JxI86/Owq/1l1b9jRV6zTVWj9LqSkUgr507j4g+Sf6++qyreBlXPRd"
    "9cSI7u7vmnwnPBHMoOzRwFZsdAatAWoJrbvkgQ1X0nqSswCt+6+7LUrfESUHmORquTvhNi"
    "WcG8t5Aim2YhbRnz2X1+AUSMerN9T6BAGEs7C/B2/Q7lPwYxX4HXhLTE2iAdp3es9jonYM"
    "9B/ByApao+nu4sfQY00POMAAvpwIhcINzIKbzsVdTcHdxebwEbuWkcBd9rAmS7WEtLNdo+"
    "Yo3YIp7iuE5KfIF0/Dr9mPxFWTvSOJj4W5W5JsbKuNwDbM+byNgPq5BNABfQkX2ObhImgD"
    "VSbcqq9yVV+mqzpjWbPX/mh4+JEfjc099znff7whDlbYZprbKMa0Y0Mgy9gmp9CECzYi7j"
    "NBuvDFlBWmR9IdMDY0CLXGTHE+C64vnri2L61MqK3T9QpHmcb1io/AbNfLjFPNjwajgB6x"
    "HsIocNwO0HWngzxrwtGAORYy7TH4YII8CRXY1USAnyercvYqZ2+Ll4MNOHvyp+GwR2/yLo"
    "NyxLXNWNfu7+XLHqiXre/d38OiMBpP4LWQTdG1enOYQQOCOHMFwtRCnGDXHPhZJQZ9njub"
    "WHcKkfqNMteClUt2m5gT1IN1Ch6ALIYoE8giY7CMsFopSXKKdIHqF44cZmKHqBVs8yOGjL"
    "DtzA6WNjXd6RgQ0I+YkCs1WLpTQXY45qLD9fyvu3ZLB5oxwHywzDRLcm31NPvwuXUhTbAc"
    "qTCsR9ixOcwG9QVoQuUwl13qqSoNW+eEIHApDtSwYQddB/o0Od4iBW845zMGdWmM15yZEn"
    "KtOFN2J9CvmyiwYXW1Ad05qMX4XiRuwqZLY+bzvEi8pL3GdGos61+m+VZalLcMug04DZ73"
    "AxutIaGayd1yXTzVAz7DmUIczMEiO/3NQF77SKZgnADuvotHyHtpab0kDsrP8+xWPWafPK"
    "K9t+jy90+fwKIJz09KGMFixH6j/tc2gH4spuBZmtJD7Yl9LxFk6axkzmDoXN59/Set6QF4"
    "vCspOsW4A3o+2lfgN/eXVksDHTdR1xb8bYauixD9jUa6RxtQPTZNBg8zutiRuVZjyLpME9"
    "Gz+x0qMqx4hoTUWFhjcO9wXWtsX77B/q/N5vHxq+bh8dnr05NXr05fH74GWvW6s12v8mxa"
    "5z+gguQKLBuSGrG5gU1hP2hM3DljDsE0I1wV50v7B8C4LvSDSNaG/YOrq0+JLM15J4Xs5e"
    "+fz9s39SNl8oDIFhmAV7mz7BlQrtxZXOuTsbWi1pOclda3Reuauq+Z7JVvOFfQepKzKu7b"
    "HiVXxX1Vcd92gV6G4r4gi9x+IOr9M9PMHkFjkVyzQULauRnnK0qQOcC0T2AnhXCUM1aHgt"
    "hEdNkT7JseXVsIQmUKR7aDUMqlG8xoEID2hMwGqYt+wDcKezcmc9hvkG3xhkcOY7qBFORq"
    "G+g3gwDm5ZAUkbQcCN3fc/L9/h71wYfn36h6C5VrqjPHkseherbLxd5bILQtoLO54h5Puo"
    "5twiNDeff3fpHGvqRbMGn+NT0a4WVqQDPTHiozRpaZcZe9s9uYnN2kzzB/8+jPp+1Num9w"
    "85idiq8qHgqzepWD8VOgTi03C8f8k2wV1AtArdBZAuOAvoTgHp0tAO5Reo8TgSu7UuNYeQ"
    "lWsErPwJwTZZ9lXS3Ovm2Q520523/qYtXgNS0zQEOGEo7Q4qc/M82J664UHEmxljAmtuvh"
    "kZWODcBGDvYirk2KKfJ+54kr1QmCdW7Bf2PdmmbjLZsbedvt//oEc/fY1y6T44p7ddgOo3"
    "00kh9HqAzNIJCD6i5RkDdUnZbLhFL1nqqHtAUyMUUgYTLSbLALl/6Myu+fW5K8RXuho4Uq"
    "RY5yKkWODucWgIMx4MtZ6ohjc6a6Vts1xGMrs7ZKMS+wYukrFKu0/IJpeQGLk6aEOg/ykK"
    "XCfDXMucDuatm6JGcJ/dEdzdFWmfmXqPWszPwSm5J1+tkfyfRiQMxhTeNsh325Hjd4r4YZ"
    "ks31u0EoUuToATsTwoNMkjyiDb/YPDw4hAaYI04IRXVKHvxzE5JMc+qiMKnP8LMlEMsFai"
    "OO0vnaG7hfb+LCNFxqZxNjKWFUrPi47dB8WGo4e+QlhLa6X68y9Bu4tGSdhj4dh9TYe02o"
    "MtvsB3dhWHHqhSpbVCEM6jEXMfmXf/vFGyQPD8vTxF79P0bNp6cGAqoeth1iIdwTvrV2MB"
    "cAt+Z6heLFa/yBr7WwlCeQ7lWBrHoNQ94+WuseVCUhK5aEwNZYTDQB/WybFnFsMDjnD9UN"
    "xegKdxuwEPLQjgbn7IM0MZbSRIyaRyevTl4fn52EYzxsyRvas7EgSp6E4UO0gsegYS+h27"
    "AjbsJCRdzSBBlZi1XmJEpxrTSPtqwyv+iZ5Hsrq56CSPBW5yC2eQoFrtmSIZkUWwn3ssUX"
    "zyh3WItznmcb59qcyS+Fi5tzCCXcmjzzBMrMCYcdU8aix1DiozBxBuWidXvReteuaReVAg"
    "Au7+WPMxAnl1Q9yj81KBIqITsoEtfT/KBIfJwscsFkUBz/C0e+COQSk0h34638B0CIw9iS"
    "wQtOTJcIefyFBHflIMceEnn0RnfbZHGCq6snt8PsZgc3Jq6mRiMbZ5+8hB5O83DRK4Fy7w"
    "TSXAok58gsxnOurYrYXuhdgsrEenQz2OWU/qf4XmbdP6HyQ3Sudd59KDGu6jaU6jaUKimX"
    "FyngxH1YrdAuzrgz0aDalwGhCKNH5g6J62e7pGMoc19RukxlwojslA4jFajPCPeOYaN6D9"
    "uudCs1lTiFSy9xjKq6keUlRCKrA9PVjSxbMJfWfiNLdXZucezXenauBdCbg5ommOX3NHL/"
    "U3ZEszX/le6llMc8M8+ZHRuC6cP9qbao/YmxlND2NE9PFwkRnZ5mR4hkX6rwBSbVEgj75C"
    "VEdy3n/uCJQpvc+u326jJjWx6xpH1k2xTof6h8USQJRsIzDjCtf279mYb74tPVedrllQLO"
    "dX7VJlM0P/4PfV3hrg=="
)
