-- A replayed filing names its Location from the proposal in the stored
-- body, as the first answer did; the stored copy of the header goes.
ALTER TABLE idempotency_keys DROP COLUMN response_location;
