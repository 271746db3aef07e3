from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "api_key" ADD "scope" VARCHAR(16) NOT NULL DEFAULT 'write';
        ALTER TABLE "api_key" ADD CONSTRAINT "api_key_scope_known"
            CHECK ("scope" IN ('write', 'read', 'read_masked'));
        COMMENT ON COLUMN api_key."scope" IS 'write | read | read_masked (app.services.access.Scope).';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "api_key" DROP CONSTRAINT IF EXISTS "api_key_scope_known";
        ALTER TABLE "api_key" DROP COLUMN "scope";"""


MODELS_STATE = (
    "eJztW1lz4jgQ/isqXpZUZaiEnLv7BNnMhp1clTB7zFGOsAVosSWPJSehZvLftyVf2NiAE2"
    "AJ4SWEVrcsf60+1C2+VxxuEVvUGi79QIaVX9D3CsMOgX8yI9uogl03oSuCxB1bs2KXGoOQ"
    "qSOkh00J5C62BQGSRYTpUVdSzhRzg6HGdQsB/zYSknvEQpzZQ4QFwuj2rPGufnCILNojQq"
    "Kq7BPFiagUxO4iKpCHmcWdrZp6mMVNeBplvTnP6zP6zSeG5D0CjB7M/vkrkCmzyCMR0Vd3"
    "YHQpsa0UatRSE2i6IYeupp30sfdec6o1dwyT277DEm53KPucxezwSoraI4x4WBJrBErm23"
    "YIekQK1goE6fkkXqSVECzSxb6tFKKkgxUktIphXF61jdvTtmFUxpQVSYzgHJJMzpSiKZNC"
    "v7+DHw2bsJ7sw9f9nafgOQkOAZd64J+Nm5Ozxk11f2dLPZDDbgl20WU4UtdDT3oKLHEwiU"
    "Y9gdn1SJc+loE6kVg7uPfqM8C9Vy+EWw0puBN4AzMpA28isXbwHu7PAO/hfiG8aigNrzA5"
    "gFMC3VhgPuBGhATdxFfHUD54VJJKOYQDIfQDeQRb4YfhYDEAZ1yF+FETxLunJhE1bMJfUb"
    "tVL5bjzF8wz0Rd7h7OoMvdw0JdqqG0Lk1YGyBv4Bxz+Q1GJHVIvlLTkhnNWqFoLfpnUXpe"
    "pBkptV1BDA7NdwL07dbF6W27cXGtHucI8c3W+DXap2qkrqnDDLWaVVM8Cfqr1T5D6iv6dH"
    "V5quHlQvY8/cSEr/2potaEfckNxh8MbI14mogaoZbSukfu+eBZWk9LzkHr4XJXRemvRMkR"
    "JhO13PEFZeBejHJZXUZseT77lSV4KonuDnLzuwjCcdjfQ2ZPewzOJBr8FqwSMzMvOIYHmO"
    "bIVK8M9KdoZ0XUxNw9/BCfPrIbDjCANydSo3ADVnDTOmlXNNwdbA4esGcZKdzVCK/zDCXm"
    "HR9y6k6WghnuaYTUq6iFZ+HPOVuOqqb4dDm6F6YeL4ux3RzqVsHmtycc6vRnCaAj/jV0sP"
    "WdWdAGrkK49dgmVX2bqepYZC32/cn2CKt4OTG3GUq+/3BDbKyxLQy3Sb3wlW2BomCbNiFf"
    "SO4Q74UgnYTTrBNMi0wiYrxykohRLIuTCHOUa3qNGkX8iHcRRlEKUkPXrRYK/KJAfW5byK"
    "QuZBOSPEpdbs6pS79srk3asklbVtgdLCFtUZ+GzR8C4y2DciK1ylhX7u7UYmt6sdWtuztw"
    "Co7rw7IQZeharxwsqE+Q4J5EmFlIEOyZ/bDXxWEsSMxSfmcus35h3LPAc6lhEwuCuuCn4A"
    "HI4ohxiSziEqYabXomZSId4PpJIJub2CbTC7IL2THEwdQe3yynzPSGLiCQv2Niqcxm6Qwl"
    "ecXVgzxcm/+0Txt5oBl9LPplzCwttdJmdnbROFEhWO1U2NYOtqkAa9BvgHymtrka0k/Vze"
    "GqIASpboPeNrzWsWEsp1kxz4mX3IlyQV05wWuKpcRSz7SU11OyzjMUOHp5uaXJKaiNyL1J"
    "3CRlpTELZd4kXipeYzY0yuaXWblnOeUVg24JSUOQ/cBBa0BYjnE3PA8PC7rzWckM4hAO5M"
    "pAXvlAhhCcAO6ehx0ULFpFL4WDzvOCuFUdiU8B09av6PLj+TlENBnkSakgOJ9pv7DwbbeB"
    "35VDyCxNlaF25bugpWHlRckJm6F12f78NevATZPD04wOtlXryBjwDs+p59Bei8kCV14wQ0"
    "bxqjqyoPxnZ1GG1lMrePdzvb63d1Tf2Ts8Ptg/Ojo43jkGXr3c8aGjSY6t9TuoIG2GipDW"
    "CBUGNiW9z/FzTc5tgllBzWJULhskQHBR6EfljCUHiaur81TRudnKIHv58aJ5elPd1X4PmK"
    "gsAHzTCii2gPVqBYxq3XetZ2o9LbnR+qpoPecay1jPIgycz9B6WnJzV2l1lLy5q7S5q7Ra"
    "oK/DXaU/eKeS02FU5O1JzcV/Q4apfcVrjyubF0En0OashxyFFWFqXyCYB1VhyygNbutKoc"
    "elbiVv6Yo8lcjEDMEMvkPG65Bzn/0Fvcf/tym2Qv3H3ZlqFbsTahW7O1NbkKbvCV6qPZZI"
    "LPEnBZXXhvhIEpVbJ59UI7Dya+SbmsCMNQEJzimniTcJ8lhkg/nzMIf8xHveUSEtuTkgrs"
    "rZYVMWeItaLyoLlLgXusg8Gw5EJ31iDio5yXY8NjHjhuzVMGO2qXk3TIo0O7rHtk9E1K1X"
    "113hHyriqyuojwUShDBUZeQ+7Nwrtpy+/9xmfUGerYAod+JPJNYu117C7859D8yw1MlmRG"
    "QNqyvz/0HtwLwvtZ0D9jWEdv63fTZdn3UL9HP4AcgiA32DeNTs54X5cGRikMcJz8r87K/w"
    "7JkbUnMOnqHGVjeiBgfP+u7+0f7x3uF+fN6MKZOOmdGRsjiCQvYjwt/GzOriR0TW0M3XDw"
    "5mucx0cFB8mUmNZa64gFGVQDhkX0N0F1IMhCdKwnKC6B+3V5dFl/JikWz0pKZEP9CMl8RW"
    "De0J4CowUiEywrR60fg7C/fJ+VUzG/vUBM283tsyg9nTfwoByPY="
)
