from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "business_key" (
    "id" VARCHAR(40) NOT NULL PRIMARY KEY,
    "master_key_id" VARCHAR(32) NOT NULL,
    "wrapped" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "business_id" VARCHAR(40) NOT NULL REFERENCES "business" ("id") ON DELETE RESTRICT
);
COMMENT ON COLUMN "business_key"."master_key_id" IS 'The master key (FINORA_ENCRYPTION_KEYS id) it is wrapped under.';
COMMENT ON TABLE "business_key" IS 'A business''s data key, wrapped under a master key (app.crypto.datakeys).';
        ALTER TABLE "business" ADD "offboarded_at" TIMESTAMPTZ;
        ALTER TABLE "business" ADD "write_key" VARCHAR(40);
        ALTER TABLE "business" ADD "legacy_values" BOOL NOT NULL DEFAULT False;
        -- Every business so far keeps its values under the master keys directly,
        -- until `finora keys migrate` gives it a data key and moves them.
        UPDATE "business" SET "legacy_values" = true;
        CREATE INDEX IF NOT EXISTS "business_key_business_idx" ON "business_key" ("business_id");
        ALTER TABLE "customer" ADD "key_id" VARCHAR(40);
        -- What `finora keys migrate`, `rotate --business` and `status` look for.
        CREATE INDEX IF NOT EXISTS "customer_key_idx" ON "customer" ("business_id", "key_id", "id");
        ALTER TABLE "shop_connection" ADD "key_id" VARCHAR(40);
        ALTER TABLE "webhook_endpoint" ADD "key_id" VARCHAR(40);
        COMMENT ON COLUMN business."offboarded_at" IS 'When its data key was destroyed (``finora business offboard``): nothing of it reads.';
