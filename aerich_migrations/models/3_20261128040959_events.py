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
    "eJztXetz2rgW/1c0fFkyQzMJeXW7n0hKb9k2j0nY273b7hhhC/DFSFSSkzB7+79fSX4b2T"
    "xiKDj+lEQ659j+6XGeUv6pTYiFHHbYmtqf0Kz2DvxTw3CCxC+pngaowek0apcNHPYdRQqn"
    "tjH2ifqMU2hy0TyADkOiyULMpPaU2wRL4hYGrbsOEPQNwDihyAIEOzMAGYDg4WPrTfPsHF"
    "j2EDEO6nyEJCWwOUPOANgMUIgtMjk4lA+ziCmeZuNhwXJdbH93kcHJEAlCKqR//Vs029hC"
    "z4gFf07HxsBGjpVAzbakANVu8NlUtV2NIP2gKOU79w2TOO4ER9TTGR8RHJKLT5KtQ4QRhR"
    "xZMSix6zg+6EGT966igVMXhS9pRQ0WGkDXkQMiub03iNpqhnFz2zUe2l3DqM0NVsARw9lv"
    "MgmWA21jztT3T+Cz4SA85CPx5+nRD+85EQ4elXzgv1v3Vx9b9/XTowP5QCJmizeLbvyepu"
    "r6oURADj0hCvUI5ilFA/t5FagjjtLBfdJcAu6TZibcskvCHcHrLZNV4I04Sgfv+ekS8J6f"
    "ZsIru5LwmhRJKAyogfi96OH2BOlhTnKmoLZ81sPgl3WADxoi5KN9fBvQiw+0bsW+7Q95Dv"
    "TdznX7odu6vpOPmzD23VH4tbpt2dNUrbNUa/08NUyhEPCl0/0I5J/gr9ubtoKXMD6k6okR"
    "Xfevmnwn6HJiYPJkQCs2O4PWALXEqFP0SMZrjXqSs4BR9193VwZ9TwY5wCR3lPsuszFizF"
    "jNEkixFbOJ/uy1vAGjQBpeg7HWJgggnIf9g7AG7SEWdqwCvyPeEmITaYD2jd7LmKg9A/1H"
    "MLOC1mi5U/gUWqzpCScwEF+OuELhXqyC+85Vt6bg7kNz/ASpZSRwlz2kSVItIe1816Q5Sb"
    "dADIcKIfkp8sXT8Gv8kfjQZHsk8bmw0CXJxrZyBHZhzec5AurnCkAH9CXcYJtHy6AtqDLh"
    "Vn2Vqfo6TdU5zZq990fTw4/8aHTupc/54dM9cqDCNlPdRjGmPZsCWco2uYRcxskE0ReCdO"
    "WLKStMT6g/ImRsIGxNieJ8EVxfPHFtX1qZUNuk6RXOMo3pFZ+B2aaXGadaHA0GAT0gAwBB"
    "YLgdgrtOB3jahIERcSxg2lNhg3H0zFVgVxMBfpmsytirjL0d3g62YOzJn4ZDnrzFuwrKEd"
    "cuY13r9eTLHqqXrR/0emJTmExd8VrAxuBOvblYQSMEGKEcQGwBhiA1R35WiYg+z5xN7DuF"
    "SP2GCbXEziW7TcgQGIh9SjwAWARgwoGFpkIzit1KSZJLpC+ofmHAISZ0kNrBtj9j0ATazv"
    "xkaWOTzqYCAf2MCblSk6U/42iPYy46XC//0223dKAZI8hGqyyzJNdOL7OP160rqYLlTBXT"
    "egIdm4nVoL4AuFhOc9mlnqrSsHWGEBAmxaGaNuSw74g+TY63SMFbzvlMxXBplNeClRJyrb"
    "lS9ifQr1sowmGl2oDuAtRifK8SN27jlTHzeV4lXlJfQzwzVrUv03xrbco7Bt0WjAbP+hGO"
    "1hhhzeJuUQpnesDnOFOIC3WwjKe/Hchrn9BMKCcB95DCCfBeWmoviYOy8zy9VY/pJ4/o4D"
    "dw88fnz0Kjcc9OSijBYsR+w/7XNgT9lM+EZWlKC3XA33iJIEunJXMmQ+em+/Xv9AZumkQ8"
    "zehDRybcjDHpE01Yxx52MM/YyjMkpAZ+gxGeo00ttKF8gze/NpsnJxfNo5Pzt2enFxdnb4"
    "/eClr1uvNdF3kbW+dfYgiSy1A2JEfEZgY0uf2o2ecuCXEQxBkxizhfWkkIxk2hH4Qztqwk"
    "bm8/J0L1l50Usjd/XF+27+vHat8TRDbPALxKoGSvgHIlUOKj7k6tNUc9yVmN+q6Muqb4Zy"
    "6F4SvONUY9yVlVeO3OIFcVXlWF126BXoYKryCV2H5E6v0zc40eQWOZhKOBQtqFacdbjIA5"
    "gniIhAMFYJQ4VCdDiMv75PmgAZ6ozTnCMo4v24VQzKQZTHAQhfSEzEcqi37AN/wN3xCZyH"
    "wHbIs1PHIxpxtAQa68P79ZCCBeIkERSc0BQK/H0PdeDwyFDc++YfUWKuFQJ44lz8QMbMq4"
    "cBF7PdsSdDZT3FO379imeGQor9fzM/VvJN2SmdOv6dkoXqYmaObaw8GMkWWmXWXvvBuT40"
    "36DIudR3897W7mdYvOY3Y+tkp7F6b1KgPjp0Cd2m6WDvwm2Sqol4BaobMCxgF9CcE9Pl8C"
    "3OO0jxOBK7tS81hZCVawS8/BnBNTn2ddL6i+a5DnuZztP3WxamE1rTJBQ4YSztDilz8xTZ"
    "fStYIjKdYSxsT2PTyyVu24cOSEL0JtVEyl73tPXKnKyDfpgv9O+jWN4y2bG3nu9n99goU+"
    "9h0lcl4xrxjXIXgIJvLjEJahGSDkgDpFCvKGKtahhKuhPlBFcTYHJsRASHAnGge7cOkvKP"
    "/9uXWpO+QLHS9VLnCcUy5wfLSwClgoA7aapo44tqeqa7V9Qzy2M2tL1fICK5a+TK1Kyy+Z"
    "ludic9LU0eZBHrJUmK+HOeOQrpetS3KW0B7d0xxtlZl/jaOelZlfwSnZpJ39Cc2uRsgc1z"
    "TGdtiXa3EL69UwQ7KFdrcQChQ5eISOi1iQSZLndMUvNgtPj4ARZIAhhEEdo0e/eF6SaUrv"
    "C5P6AjtbArFaoDbiKJ2tvYVL1lwqluFKnk2MpYRRseLjtmPzcaXp7JGXENrqkrVK0W/h5o"
    "pNKvp0HFKj7zWhymy1H1yIYMWpl6psUYUwYEAoIPIv/wqEd0CeIJVHStUBAABB8/m5AQTV"
    "ANoOsgAccF9bO5BxAbfmjH3x4jX2wNdaWMoTSPeqQNY9i5/nR2vNg6okZM2SEOEac1cT0M"
    "/WaRHHFoNz/lTdUoyucLMBci4P7Whwzj5IE2MpTcSoeXx6cfr25Pw0nONhS97Uno8FYfTM"
    "DR+iNSwGDXsJzYY9MROWKuKWKsjI2qwyF1GKa611tGOV+UWvJN9aWfcURIK3Ogexy0soMM"
    "1WDMmk2EroyxZfPKPMYS3OeZZtnGt7Kr8UJm7OIZTQNXnhCZS5Ew57NhjLHkOJz8LEGZSr"
    "1sNV6327pt1UCgC4vDcAzkGc3FL1KP/UoEg4CNlBkfg4LQ6KxOfJMrcMBsXxvzDgiwAUmU"
    "iaG7/J/wIDmJhbMnjBkEkRl8dfUHBhCnDsMZJHb3RXDhYnuLp/cDfUbnZww6WaGo1snH3y"
    "Elo4zaNl74XJvRhGczOMXCPzGC+4uyhie6UXyikV69HNYZdT+p/ie511/wjLD9GZ1nn3oc"
    "S4qttQqttQqqRcXqSAIfq4XqFdnHFvokG1LyOEAQRPhI4R9bNd0jCUua8oXaYyYUh2SoMR"
    "czAkiHnHsEF9AG0qzUpNJU7h0ksco6puZHkNkcjqwHR1I8sOrKWN38hSnZ1bHvuNnp1rCe"
    "jNUU0TzPJ7Grn/Ljmi2Zl/TfZaymNemOfMjg2J5cP8pbas/omxlFD3NM/OlgkRnZ1lR4hk"
    "X6rwRSyqFRD2yUuI7kbO/Ykncm1y6/eH25sMtzxiSdvItsnB/0D5okgSjIRlHGBav279mY"
    "b76vPtZdrklQIudXbVNlM0P/4POVc5mw=="
)
