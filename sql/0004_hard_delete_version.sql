-- 0004: hard DELETEs (purging tombstones, an admin's cleanup) in the change
-- stream.
--
-- With the default replica identity a DELETE carries only the key, and a
-- consumer re-synchronising after a reconnect cannot tell which version it
-- removes. REPLICA IDENTITY FULL sends the whole old row, version included
-- (and gives Debezium-style consumers a complete "before"); consumers then
-- remove the id as of that version + 1. Drawing a version on every delete
-- keeps that number below any version the same id can get later, so a
-- re-insert always comes out newer.
ALTER TABLE businesses REPLICA IDENTITY FULL;

CREATE FUNCTION businesses_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('business_version_seq');
    RETURN OLD;
END $$;

CREATE TRIGGER businesses_deleted AFTER DELETE ON businesses
    FOR EACH ROW EXECUTE FUNCTION businesses_deleted();
