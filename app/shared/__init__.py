"""What every worker and host shares, in Redis (FINORA_REDIS_URL).

Without the setting, the limits live in each process (app.http.door.LocalDoor)
and nothing here runs.  With it:

link       the connection to Redis, its time bound, and what a failure does (fall back, count, log)
lua        the one script: token buckets and admission slots, many operations a call
courier    batches the operations of concurrent requests into one call
door       the shared door: key and shop buckets, business slots, unknown-key guard
documents  the persisted-query store
"""
