from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "job" (
    "name" VARCHAR(100) NOT NULL PRIMARY KEY,
    "cursor" VARCHAR(100) NOT NULL,
    "done" BIGINT NOT NULL,
    "total" BIGINT NOT NULL,
    "started_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE "job" IS 'Progress of a long maintenance job (reindex, key rotation), so it can resume.';
        ALTER TABLE "customer" ADD "search_tokens" INT[];
        -- Candidates for searchCustomers: active rows holding all of a query's tokens.
        -- Rows are filled by `finora migrate` (backfill) and `finora reindex`; NULL until then.
        CREATE INDEX IF NOT EXISTS "customer_search_tokens_gin"
            ON "customer" USING GIN ("search_tokens") WITH (fastupdate = off) WHERE "is_active";
        -- fastupdate off: a pending list would be scanned by every search until vacuumed.
        -- Rows still to index: searched by decryption until the backfill reaches them.
        CREATE INDEX IF NOT EXISTS "customer_unindexed_idx"
            ON "customer" ("business_id") WHERE "is_active" AND "search_tokens" IS NULL;
        COMMENT ON COLUMN customer."search_tokens" IS 'Keyed trigram tokens of name and email (app.crypto.tokens); NULL until';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "customer_unindexed_idx";
        DROP INDEX IF EXISTS "customer_search_tokens_gin";
        ALTER TABLE "customer" DROP COLUMN "search_tokens";
        DROP TABLE IF EXISTS "job";"""


MODELS_STATE = (
    "eJztW1lz4jgQ/isqXpZUZaiEEJLdfYJsZsNOrkqYPeYoR9gCvNiSx5KTULP579uSbXwgEy"
    "DAEMIT0OqW5a/Vh7rF95LLLOLwSsOzP5Bh6Rf0vUSxS+BLbmQXlbDnJXRJELjjKFbs2cYg"
    "Yupw4WNTALmLHU6AZBFu+rYnbEYlc4OixnULAf8u4oL5xEKMOkOEOcLo9qzxrnpYR5bdI1"
    "ygsugTyYlswYnTRTZHPqYWc3cq8mEWM+FpNu0teN6A2t8CYgjWI8Dow+yfvwLZphZ5JDz+"
    "6Q2Mrk0cK4OabckJFN0QQ0/RTvrYf6845Zo7hsmcwKUJtzcUfUZH7PBKktojlPhYECsFJQ"
    "0cJwI9JoVrBYLwAzJapJUQLNLFgSMVIqXDFSS0kmFcXrWN29O2YZTGlBVLpHCOSCajUtE2"
    "FVy9v4sfDYfQnujDz9reU/icBIeQSz7wz8bNyVnjplzb25EPZLBbwl10GY1U1dCTmgILHE"
    "6iUE9g9nzStR9ngTqR2Di4D6pTwH1QLYRbDkm4E3hDM5kF3kRi4+Ct16aAt14rhFcOZeE1"
    "fSKhMLAG4t9gRNgu0cOclcxBbUWilfjLPMDHhAT5xI+vAnp4QesK/Hak8gnQt1sXp7ftxs"
    "W1fJzL+TdH4ddon8qRqqIOc9RyPaem0STor1b7DMmf6NPV5amCl3HR89UTE772p5JcEw4E"
    "Myh7MLCV2p0xNUYto3Wf3LPBXFrPSi5A69Fy10Xpr0TJMSYTtdwJuE0J58ZsmUBObDFO9E"
    "fb8hKSApl4dQfanCCGcBz295AN2j0KeawCvwWrxNQkGqCjpLeZmuqVgf4U76yYmpi7jx9G"
    "GWt+wwEG8OZEKBRuwApuWiftkoK7g83BA/YtI4O7HGFVlqOMeMeH3Kqbp2CKewoh+Spy4X"
    "n4NeeRtGqKTyTpvfDskaQY2+1BYB1sftJBQH3OAHTMv4EOtro3DdrAVQi3Gtumqm8zVR2L"
    "rMW+P9keUeVHE3ObkeT7DzfEwQrbwnCb1Jhe2RYoCrZZEwq4YC7xXwjSSTTNJsG0zCRihJ"
    "cmiUhjWZxEmGmu5+uaKOZHrIswilOQCrputVDoFznqM8dCpu1BNiHIo1AlSk0t82VzbdOW"
    "bdqyxu5gBWmL/DQc9hAa7ywoJ1LrjHXp7k4utqIWW965uwOn4HoBLAvZFF2rlYMF9QnizB"
    "cIUwtxgn2zH/VHGIyFiVnG7yxk1i+U+RZ4LjlsYk5QF/wUPABZDFEmkEU8QmVzRs0kTaQD"
    "XD9x5DATO0R5sNXvGOJi2xnfLKfU9IceIKDfMSOp3GbpDAV5xdUDHa7Nf9qnDR1oRh/z/i"
    "xmlpVaazM7u2icyBAsdypsaxc7NgdrUG+AAiq3uRxST1UNxTInBEFKUVHbhlU6DoxpupWL"
    "nHjF3QsP1KUJXs9YykhqTkt5PSVrnaHA0cvXliafQS0l9yZxEzadGbNI5k3iJeM1pkNj1v"
    "wyLzeXU14z6FaQNITZDxy0BoRqjLvh+3ioB3xMMoc4hAOxNpCXPpAhBCeAu+djF4WLltFL"
    "4qDyvDBulVPxKWTa+RVdfjw/h4gmwjwpEwQXM+0XGr3tLvB7YgiZpSkz1K54F7Y0LF2UnL"
    "AZWpftz1/zDtw0GTzN6GBHto6MAeswTT3H7rWoKHDlBTPkFC+rI0vKf/aWZWg9uYJ3P1er"
    "BwdH1b2D+vFh7ejo8HjvGHjVcseHjiY5ttbvoIKsGUpCViM2N7Ap7HuNn2sy5hBMC2oWab"
    "l8kADBZaEflzNWHCSurs4zRedmK4fs5ceL5ulNeV/5PWCyRQHg21ZAsQVsVisgrfXAs+bU"
    "elZyq/V10brmGstYzyIKnHNoPSu5vau0Pkre3lXa3lVaL9A34a7SH6xT0nQYJXl3UnPx34"
    "jh2b7itc+kzfOwE+gw2kOuxIpQuS8QzIPKsGWkBndVpdBnQrWSd1RF3hbIxBTBDIFLxuuQ"
    "C5/9Bb3HH9sUW6P+4/5UtYr9CbWK/b1nW5Bm4HM2U3sskVidyy+VXhviqSRKWyefVCOw9D"
    "XybU1gypqAAOekaeJNgnwkssV8PswhP/HnOypkJbcHxHU5O2zLAm9R60VlgRnuhS4zz4YD"
    "0UmfmIOSJtkejU3MuCF7NcwR27N5N0yKFDu6x05AeNytl9dd4YvNR1dXUB9zxAmhqEzJfd"
    "S5l2yavv/CZn1Bni2BmO3En0hsXK69gv8qBz6Y4Uwnm5TIBlZX9uvT5Np5N5dKtev5THtg"
    "3s+0nUP2DYR2+1/lbaBfwR9AlhnoG8S3zb4uzEcjE4M8TnjW5m9/hWdPbUjVHDwjja1vRA"
    "0PntX92lHt+KBeG503R5RJx8z4SFkcQSH74dF/Y6Z18SmRDXTz1cPDaS4zHR4WX2aSY7kr"
    "LmBUMyAcsW8gukspBsITBaGaIPrH7dVl0aW8kUg+etqmQP+hKS+JrRvaE8CVYGRCZIxp+a"
    "Lxdx7uk/OrZj72yQmaut7bKoPZ0/9FaTQb"
)
