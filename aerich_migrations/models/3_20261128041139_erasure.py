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
    "eJztXOtz2jgQ/1c0fDkykzIJefXuPpFceqVtHpPQ610f4whbgA5bciU5KdP2f7+V/MLGJj"
    "gBjhC+lLDaleXfah/aFf1e87hDXNlo+fQtGdV+Q99rDHsE/siNbKMa9v2UrgkKd13Din1q"
    "DSOmrlQC2wrIPexKAiSHSFtQX1HONHOLodZlGwH/NpKKC+IgztwRwhJhdP269aJ5cIgc2i"
    "dSoboaEM2JqJLE7SEqkcDM4d5WQz/M4TY8jbL+nOcNGP0aEEvxPgFGAbN/+gJkyhzyjcj4"
    "qz+0epS4TgY16ugJDN1SI9/QTgZYvDKces1dy+Zu4LGU2x+pAWcJO7ySpvYJIwIr4oxByQ"
    "LXjUCPSeFagaBEQJJFOinBIT0cuFohWjpcQUqrWdb5Rce6Pu1YVm1CWbHEGM4RyeZMK5oy"
    "Jc37e/ib5RLWVwP4ur/zM3xOikPIpR/4V+vq5HXrqr6/s6UfyGG3hLvoPBppmqGfZgqscD"
    "iJQT2F2RekR79VgTqVWDu495ozwL3XLIVbD2m4U3hDM6kCbyqxdvAe7s8A7+F+Kbx6KAuv"
    "tDmAUwHdRGA+4MaEFN3UVydQ3gmqSK0awqEQ+oEEwU70YXlYDsEZ1yF+NCQRt9QmsoFt+F"
    "c2rvWLFTjzR8wzVZe7hzPocvewVJd6KKtLG9YGyFu4wFz+gBFFPVKs1KxkTrNOJNqI/1iU"
    "nhdpRlptFxCDI/OdAn2nfXZ63WmdXerHeVJ+dQ1+rc6pHmka6ihHrefVlEyCPrQ7r5H+ij"
    "5enJ8aeLlUfWGemPJ1Ptb0mnCguMX4nYWdMU8TU2PUMloX5JYPH6T1rOQctB4td1WU/kSU"
    "HGMyVcvdQFIG7sWqltXlxJbns59YgqeT6N6wML+LIZyE/RVk9rTP4ExiwG/DKjGzi4JjdI"
    "A5HpvqiYH+M95ZMTU1d4HvktNHfsMBBvDmRBkUrsAKrtonnZqBu4vt4R0WjpXBXY/wJs9R"
    "Et7JIa/p5SmY4b5BSL+KXnge/oKz5bhqyk+X43vh3uNlObabQ90q2Pz2lEOd+awAdMy/hg"
    "62uTML2sBVCrcZ26SqzzNVnYis5b4/3R5RFa8g5h5Hkq/eXhEXG2xLw21aL3xiW6As2GZN"
    "KJCKe0Q8EqSTaJp1gmmRSUSCV0ESMY5leRJhj3PdX6NGMT/iPYRRnII00GW7jUK/KNGAuw"
    "6yqQ/ZhCLflCk3F9SlHzfXJm3ZpC0r7A6WkLboT8vld6HxVkE5lVplrGs3N3qxDbPY+tbN"
    "DTgFzw9gWYgydGlWDhY0IEhyoRBmDpIEC3sQ9bo4jIWJWcbvzGXWz4wLBzyXHraxJKgHfg"
    "oegByOGFfIIT5hutFmZtIm0gWuXyRyuY1dcn9BdiE7hniYupOb5ZTZYuQDAsU7JpHKbZbu"
    "SJFZqgfLKcTVzt+/exd2NjmzCYIVSV0VN59xLNzaRi4dwuAtEaOxOGP0aNYzGafmOO/sJc"
    "HjfzqnrSLtWQMsB1XsPSv1IHtfkgJfn7VOdCqgLQbMy8Mu1UibF0AB0+amh8xTTZO6LglB"
    "uuthti9vdF0YK2iazHPiJXfEfNBWQRC9x2ITqZW22HmUzovsBI6AorBEeg9qY3LPEjdFWW"
    "XMIplniZfOGzAbWVXz3LzcCvvkVUp3wywMDnxDwgqMuyUEHpXcEshL5hCHcKBWBvLaWzKC"
    "4ARw9wX2ULhoHb00DiafCONWfSw+hUxbvyOTqwRMhflaJgjOZ9rPLHrbbeD3VZQTSd5TL8"
    "LWilMx0Wmfdz59yTtw2+bwNKuLXd3Csoa8ywvqSrTfZqrElZfMkFO8rtIs6LizsyhD6+sV"
    "vPi12dzbO2ru7B2+PNg/Ojp4ufMSeM1yJ4eOpjm29p+ggqwZakJWI1Ra2Fb0tsDPHXPuEs"
    "xKaifjcvkgAYKLQj8uqyw5SFxcvMsUv4/bOWTP358dn17Vd43fAyaqSgDftCTKLWC9WhLj"
    "Wg9854Faz0putL4qWi+4TjPRO4kC5wO0npXc3JlaHSVP2nZYN3qAkjOCT0bHtQ8DEhY/4y"
    "7PLxL5REjOsGsKougOSwRCSvDRZEEtSjq57u3cUUkmqzqLeMAa77/Nnb3Nnb0V8OVP+s7e"
    "G96tFXTaNXl7WpP934jh3v76peDa5mXYEXc56yNPY0WY3hcI5kF12DJag9umUi24Mlcqtk"
    "xniipkY4ZghsAr8Jhzn/0RPfj/tzm8Qn343ZlqZbtTamW7O/e24u0A4mKlNnEqscSf1tSe"
    "GuJjSXxhn2Zajcop7tFsalIz1qQUOKeCZvY0yBORDeYPwxzyE/Gwo2pWclOgWJWzw6Ys9R"
    "y1XlaWqnA/epF5NhyITgbEHtYKku1kbGrGDdmrZSds9+bdMCky7OgWuwGR8W0Rfe0b/qAy"
    "ucKFBlgiSQhDdaZv+yRsBfdO5jbrI/JsDUS1E38qsXa59hL+/4VAgBlWOtmMiaxhdWX+Py"
    "wf2reVtnPIvobQzv+22abruG6Bfg4/hFpkoG8RQe1BUZiPRqYGeZzyrMzPX0vPnoUhteDg"
    "GWlsdSNqePBs7u4f7b/cO9xPzpsJZdoxMz5SlkdQyH5k9BuxWV38mMgauvnmwcEsl+kODs"
    "ov0+mx3BUrMKoKCEfsa4juQoqB8ERFWEEQfXN9cV52KTQRyUdPaiv0A814SXHV0J4CrgYj"
    "EyJjTOtnrb/zcJ+8uzjOxz49wXFR722Zweznf+YbyOQ="
)