COMMENT ON COLUMN business."write_key" IS 'The data key (BusinessKey.id) that seals and indexes the business''s writes; NULL:';
COMMENT ON COLUMN business."legacy_values" IS 'Whether some of its values may still be under the legacy scheme.';
COMMENT ON COLUMN customer."key_id" IS 'The data key its values and indexes are under (BusinessKey.id); NULL: legacy.';
COMMENT ON COLUMN shop_connection."key_id" IS 'The data key its secret is under (BusinessKey.id); NULL: legacy.';
COMMENT ON COLUMN webhook_endpoint."key_id" IS 'The data key its secrets are under (BusinessKey.id); NULL: legacy.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "business" DROP COLUMN "offboarded_at";
        ALTER TABLE "business" DROP COLUMN "write_key";
        ALTER TABLE "business" DROP COLUMN "legacy_values";
        ALTER TABLE "customer" DROP COLUMN "key_id";
        ALTER TABLE "shop_connection" DROP COLUMN "key_id";
        ALTER TABLE "webhook_endpoint" DROP COLUMN "key_id";
        DROP TABLE IF EXISTS "business_key";"""


MODELS_STATE = (
    "eJztHWtz2zbyr2D0JfKc7InlPHrpJ9lxW18TO2O7l/bqjgSRkMUzBagEZFvT63+/XYCk+J"
    "RFmVIoml8Si8QuwF089o2/WhNhM1ce9KbOz2ze+kD+anE6YfBH4k2HtOh0uniODxQdurop"
    "nTr9O7/RUCqPWgoej6grGTyymbQ8Z6ocwbFxj5PelzMC7TtEKuExmwjuzgmVhJKrn3r73b"
    "fviO3cMqlIW40ZtiSOkswdEUcSj3JbTPYOsDNbWNCbw29Lxjvjzp8z1lfilkFDD7D//gc8"
    "drjNHpkMfk7v+iOHuXaMao6NCPTzvppP9bOTMfV+0C1xzMO+JdzZhC9aT+dqLHjYHD4Jn9"
    "4yzjyqmB0hJZ+5rk/04JEZKzxQ3oyFg7QXD2w2ojMXGYLQZgSLZ61+//ziun91et3vt1LM"
    "CiAidPYfWYIjox2upP7+CX3su4zfqjH8fPP6b9PPgg6mFXb4797lyU+9y/ab13vYoYDZYm"
    "bRuf+mq1/9rVFQRQ0STfUFmaceGzmPRUi9gKgduY+6K5D7qJtLbnyF5F6Q1yyTIuRdQNSO"
    "vO/erEDed29yyYuv4uSVlgDiFKBuCFAOcYMHC+ou9uqQlA+eo1irGIUNEPkf8Ri1/f/6Ey"
    "rvYDNuw/lxIJl371hMHlAL/pUHV/hhGZv5M/As5eXhuxV4efgul5f4Ks5LC8YGlO/TjOXy"
    "Ed4oZ8KymRqHTHDW9kEPgj82xedNLiNk2wWcwf7yXUL667PPp1fXvc9fsLuJlH+6mn6961"
    "N809VP54mn7SSbQiTk69n1TwR/kv9cnJ9q8gqpbj3d46Ld9X9aOCY6U6LPxUOf2pGdJnga"
    "UC3GdY/di7u1uB6HLIHr/nCrwvQdYXJAk6VcHs6kw2F76ReT6hJg29uzd0zAQyF6dJcp3w"
    "UkTJP9B5DsnVsOOokm/hmMknIr63D0FZjjCKodI/rfwcwKni6Wu0cfQu0jOeGABvDlTGkq"
    "XMIquDw7uW5pcg+pdfdAPbsfozu+EV2ReBK2Tb+adCfJJ5TTW00h/BQceJL8GbpllDX52m"
    "V0LjypXubTtlHqqrDmO0uUOv1/AUIH7Wu4wXZfr0JtaJVLbv2uEVUbUVWrUoF5btWlFQNa"
    "a31tRyxtXY8ZwQ1FW/PawYEC0sGBY+8RNaaKSAYdEcpt4u/1BK1/wanyShL9sfJ7cv7Lp0"
    "8fUqpo6T3ccHzrsltqzYm0xmwCVJgBoKfBQM1V8Cf2Zjses5QL3Q7ZCOQeMhiMHA6zCN9K"
    "MnFukQGDwd7BDT+9Z97cdEQAp3UniaNgPBonyEgKuuHKjNcMx2jS/lEMCPGDD378pXf5ca"
    "9DpLjhFBBRfsuIGBljqSSCM8CJIpciMCLCdK9TT2gt/En1u6wzZDG7DRn799SdsQxp8VgI"
    "l1GePclTsImJPgTgTe1l4ZMCc/3rWEsuwJuJ5omjJDGDh0kDU0k5rkuGLDKXYpMsbWUpA+"
    "Hq6t/xxcWn2J55fHadYPQvn49PL9uHmv/QyDEi7Nn5dYLrYjQaChBN1zrMUsA7o4Qjw7jm"
    "UrghPVD4wYADYo62sXCDCDYfEnwt7BLQpVBj4L3htbaqycxZsZFOamYoSGmv+frVYuL6nr"
    "KsncqH/OHnS+ZSzfBclXbhk9sxMStPoY0t7ufTJ3JI15VI1kwq2LW9Z1LqxEdTVzLJsZhi"
    "Ew5yFOB/JrWuANtJiKyuNHtgw7EQd33G7anQkM8i2leD7tTHVieqbcNulhOWkdjinraeFQ"
    "jQiGougQzQAaUBOoHj3wiDNKqnaEXC8uZTJVBooriDZ0VolIT4ht/w6wdBQJOZwEFOptA6"
    "wPxBi6mopqCSg2IIqGUdYs9wEAn9yROoFt3w/f0AejDohPAoAXniAfQ6ULwm4h7hR56YkD"
    "boPUrsHRDyEa2s+BxhsO0NB6GHRj9TdwSKk/mIfTn2mG0DyIeIsN0J1UZUISWzPKYAFfar"
    "UBabcRSikKHkAcR11LmIJaYOQ8ELm0xwjE3kyk4YOc3sxtVY0KuUAqyy2VNbTaIL+Yez84"
    "vLXv/0/OTyty/XZxfn/Z9Pf7siaEJBM4WM7wLpvaMEfFuOofEHkHF4OrC053l2txAoaYyY"
    "K7bDPqxMg8Cni+OYhgfUPD47713+1v7c+3UvpuZ9ujj/MWgf1d6Of7s+7TV27sbO3TjrG2"
    "d9FTa6nXbWh+aADI0jairIVzesaKsVVI2gPYkJzgfky9kZMYtUkrFwbWI5UxBoFXtUOqw7"
    "S7t4Fq5Gcq7CLrNMcm7CAzYbHoD/913xYBZvESovoKpM69ZggIM90INt7w0GsClMpjMYFr"
    "pJv+iRG/OBFJ7ydXHqWWM/p0Ro52lq3ykF6w0XnrZ+wGuLSkZGsE+hZcEW6E8hNpsyjgkt"
    "GhMukSG0eiWJKyzqZnritjVj0CbSZxPquAXdrxnQ6zlgt+d8095S5ACOHbVM/FuPPmAFmV"
    "LgcnsEfe8Lb98oFGjuMr1owL10kEGJuG84Thg880xyUwcVYsVcF526OoJeu+SIEvr3okuc"
    "e34Lf4YqccPlnTNFDPGw+9D9cCDH4kEaDqJJTEc46Cl7B4I6J3MGoL5pzDVeZGomsZkIGP"
    "mgHJcEhrkgpoEIL3wGMiRycgAfajnAlMw4/+04nnPm+SnX9j1mZ8/03Pm9ok6/pQmOvDM5"
    "cwKEdAIjkuju1f8H0t9eh7jOHfMDPxaS1SL6JS2ZlYi3ANMzDAOaD/0xleMiJ1wcqsrBUD"
    "997p34JmFYgt6Eug5SWn9AJIhD92rMaJLBul/Y2IcuvMuw3JeJeMu5VlPgVobY+MSKDaEq"
    "vWJLMcJlrBNq216mPv8E1SJwL5JuyuGFaebDvEh6oaRM+bxfVLNLwlV4T66Sgmekur4Sdy"
    "wrEqLneTTHLZGCTFAcjoNVHPtbOgZ/ZhimBuQGUXJCzKDx9AqlXHNuRZ3LptGeidA1Imnq"
    "ECwH7Q33v7YD7afKl4mkGKl9Ywe0Cwo6IKT+/keS02PQNddidAJwB/h8uK+J390vzJYOOe"
    "qSIWhJ3+fwugzUN3zBe7IF1lPLEtBZf0hdNLX378RQZPkgb8+4yjnFczAk5sIGY3leb2qP"
    "vcUR7P+z2z06et99ffTuu7dv3r9/+93r7zoYDQ7v0q/eLzvTzn5EFTG2A6d1Rkf2qaWc+4"
    "wjbql9JAa3xdD0wIa8ZfmgPCW98f/mr4D6+n9nU3tNrschG65XhesZofepYFX/4FyD63HI"
    "nckBeZGFGIzJcA0mxwB3hscmBUcbyX3z6CuJUa5ScOqayNlESk7clurrGwJdCg+OzM78Kr"
    "2DGs+/4tGazwzT/BbZs5Hsv2gqK4YhGxNvMvnVz2f1kwKzYzZLxb7l3NImoqyJKKvACb7x"
    "iLLIOfuomAdHQN91+N0z835OfVyfAFWNiL/RpJ/ggD29Z7rD3CA806CzSiRen4Vtn4zHu+"
    "AsyPlXgtBFRJ0umCpmaige9zo6tUZhkrCRIQApl1TnxAVOQoMkfSSU3QGmAp0L9Bd/II4t"
    "TfYOTsQO0STXpjr/MSAQJsJGN0LJj5DBQLI/BwNy69wzaSozmEicNoYrSAVoPKngMBoMHB"
    "va+XEZ09nQdSzoMsQ3GPh5c/vYbsWQwt+TaxcG04I2qechMyPNcuMR8W166S6x+PkATxv4"
    "/N2nuiGJWzTw5QcqNvGgjTi226RObDcr+2XjYA2pVyC1pk4BGgfta0jcDRTn1VKCHezSKT"
    "Iv8YSmQdfzhVaN5MvMMqe/ZvkTQWoqMkFDgBrO0PKXv7CsmeetV8coDlpDv8WumxDXKhEE"
    "ihzoIp6TWc6seN2NjwbdKoVwthlmjMXjKJliikPbV5wO8Bcqf2PHGhMuiFZciUVn0o+MqK"
    "jWHrN0ZCjtSUvIKjp7YIgxktQqmXRY6uaVXGjUjo0h1RzD+UHVxooWppyg8OYRtdswW5fQ"
    "WJTJyazdUTr+DPX495YVK68TJcMfKd05mmsYNFg5QW+ZPpwpvjbq8Jrq8BR2KljukyJCRB"
    "SmhnJE+ZJuYsNYObchDlZDUpefUWA2vTUEthhgDcW1HQ0zWe2+j4m4X/O+jyjkzoQgvBgZ"
    "PZ6PEAgfRQ1fScAabqSNlXHHSL3Evx6Xsp/pYa9tVcxOws+eWuU5nvasOV4CnWtYqzVF4f"
    "jSjtH3pHd10vt4+q1K4/xLDFsZuj0+7ixT6f/rN3hSg//iCTzLpKle4wp+SyZIKsZxWhDA"
    "Q9p+JnxHR1Tp8pWoTesqEg5aSjgBDLOsUu+lY39GvZxvW8ilQj7Sw5Wy/A6XZPkdvn6ybI"
    "4182QxC/4CYovXTbZ2jeIRi21mhvkyA5OdnV3epFStmFKlYHPKKjezhOQhSEPz9WgO4om3"
    "XqZFHLIxfFRFJ26yql4i1/Oyqgo4KzcpZ4M+dILXV7UyhO3w3VKJG1MvrLDZk3I3IDUXZg"
    "XpCX6Eqa7crsaODMutkTGVRDLGSZvrIuxBswx/WWlYnyFnbz1rpcqy9ubrU05nHizDQppN"
    "BKSGZqzyvVx31n2h6Wya15C05Xu1mqT5uh30eeJdRQ76hNk447hPG5bzD/3ERU+rHf0mqI"
    "W0sSNnNO+Qr0KciMmEeRYLr/bkttTJi2HJS+Lw7/UTP26JSOeW4/xJygDlor/h5mYYTEFh"
    "QU0xUzTxy9lZU8N6N2SEJhZm81KC3gtsgfbtInROgNWQ1EcrWT+Pllg/j7KqyuGulCb0E3"
    "UPF2Av4KKb5pKaFyxvxWLHqFR9P8J7vk4IWQZ8E1NUHUtamuNNgaKXwOUXUyBmoYOUVBNm"
    "DYRN3nE1xMmmDEylgqfKKwPTVH/5JnlkaCcK0/Vy7GHRdL4nrGF2tOmqtrAACC9vcB1mm3"
    "uK/TonaImiauax8N4igrezTEEf8QuySLz6ZQyUzcsgK68DfQs0XqsUwJA25SR6U8VQ2PPI"
    "7RQL6+Cr4NjZI7hv2FKnI0KbG44wH4g+nphNbAd6VHowXAAq8xSvAsE+9B07eMXzVK2S0O"
    "avy1B690u5BMPPSHDzmMUcP3mgyW6rZnZbkzOwVWEssXpWJXYCrIak3syNEeHmVIDWMaAa"
    "Urp832t0n08R+qn0shhoYw2sitlgB7yvXzwBLJ/kiZrB66clzWmk5ZOC5lcj1cWFQUvMsF"
    "ifUFosnJsLM/WnkDbMB43S3G+o5UQKADbg1gFTKUmz9B5uODVhXCuX9Usd7k19gkaC25H9"
    "tql49O2IvyOH20o2cSWmjlVkPYUANVxH5QuN37DiR8UcSZum9Cgg5Ko0DgHqR92j7ioRJN"
    "38AJJuKvAU5Kxip65dV82ynFCoimgYyfpzGVpGRom6fE3DD4csaNbGguOmjlw7rDi3p829"
    "WLGMcXsqgBcfyBT+xGJ05p4+SrqPjx28g3xEHZeBOjBSxoqcUjbK7uCGY4wHbALzfJtyWN"
    "E9QJ+yHTeqRiVVjVmxs3pW9Thb7c5f1MJvDwYPY9vtDwbkH3gB5pg9ogvFUXgh5oTajAzn"
    "Wu8Ocp9e4R1DuqvsSIHyUG9ZyZGKqlmGC3WJ1TSE2GLSvb8ptXbodIvVJlYKL1LNoHP+5a"
    "YRkNpkgncP37x/893RuzfhZhY+WbaHpXO8OWgHfZ9Ea+jnGeCNjl5pHV3Hk+ZtVrmLKAG1"
    "1jqqmpZT8krSJFp/JWWANwGgVV5IvlaybqBvDLbhdJU53SRu5G+i9XLVxqytvqZd1NoaB6"
    "uhzap83UlbNzLpvMxQEYWqsECy0dsPtmfkWBK0HRqnnhmxnbrqsE78ewaaNaPDo+sju65m"
    "1nZXAh99I+9pBOOObXgrkzi+2VepemmSCfnG+CifnjbGR+fJKjHmQY7Cq0V5Az+CzTNFD/"
    "xiB+TJWgeJ2PLyEDdFFKohECyxonsZtR+XWNG9rLqPdZC9uq9XDfpdGvXbpPSXk9I/9di9"
    "I2ayvyb9MuDXJOQWs0P9/XTIQJhh2gOj/ZdB+egOkcpxXb39wk774Kix7wIdhJ+rfw8yHU"
    "ClYb/h7aGAt2FwuiS3Ai+cJhNGOUhbLlCDSnKF+UBw3BL/OJSEuq548IvxlTQ/9JCKWg/S"
    "0I2dqMp2IiNwm49IsXrJxaMJuJd56yjj+CFZJgAhXFiwedaWECq5cQLYpsgWiFpbPoAuLj"
    "7FlsLxWUJTP//l8/HpZftQrwFo5KhYlEJj0XzZFk3JvPVSjmKAO3MGtb6OGSeUPAjvjnlG"
    "jFCoJqJQsQjT0iIG0zIGqI9cgZQAosLI8eBJe0QdD5XMjHq/pWOv8cnYlMR5CfLPCyuJA4"
    "oCaCilFsUpiLIpi1MNq0xTFqdSVvnyyuJ8u5vZd4X2Gy2P0wPSW+NWhuvCf9NZ5rGgizZP"
    "+SnyyVCyb+ClRN0/M6ou3xMAy0dmXmKZf/5EQGp49nTfvl3FIfD2bb4/AN8lwqxhURWgsN"
    "+8htTdyO1xWHwgM2LiX1cX53kpcCFIUgdyLEX+R+pnJURixDSfgKbtz71fk+Q++XRxnFRp"
    "EMHxt86O+/v/FHyOVQ=="
)
