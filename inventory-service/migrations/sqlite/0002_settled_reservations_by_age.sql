-- Settled reservations (released, or refused for stock) are pruned after a
-- retention period (store.rs, `prune_settled`). The partial index keeps that
-- a range scan over settled rows only: held reservations, the rows every
-- order creates, never enter it.
CREATE INDEX reservations_settled_by_age
    ON reservations (created_at_ms)
    WHERE state <> 'RESERVED';
