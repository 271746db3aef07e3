from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "customer" ADD "erased_at" TIMESTAMPTZ;
        ALTER TABLE "customer" ALTER COLUMN "email_hash" DROP NOT NULL;
        ALTER TABLE "customer" ALTER COLUMN "email" DROP NOT NULL;
        COMMENT ON COLUMN "customer"."email" IS 'NULL only once erased (eraseCustomer), like every PII column and index.';
        -- Only erasure may leave a customer without an email and its blind index.
        ALTER TABLE "customer" ADD CONSTRAINT "customer_email_unless_erased"
            CHECK ("erased_at" IS NOT NULL OR ("email" IS NOT NULL AND "email_hash" IS NOT NULL));
        COMMENT ON COLUMN customer."erased_at" IS 'When the customer''s personal data was destroyed (eraseCustomer); NULL otherwise.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "customer" DROP CONSTRAINT IF EXISTS "customer_email_unless_erased";
        ALTER TABLE "customer" DROP COLUMN "erased_at";
        ALTER TABLE "customer" ALTER COLUMN "email_hash" SET NOT NULL;
        ALTER TABLE "customer" ALTER COLUMN "email" SET NOT NULL;
        COMMENT ON COLUMN "customer"."email" IS NULL;"""


MODELS_STATE = (
    "eJztXOtz2jgQ/1c0fCmZSZiEvHrXTySXXmmbxyT0etfHuMIWoMOWXElOyrT9328lv7CxCU"
    "6AI5QvIVntruXfarWr1ZLvNY87xJWNlk/fkFHtd/S9xrBH4JfcyDaqYd9P6ZqgcNc1rNin"
    "1jBi6kolsK2A3MOuJEByiLQF9RXlTDO3GGpdtRHwbyOpuCAO4swdISwRRjevWjvNwyPk0D"
    "6RCtXVgGhORJUkbg9RiQRmDve2GvphDrfhaZT156w3YPRrQCzF+wQYBWj/+BnIlDnkG5Hx"
    "n/7Q6lHiOhnUqKMVGLqlRr6hnQ6weGk49Zy7ls3dwGMptz9SA84SdnglTe0TRgRWxBmDkg"
    "WuG4Eek8K5AkGJgCSTdFKCQ3o4cLVBtHQ4g5RWs6yLy451c9axrNqEsWKJMZwjks2ZNjRl"
    "Spr39/A3yyWsrwbw58Huz/A5KQ4hl37gX63r01et6/rB7pZ+IIfVEq6ii2ikaYZ+GhVY4V"
    "CJQT2F2RekR79VgTqVWDu495szwL3fLIVbD2m4U3hDN6kCbyqxdvAeHcwA79FBKbx6KAuv"
    "tDmAUwHdRGA+4MaEFN10r06gvBNUkVo1hEMh9AMJgp3ow/KwHMJmXIf40ZBE3FKbyAa24a"
    "ds3OgXK9jMH6Fnqi33jmaw5d5RqS31UNaWNswNkLdwgbv8ASOKeqTYqFnJnGWdSLQR/7Io"
    "Oy/SjbTZLiEGR+47BfpO+/zsptM6v9KP86T86hr8Wp0zPdI01FGOWs+bKVGC3rc7r5D+E3"
    "24vDgz8HKp+sI8MeXrfKjpOeFAcYvxOws7YztNTI1Ry1hdkFs+fJDVs5JzsHo03VUx+hMx"
    "cozJVCt3A0kZbC9WtawuJ7a8PfuJJXg6ie4NC/O7GMJJ2F9CZk/7DM4kBvw2zBIzuyg4Rg"
    "eYkzFVTwz0n/HKiqmpuwt8l5w+8gsOMIA3J8qgcA1ecN0+7dQM3F1sD++wcKwM7nqEN3mO"
    "kvBODnlNL0/BDPcNQvpV9MTz8BecLcdNU366HF8L9x4vy7HdHOpWwee3pxzqzGcFoGP+Nd"
    "xgm7uzoA1cpXCbsU2q+mumqhORtXzvT5dHVMUriLknkeTLN9fExQbb0nCb1guf2BIoC7ZZ"
    "Fwqk4h4RjwTpNFKzTjAtMolI8CpIIsaxLE8i7HGu+2vUKOZHvIcwilOQBrpqt1G4L0o04K"
    "6DbOpDNqHIN2XKzQV16cfp2qQtm7RlhbeDJaQt+tNy+V3ovFVQTqVWGevaly96sg0z2frW"
    "ly+wKXh+ANNClKErM3PwoAFBkguFMHOQJFjYg+iui8NYmJhl9p25aP3EuHBg59LDNpYE9W"
    "CfggcghyPGFXKIT5i+aDOatIt0geuZRC63sUvuL8guZMUQD1N3crGcMVuMfECgeMUkUrnF"
    "0h0pMkv1YDmFuNrFu7dvw5tNzmyCYEZSV8XNZxwLt7aRS4cweEvEaCzOGDua+UzGqTnqnb"
    "0kePJP56xVZD1rgOWgir9npR7k70sy4Kvz1qlOBbTHgHt52KUaafMCKGDa3fSQeaq5pK5L"
    "QpC+9TDLlze6LowVXJrMU/GSb8R8sFZBEL3HYxOplfbYeZTOi/wEjoCisER6D2pjcr8kbo"
    "qyyphFMr8kXjpvwGxkVc1z83IrvCevUrobZmFw4BsSVuDcLSHwqKRLIC+ZQxzCgVoZyGtv"
    "yAiCE8DdF9hD4aR19NI4mHwijFv1sfgUMm29QCZXCZgK87VMEJyP2k8settt4PdVlBNJ3l"
    "M74dWKUzHRaV90Pn7OW3oAmfeDDJ0TfAJ23tsx4Dd3KptlG+03UZcq+aLE1vNQ/YmltkdL"
    "MD22bQ4Ps7rY1beX1pB3eUFJkfbbTJVE8RINubWgC3QLOunuLmqP7esZ7PzWbO7vHzd394"
    "+eHx4cHx8+330OvGa6k0PH02Ja+08wQXYH1oSsRai0sK3obUGIO+HcJZiVlM3G5fL5AQgu"
    "Cv24orbk/ODy8m3m3uOknUP24t35ydl1fc+EPGCiqgTwzW1UuQes123UuNUD33mg1bOSG6"
    "uvitULOqkmrs2iwPkAq2clN+1yq2PkSd8OS4YPMHJG8MnYuPZ+QMK6d3zB90winwjJGXZN"
    "LRzdYYlASAk+mqylRucNrq/17qgkkwW9RTxgjdffpl1z0665Anv5k27XfM27tYImC03ent"
    "Zf8W/EcG9rxZXg2udl2AzhctZHnsaKML0uEOhBdVgy2oLb5pJCcGW6abbMpSRVyMYMgYbA"
    "K9gx5679Ee0X/29fwAq1YOzNVCbdm1Im3du9twvDDiAuVuoQSCWW+K2q2lNDfCyJL7yim1"
    "ajcoqv5zY1qRlrUgo2p4I+hmmQJyIbzB+GOeQn4mFH1azkpkCxKmeHTVnqV7R6WVmqQmv8"
    "IvNsOBCdDog9rBUk28nY1IwbslfLTtjuzbtBKTLs6Ba7AZFxo5Du+IdfqEy699AASyQJYa"
    "jOdKNXwlbQcjQ3rY/IszUQ1U78qcTa5dpL+NcbgQA3rHSyGRNZw+rK/P+nwNC+rbScQ/Y1"
    "hHb+jYabW8d1C/Rz+A7cIgN9iwhqD4rCfDQyNcjjlGdlvvlcevYsDKkFB8/IYqsbUcODZ3"
    "Pv4Pjg+f7RQXLeTCjTjpnxkbI8gkL2I6OvB866xY+JrOE23zw8nKWP8vCwvI9Sj+VarMCp"
    "KiAcsa8hugspBsITFWEFQfT1zeVFWT9wIpKPntRW6AeasW9x1dCeAq4GIxMiY0zr562/83"
    "Cfvr08ycc+reCk6O5tmcHs538QOHEG"
)
