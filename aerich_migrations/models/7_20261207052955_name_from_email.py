from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "customer" ADD "name_from_email" BOOL;
        -- Older rows are not known here: their emails are ciphertext, so SQL cannot
        -- compare a name with its email's local part.  They stay NULL (masked for
        -- read_masked keys, left out of their search) until the backfill of
        -- `finora migrate` (app.jobs.reindex, rows with a NULL flag) decides each
        -- one; an erased row's name is "Erased customer" and shows nothing.
        UPDATE "customer" SET "name_from_email" = false WHERE "erased_at" IS NOT NULL;
        COMMENT ON COLUMN customer."name_from_email" IS 'Whether the name is the email''s local part (find-or-create''s default name):';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "customer" DROP COLUMN "name_from_email";"""


MODELS_STATE = (
    "eJztXVlz2zgS/isovUSukl22fCSbPMmOs9EksV2OZzM78RQFkZDEFQUoBGRbNZP/vg3wpk"
    "DqMKVINF9iG+wGwa8b6AMN5O/aiFnE4Qetsf2JTGtv0d81ikcEfkk9aaAaHo+jdtkgcNdR"
    "pHhsG0OfqMuFi00BzT3scAJNFuGma4+FzagkblHUumkjoG8gLphLLMSoM0WYI4y+fmztN0"
    "/PkGX3CReoLgZEUiJbcOL0kM2Ri6nFRnsH8mUWM+FtNu0X3O+E2j8mxBCsT4DQhd6//wXN"
    "NrXIE+HBn+Oh0bOJYyVQsy3ZgWo3xHSs2i4G2P2gKOWYu4bJnMmIRtTjqRgwGpLDJ8nWPq"
    "HExYJYMSjpxHF80IMmb6zQINwJCQdpRQ0W6eGJIwUiub0RRG01w7i6vjO+Xt4ZRm1GWAFH"
    "DGe/yWRUCtqmgqvvH+EnwyG0Lwbw58nhT+89EQ4elXzhf1q3Fx9bt/WTwz35Qgba4mnRlf"
    "+kqR79VF1ggb1OFOoRzGOX9OynZaCOOEoH93FzAbiPm5lwy0cS7gheb5osA2/EUTp4z04W"
    "gPfsJBNe+SgJLzcZgLMEuiFDMeAGDRG60VodQvno2oLUlkPYY0L/IJdgy/9hjDAfwmJcB/"
    "txwIn7YJuEH2AT/uUHX+WHaRbzZ/STK8ujswVkeXSWKUv5KClLE8YGyBtYM13ewxNhj4he"
    "qEnOlGQtn/Ug+GVdcl7nNJJiuwYb7E/fHOjv2l8uv961vtzI1404/+Eo/Fp3l/JJU7VOU6"
    "31tJjCTtC39t1HJP9Ef15fXSp4GRd9V70xorv7sybHhCeCGZQ9GtiKrTRBa4BaQuoueWDD"
    "laSe5CxA6v5wt0XoOyLkAJNcKXcn3KawvBjLeXUpts2t2Tvm4EknujfU+ncBhLOwfwDP3u"
    "5TiEkU+G0YJaamzjj6Acx5rKsdA/1noFlBazTdXfwYRh9phQMM4MuJUCjcwiy4bV/c1RTc"
    "XWwOH7FrGQnc5RPWZKmWkHb20ag5SrdgivsKIfkpcuBp+DWxZVw02dFlXBfmhpfZ2FZB3T"
    "bM+UZOUKd+LgF0QF/CBbZ5uAjaQJUJt3pWuaov01WdsazZa3+kHn4WT2Nzz33OD59uiYMV"
    "tpnmNsoX7pgKZBnb5BSacMFGxH0mSBd+N2WF6ZF0B4wNDUKtMVOcz4Lrm9fdpd9bmVBbp+"
    "sVapnG9YprYLbrZcap5mf2UUCPWA9hFDhuB+im3UaeNeFowBwLmfYYfDBBnoRK0muy+c/r"
    "q3L2Kmdvi5eDDTh78qfhsEdv8i6DcsS1zVjXOh052AM12PpepwOLwmg8gWEhm6IbNXKYQQ"
    "OCOHMFwtRCnGDXHPg7hAyeee5sYt0ppNd7ylwLVi752MScoB6sU/ACZDFEmUAWGYNlhNVK"
    "9SSnSBeoXnHkMBM7ZH4ae30a03PZyCAjbDsak82YQzDN0Zwkd0p9usC+NfnM2reBsgxKAn"
    "Lscg9Y/q5GH4gCjTFIud6Dd+8zd98Lg+Ch/xbFuPd2RokK7PueSoWRNs/bqm7ATySI43Dk"
    "74fIyAW6Z+rv6JVS93wKX0MFu6d8aI9lD8lNlNCrPeAD9sg9Ce4dIHT1++fPb5XKDiG8oG"
    "hKgNUFEtBwx1JfiD0l9hShgSZU2A7qwFeB1qGR3ZeS7iDmhm0uUZLswIeaNghFu2uTo93n"
    "19efE6HXefsupeW/fzm/vK0fKeUHItvLhLWv7lIan6Hnl9R0p2NQUL2mZ+r3VJBFsowbUn"
    "ApO68CglETdM+FJcZCdfUz8P72Gsixh/DwgbjTmGeltEeNZ9YzK7DfJYT+37vLlk56xgDz"
    "wTIWLsm1koXbkAA/fmldSOdXTWnmjrBjS6TVB8A8s/wFRr1VFbPUOYF5DxNbqS876DrwTL"
    "O5WmTHG945H4O0NG7jnBkbcm31jC1ii003T7BludqtlDmoxfheJG7Cpktj5vO8SLykp4zp"
    "1Fg2skvzbfGavE0BnufVGYINCdVM7pbr4mlGNVGaM4U4mINFcmwbMoOfyBSME8ANruQIeY"
    "OW1iv0cj27VY/ZJ49o753yXz2XdMYIFtPtPfW/tgH0Y+H7RJz1xL63BWst6eiAk/r9r7Sk"
    "BxBrriToFOMOyPloX4Hf3F9aLA103ERdiJLeZci6iK7vaSR7tAHRY9Nk8DKjix1Z5WAMWZ"
    "dpAnO736Yiw4pn9JDShTWm1Q/Xtcb25Qj2/9VsHh+/bh4en705PXn9+vTN4RugVcOdffQ6"
    "z6a1/y1DxMQKPBsz2tzAprAfNCYuNz+S4FstM7IS+kEOecP+QXFBerVrnT0DyrVrHZf6ZG"
    "ytKPUkZyX1bZG6puJyZt/YN5wrSD3JWZXVbo+QZ+e2lzJcQcgJxp2RsdwO8JPkfnr0FUdj"
    "4nJGsaN2f9Ajlnl/kDebzuZS/XiDyS2FR5uT2YTeOl5QYv2ryrqrsu4tWMt3uqw7WDwuH4"
    "gaf2aBkUfQWKTKyCAh7dxao2sKq90A0z6RW584qhZSR3vZRHTZE8Tt8hyZgMXR9tZH6JRy"
    "GYYxGmyAeJ3MrqlFv+Ce3tMrJvfC3iLb4g2PHHS6gRTkKg3hN0MHzKseUETSqiHU6XDyo9"
    "NBfYgh+T1Vo1BVBnW5FcsFdONyAYt5p2NbQOfvOY8nXcc24ZVhf52OX563L+kWLJf6ntZG"
    "GEwNaGbaQ2HGyDJrreTTmaUgL5vhM8xPXvjzaXvLrTaYvMguwqpq3QqzepWD8UugTi03C+"
    "85JdkqqBeAWqGzBMYBfQnBXcMxcuUlWMEqPQNzzi7PLOtq+zzbBnleyHn5h26vBLymZRQ0"
    "ZCihhhY//ZlpTlx3pbxNirWEOdldT4+sdGAMAjmIRVybFHO8573XXanOjq0zBP+NdWuawF"
    "s2N/LC7f/5BHNj7BuXSb3i3gkch9E+GsmPI1SmZhD0g+p+NW9D1Qm6TChR76lKeFsgE1ME"
    "PUxGmgC78N6fcebn1x5G2aJY6GihSqWjnEqlo8O5R3/AGPDlLHXEscELkGq7hnhsZdZWye"
    "YlVix9hWxVFrJgWYiAxUl3ZCYH8pClwnw1zLnA7mq7xUnOEvqjO1ojUFWGvESpZ1WGLBGU"
    "rNPP/kSmFwNiDmsaZzt8lutxg/dqmCHZXL8bOkWKHD1gZ0J4sJMkL+eAX2weHhlFA8wRJ4"
    "SiOpVnrUIyzamfwnp9hp8tgVguURtxlM7X3sAtuRMXpuFSkU2MpYRZseLztkPzYSl19shL"
    "CG3xZ/2qwt+yGfoCrqtap6FP5yE19l6Tqsw2+8EtSFaceqHKFlUIg3rMRUz+5d979BbJay"
    "PkPRLe+ROMmk9PDXm2vodth1gI94RvrR3MBcCtuVin+O41/sD3WljKE/TuVYGsegFPXhyt"
    "dQ+qkpAVS0IgNBYTTUI/53LykGODyTlfVTeUoyvcbcBCyENjGpyzD3LFWEqTMWoenbw+eX"
    "N8dhLqeNiSp9qzuSBKnoThQ7SCx6BhL6HbsCNuwkJF3NIEGVmLVeYkSnGtNI+27GRI0TPJ"
    "91ZWPYWT4N2ZMxovcgoFrtmSKZkUWwlj2eKLZ5Q7rMU5z7ONc23O5JfCxc05hBKGJs88gT"
    "JzwmHHhLHoMZS4FibOoFy0vl603l/WtItKAQCX99rfGYiTS6oe5V+aFAmFkJ0UictpflIk"
    "rieLXC0cFMe/4sjvArnEJNLdeCfvRkQcdEsmLzgxXSLk8RcS3NXkXUZ3027r7hkuruPq0u"
    "HtMLvZyY2Jq6nRyMbZJy+hh9M8XPRKqtw7qTSXUsk5MovxnGvTIrYVb07bNrTzfBbdVZbK"
    "xHp0M9jllP6n+F5m3T+h8kN0rnXefTwxruo2nuo2nmpTLi9TIG+KXq3QLs64M9kg70INjB"
    "6ZOySuv9slHUN1iXe4XaZ2woh8KB1GKlCfEe4dw0b1HrZd6VZqKnEK773EOarqRqCXkIms"
    "DkxXN7JswVxa+40s1dm5xbFf69m5FkBvDmqaZJb/pJGXw8IRzdb8f6QvpTzmmfuc2bkhmD"
    "7cn2qL2p8YSwltT/P0dJEU0elpdoZIPksVvsCkWgJhn7yE6K7l3B+8UWg3t377en2VEZZH"
    "LGkf2TYF+geVL4skwUh4xgGm9S+tP9JwX3y+Pk+7vLKDc51ftcktmp//B6m2dNE="
)
