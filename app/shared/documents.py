"""The persisted-query documents every process knows: a document learned by one is
found by the others (schema.persisted keeps its own copies in front of this).

Each business has its own documents (``apq:<business>:<hash>``) and its own
index of them by last use (``apqi:<business>``): a business keeps at most
MAX_ENTRIES, the least recently stored going first, so that what one business
sends never evicts another's, and the store is bounded by businesses x
MAX_ENTRIES x the largest document.  Unused documents expire after KEEP_S.
"""

from __future__ import annotations

from app.shared.link import Link, Unavailable, fell_back

MAX_ENTRIES = 1000
KEEP_S = 7 * 86400

#: KEYS: the document, the business's index; ARGV: the hash, the document, the
#: most entries, the seconds kept.
_PUT = r"""
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], t[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if extra > 0 then
  local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1])
  local popped = redis.call('ZPOPMIN', KEYS[2], extra)  -- member, score, member, ...
  for j = 1, #popped, 2 do
    redis.call('DEL', prefix .. popped[j])
  end
end
return 1
"""


class SharedDocuments:
    def __init__(self, link: Link, *, max_entries: int = MAX_ENTRIES) -> None:
        self.link = link
        self.max_entries = max_entries
        self._put = link.client.register_script(_PUT)

    def _key(self, business_id: str, digest: str) -> str:
        return f"{self.link.prefix}apq:{business_id}:{digest}"

    async def get(self, business_id: str, digest: str) -> str | None:
        """The business's document of that hash; None when unknown or Redis is away."""
        try:
            key = self._key(business_id, digest)
            value = await self.link.call(lambda: self.link.client.get(key))
        except Unavailable:
            fell_back("documents")
            return None
        return value.decode() if value is not None else None

    async def put(self, business_id: str, digest: str, query: str) -> None:
        keys = [self._key(business_id, digest), f"{self.link.prefix}apqi:{business_id}"]
        args = [digest, query, self.max_entries, KEEP_S]
        try:
            await self.link.call(lambda: self._put(keys=keys, args=args))
        except Unavailable:
            fell_back("documents")
