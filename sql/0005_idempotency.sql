-- 0005: Idempotency-Key on POST /v1/businesses (issue 9; IETF draft
-- "The Idempotency-Key HTTP Header Field"). A retried create answers the
-- first response and creates nothing new.
--
-- proximityd inserts the key row in the same transaction as the business,
-- so a concurrent retry with the same key waits on the primary key and then
-- finds the committed row (or, if the first attempt rolled back, creates).
-- The row is scoped to the principal (the token's sub) so one client cannot
-- read another's response by guessing a key. Rows live until expires_at
-- (PROXIMITY_IDEMPOTENCY_TTL); proximityd deletes expired rows as it goes.
-- Not in the businesses publication: nothing downstream needs it.
CREATE TABLE idempotency_keys (
    principal   text        NOT NULL,
    key         text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint text        NOT NULL,            -- sha256 of method, path and body
    status      smallint    NOT NULL DEFAULT 0,  -- 0 until the response is stored
    headers     jsonb       NOT NULL DEFAULT '{}',
    body        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
