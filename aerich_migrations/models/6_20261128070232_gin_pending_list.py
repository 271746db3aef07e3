from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        -- Inserts append their tokens (about 95 a row) to a pending list, merged into the
        -- index in sorted batches when it outgrows 128 kB (by the insert that overflows
        -- it) or by VACUUM: a GIN entry written one at a time costs 3 to 4x more.  The
        -- list is kept small because every index scan reads all of it: a search meets
        -- at most 128 kB per index (README, "Speed" of the integrations section).
        ALTER INDEX "customer_search_tokens_gin" SET (fastupdate = on, gin_pending_list_limit = 128);
        ALTER INDEX "customer_short_tokens_gin" SET (fastupdate = on, gin_pending_list_limit = 128);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER INDEX "customer_search_tokens_gin" SET (fastupdate = off);
        ALTER INDEX "customer_short_tokens_gin" SET (fastupdate = off);
        ALTER INDEX "customer_search_tokens_gin" RESET (gin_pending_list_limit);
        ALTER INDEX "customer_short_tokens_gin" RESET (gin_pending_list_limit);
        -- Turning fastupdate off does not merge what is pending.
        SELECT gin_clean_pending_list('customer_search_tokens_gin');
        SELECT gin_clean_pending_list('customer_short_tokens_gin');"""


MODELS_STATE = (
    "eJztXW132rgS/is6fCk5h+Yk5KW97SeSprds2yQnyd7u3WaPEbYAX4xELZGEs9v/fkfyu5"
    "HNSwwFx19CkGbG8jOSZjQaib9rI2YRh++3xvZnMq29Q3/XKB4R+CdV00A1PB5H5bJA4K6j"
    "SPHYNoY+UZcLF5sCinvY4QSKLMJN1x4Lm1FJ3KKodd1GQN9AXDCXWIhRZ4owRxjdfmq9bp"
    "6cIsvuEy5QXQyIpES24MTpIZsjF1OLjfb25cMsZsLTbNovWO6E2j8mxBCsT4DQBenf/4Ji"
    "m1rkifDg63ho9GziWAnUbEsKUOWGmI5V2fkAux8VpWxz1zCZMxnRiHo8FQNGQ3J4JVnaJ5"
    "S4WBArBiWdOI4PelDktRUKhDshYSOtqMAiPTxxpEIkt9eCqKxmGJdXd8btxZ1h1GaUFXDE"
    "cPaLTEalom0quHr/EX4yHEL7YgBfjw9+es+JcPCo5AP/07o5/9S6qR8f7MkHMugtXi+69G"
    "uaquqnEoEF9oQo1COYxy7p2U/LQB1xlA7uo+YCcB81M+GWVRLuCF5vmCwDb8RROnhPjxeA"
    "9/Q4E15ZlYSXmwzAWQLdkKEYcIOCCN1org6hfHRtQWrLIewxoX+QS7DlfxgjzIcwGdfBfu"
    "xz4j7YJuH72IS/fP9WvphmMn+GnFxdHp4uoMvD00xdyqqkLk1oGyBvYM1w+QA1wh4RvVKT"
    "nCnNWj7rfvDPuvS8zmEk1XYFNtgfvjnQ37W/Xtzetb5ey8eNOP/hKPxadxeypqlKp6nSel"
    "pNoRD0rX33Ccmv6M+rywsFL+Oi76onRnR3f9Zkm/BEMIOyRwNbsZkmKA1QS2jdJQ9suJLW"
    "k5wFaN1v7rYofUeUHGCSq+XuhNsUphdjOa8uxba5OXvHHDzpRPeGWv8ugHAW9o/g2dt9Cm"
    "sSBX4bWompqTOO/gLmLCZqx0D/GfSsoDQa7i5+DFcf6Q4HGMCbE6FQuIFRcNM+v6spuLvY"
    "HD5i1zISuMsa1mSpkpB2tmrUHKVLMMV9hZB8FdnwNPyatWVcNdmry3hfmLu8zMa2WtRtw5"
    "hv5Czq1OcSQAf0JZxgmweLoA1UmXCruspVfZmu6oxlzZ77o+7hR/E0NvfM5/z4+YY4WGGb"
    "aW6jeOGOdYEsY5scQhMu2Ii4zwTp3BdTVpgeSXfA2NAg1BozxfksuL554i58aWVCbZ2uV9"
    "jLNK5XvAdmu15mnGp+ZB8F9Ij1EEaB47aPrttt5FkTjgbMsZBpj8EHE+RJqCC9Jpr/PFmV"
    "s1c5e1s8HWzA2ZOfhsMevcG7DMoR1zZjXet0ZGP3VWPre50OTAqj8QSahWyKrlXLYQQNCO"
    "LMFQhTC3GCXXPg7xAyqPPc2cS8U4jUe8pcC2YuWW1iTlAP5il4ALIYokwgi4zBMsJspSTJ"
    "IdIFqlccOczEDpkfxl5LjyEjbDuzneWCmu50DAjoe0zIleos3akgi8RcNhO+rF3+/uWLtx"
    "/MqEkQtIjLvQT1GdjCvQZy7CFUPhB3GrMzSo+qPbN2qkC5iwdSz/57d9HSac8YYD5YZrwn"
    "uVYa7xtS4KevrXPpCsgRA8NrhB1bIq1eAE2oHG6ySj1Vbe3XOSFI7hWp7sv2uw7Uabaaih"
    "S84X3EMWhLY0TnjNiQa6tHbBEbDrpxAgtnVxtYnoNajO9F4iZsujRmPs+LxEv6DZhOjWX9"
    "3DTfFs/J2+Tuel4YLPiGhGoGd8t18TQjtyLNmUIczMEiEYcNmcHPZArGCeDuu3iEvEZL6y"
    "VxUP6EZ7fqMfvkEe29R8pXmVDh+WsJI1iM2Hvqv20D6MfC94k464nX3oaUtaSj0768+/5X"
    "WtMD8LxXUnSKcQf0fPhagd98vbRaGuioibq24O8zdF2E6Hsa6R5tQPXYNBk8zOhiR+75Gk"
    "PWZZrIot1vU5FhxTMkpPrCGoOMB+uaY/uyBa//1WweHb1pHhydvj05fvPm5O3BW6BVzZ2t"
    "epNn09r/BhUkZ2BZkNSIzQ1sCvtBY+LOGHMIphlhszhf2j8AxnWhH0TUNuwfXF19SewWnb"
    "VTyF7+/vXs4qZ+qEweENkiA/BqDy97BJRrDy+u9cnYWlHrSc5K69uidU3+2cwumm84V9B6"
    "krNKMtweJc+ObS9kuIKSE4w7o+PatwHx4t7BBt8rjsbE5YxiR8XC0SPmCJiEy6azsVR/vc"
    "Hktt6jzclsQG8dDyhx/6uSXKsk1y2Yy3c6yTWYPC4eiGp/ZrqFR9BYJOfCICHt3MyLKwqz"
    "3QDTPoGVPMJR7oQ66MgmosueYN0uT9UImBxtb34EoZTLZRijwQaIJ2R2Ti36Aff0nl4yuR"
    "f2DtkWb3jk0KcbSEGuwhB+MQhg3l6qIpJWDaFOh5MfnQ7qwxqS31PVCrXnWmeOnNpBjMsF"
    "TOadjm0Bnc0V93jSdWwTHhnK63T8ZKXXkm7B5JHv6d4IjakBzUx5qMwYWWbmiaydmQryoh"
    "k+w/zghT+etjf5ZIPBi+yUlCrzpzCrVzkYvwTq1HSz8J5Tkq2CegGoFTpLYBzQlxDcNRyq"
    "VV6CFczSMzDn7PLMsq62z7NtkOctOS/+0O2VgNe0TAcNGUrYQ4sf/sw0J667UtwmxVrCmO"
    "yuh0dWOj4DCzlYi7g2KeawwwdPXKlO0qxzCf4b69Y0C29Z3Mhbbv/PJ5i7xr52mexX3DuP"
    "4DDaRyP5coTK0AwCOajuEgV5Q+UJukwoVe+pvGBbIBNTBBImI80Cu3DpzzgB8WtT87doLX"
    "S4UKbSYU6m0uHB3IMQYAz4cpY64tjgdTC1XUM8NjNrs2TzAiuWPkO2SgtZMC1EwOSkOUqQ"
    "B3nIUmG+GuZcYHe13eIkZwn90R3NEagyQ16i1rMyQ5ZYlKzTz/5MpucDYg5rGmc7rMv1uM"
    "F7NcyQbK7fDUKRIkcP2JkQHuwkyasK4B+bhwfo0ABzxAmhqE7lWauQTHPqpzCpz/CzJRDL"
    "BWojjtL52hu4M3TiwjBcamUTYylhVKz4uO3QfFiqO3vkJYS2+LN+VeJv2Qx9AZf3rNPQp+"
    "OQGnuvCVVmm/3gThgrTr1QZotKhEE95iImv/m3wLxD8hC9PFXvnT/BqPn01EBA1cO2QyyE"
    "e8K31g7mAuDWXDNSvHiNP/C9FqbyBNK9LJBVryPJW0dr3YMqJWTFlBBYGouJJqCfc1VzyL"
    "HB4JzfVTcUoyvcbcBCyENjGpyzD3LFWEoTMWoeHr85fnt0ehz28bAkr2vPxoIoeRKGD9EK"
    "HoOGvYRuw464CQslcUsTZGRNVpmDKMW10jjaspMhRY8k31tZ9RROgndnzmi8yCEUuGZLhm"
    "RSbCVcyxafPKPcYS3OeZ5tnGtzJr8ULm7OIZRwafLMEygzJxx2TBmLHkOJ98LEGZTz1u15"
    "68NFTTupFABweS9BnYE4OaXqUf6lQZFQCdlBkbie5gdF4v1kkYtWg+T4Vxz5IpBLTCLdjf"
    "fyR80Qh74lgxecmC4R8vgLCe5q8i6ju263dbeuFie4uoJ1O8xudnBj4mpyNLJx9slL6OE0"
    "Dxa9kir3TirNpVRyjMxiPOfatIhtxZvTtg3tPJ9Fd5WlMrEe3Qx2Oan/Kb6XmfdPqHwRnW"
    "uddx9PjKu6jae6jafalMuLFMgfH1wt0S7OuDPRIO9CDYwemTskrr/bJR1DufcVbZepnTAi"
    "K6XDSAXqM8K9Y9io3sO2K91KTSZO4dJLHKOqbgR6CZHI6sB0dSPLFoyltd/IUp2dWxz7tZ"
    "6dawH05qCmCWb5NY28GBaOaLbm1xlfSnrMM/c5s2NDMHy4P9QWtT8xlhLanubJySIhopOT"
    "7AiRrEslvsCgWgJhn7yE6K7l3B88UWg3t367vbrMWJZHLGkf2TYF+geVL4okwUh4xgGm9a"
    "+tP9Jwn3+5Oku7vFLAmc6v2uQWzc//A5FwdoY="
)
